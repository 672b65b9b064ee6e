"""``jl.check_env``: every registered env passes; deliberately broken envs fail naming the
rule they break; the example in docs/custom_envs.md runs."""
from __future__ import annotations

import dataclasses
import functools
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

import jaxmarl_lite as jl
from jaxmarl_lite import registry

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", jl.registered_envs())
def test_registered_env_passes(name):
    jl.check_env(jl.make(name), num_envs=2)


# ------------------------------------------------------------------ a tiny toy env
@struct.dataclass
class ToyState:
    pos: jax.Array  # [2] int32 in 0..3
    t: jax.Array  # [] int32


class ToyLogic(jl.MultiAgentEnv):
    """Two agents walk on 4 cells (0 stay, 1 left, 2 right) until they meet or ``horizon``
    steps pass. Not a dataclass itself, so the broken variants may be any kind of class."""

    @property
    def observation_space(self):
        return jl.Box(0.0, 1.0, (3,))

    @property
    def action_space(self):
        return jl.Discrete(3)

    @property
    def max_episode_steps(self):
        return self.horizon

    def obs(self, s):
        pos = s.pos.astype(jnp.float32) / 3.0
        t = jnp.full((2,), s.t.astype(jnp.float32) / self.horizon)
        return jnp.stack([pos, pos[::-1], t], -1)

    def reset_env(self, key):
        pos = jax.random.choice(key, 4, (2,), replace=False).astype(jnp.int32)
        s = ToyState(pos, jnp.zeros((), jnp.int32))
        return self.obs(s), s

    def step_env(self, key, s, actions):
        move = jnp.array([0, -1, 1])[actions]
        s = ToyState(jnp.clip(s.pos + move, 0, 3), s.t + 1)
        met = s.pos[0] == s.pos[1]
        reward = jnp.full((2,), jnp.where(met, 1.0, -0.1), jnp.float32)
        trunc = jnp.full((2,), ~met & (s.t >= self.horizon))
        return self.obs(s), s, reward, jnp.full((2,), met), trunc, {}

    def global_state(self, s):
        return jnp.concatenate([s.pos.astype(jnp.float32), s.t.astype(jnp.float32)[None]])


@dataclasses.dataclass(frozen=True)
class Toy(ToyLogic):
    num_agents: int = 2
    horizon: int = 6


@dataclasses.dataclass(frozen=True)
class IntObs(Toy):
    def obs(self, s):
        return super().obs(s).astype(jnp.int32)


@dataclasses.dataclass(frozen=True)
class WideObs(Toy):
    def obs(self, s):
        return jnp.concatenate([super().obs(s), jnp.zeros((2, 1), jnp.float32)], -1)


@dataclasses.dataclass(frozen=True)
class TeamReward(Toy):  # one shared scalar instead of [num_agents]
    def step_env(self, key, s, actions):
        obs, s, reward, term, trunc, info = super().step_env(key, s, actions)
        return obs, s, reward.mean(), term, trunc, info


@dataclasses.dataclass(frozen=True)
class NoHorizon(Toy):
    @property
    def max_episode_steps(self):  # as if never defined: the base class's property
        return jl.MultiAgentEnv.max_episode_steps.fget(self)


@dataclasses.dataclass(frozen=True)
class HostRandomReset(Toy):  # numpy randomness: fixed inside one trace, not a function of key
    def reset_env(self, key):
        start = np.random.default_rng().choice(4, 2, replace=False)
        s = ToyState(jnp.asarray(start, jnp.int32), jnp.zeros((), jnp.int32))
        return self.obs(s), s


@dataclasses.dataclass(frozen=True)
class HostRandomStep(Toy):  # python randomness in step: baked into each trace as a constant
    def step_env(self, key, s, actions):
        noise = np.random.default_rng().normal(size=2).astype(np.float32) * 1e-3
        obs, s, reward, term, trunc, info = super().step_env(key, s, actions)
        return obs, s, reward + noise, term, trunc, info


@dataclasses.dataclass(frozen=True)
class NeverTruncates(Toy):  # forgets the time limit, and its agents are stuck (never meet)
    def step_env(self, key, s, actions):
        out = super().step_env(key, s, jnp.zeros_like(actions))
        return out[:4] + (jnp.zeros((2,), bool), out[5])


@dataclasses.dataclass(frozen=True)
class NothingLegal(Toy):
    def action_mask(self, s):
        return jnp.zeros((2, 3), jnp.float32)


@dataclasses.dataclass(frozen=True)
class NoAutoReset(Toy):  # overrides the public step and drops the auto-reset
    def step(self, key, state, actions):
        out = self.step_env(key, state, self.check_actions(actions))
        return out[:5] + ({"final_obs": out[0], "final_global_state": self.global_state(out[1])},)


@dataclasses.dataclass  # not frozen: unhashable, so not a valid static jit argument
class Mutable(ToyLogic):
    num_agents: int = 2
    horizon: int = 6


def test_toy_env_passes():
    jl.check_env(Toy(), num_envs=2)


BROKEN = [  # (env, the rule it breaks, words its failure line must hold)
    (IntObs(), "obs-dtype", "float32"),
    (WideObs(), "obs-shape", "(2, 3)"),
    (TeamReward(), "reward", "(2,)"),
    (NoHorizon(), "max_episode_steps", "NotImplementedError"),
    (HostRandomReset(), "determinism", "reset"),
    (HostRandomStep(), "determinism", "step_env"),
    (NeverTruncates(), "episode-length", "max_episode_steps=6"),
    (NothingLegal(), "action_mask", "no agent has a legal action"),
    (NoAutoReset(), "autoreset", "reset_env"),
    (Mutable(), "frozen-dataclass", "non-frozen"),
]


@pytest.mark.parametrize("env, rule, words", BROKEN, ids=[type(e).__name__ for e, *_ in BROKEN])
def test_broken_env_fails_naming_the_rule(env, rule, words):
    with pytest.raises(jl.ContractError) as info:
        jl.check_env(env, num_envs=2)
    err = info.value
    assert rule in err.rules, str(err)
    line = next(line for line in str(err).splitlines() if line.strip().startswith(f"[{rule}]"))
    assert words in line and "expected" in line, line


def test_all_broken_rules_are_reported_at_once():
    @dataclasses.dataclass(frozen=True)
    class TwoBugs(IntObs, TeamReward):
        pass

    with pytest.raises(jl.ContractError) as info:
        jl.check_env(TwoBugs(), num_envs=2)
    assert {"obs-dtype", "reward"} <= set(info.value.rules)
    assert isinstance(info.value, ValueError) and len(str(info.value).splitlines()) >= 3


# ------------------------------------------------------------ docs/custom_envs.md
SKIP_MARK = "<!-- not executed by tests/test_checks.py"


def doc_blocks():
    """The ```python blocks of docs/custom_envs.md, less those marked as not executed."""
    text = (ROOT / "docs" / "custom_envs.md").read_text()
    return [m.group(1) for m in re.finditer(r"```python\n(.*?)```", text, re.S)
            if not text[:m.start()].rstrip().rsplit("\n", 1)[-1].startswith(SKIP_MARK)]


class _TraceOnlyJax:
    """``jax`` for the doc's training block: ``jax.jit(f)(x)`` traces ``f`` with
    ``jax.eval_shape`` instead of compiling it (training compiles for a minute on CPU)."""

    def __getattr__(self, name):
        return getattr(jax, name)

    @staticmethod
    def jit(fn, **kwargs):
        return functools.partial(jax.eval_shape, fn)


def test_custom_envs_doc_examples_run(monkeypatch, capsys):
    monkeypatch.setattr(registry, "_FACTORIES", dict(registry._FACTORIES))  # undo register
    blocks = doc_blocks()
    assert len(blocks) == 3 and "runs.train" not in "".join(blocks)
    env_block, test_block, train_block = blocks
    namespace: dict = {}
    exec(compile(env_block, "docs/custom_envs.md", "exec"), namespace)  # runs check_env
    assert "line_meet" in jl.registered_envs()
    assert capsys.readouterr().out.split() == ["3", "(2,", "3)"]
    exec(compile(test_block, "docs/custom_envs.md", "exec"), namespace)
    assert callable(namespace["test_line_meet_follows_the_contract"])
    namespace["jax"] = _TraceOnlyJax()
    exec(compile(train_block, "docs/custom_envs.md", "exec"), namespace)
    config, env = namespace["config"], namespace["env"]
    updates = config.total_timesteps // (config.num_envs * env.max_episode_steps)
    assert namespace["out"].metrics["eval_return"].shape == (2, updates)
