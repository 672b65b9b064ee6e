"""JaxMARL adapters, both ways (``pip install "jaxmarl-lite[jaxmarl]"``).

``to_jaxmarl(env)`` puts one of our envs behind JaxMARL's dict API, so JaxMARL's wrappers
and baselines run on it; ``from_jaxmarl(env)`` turns a JaxMARL env into one of ours, so
our algorithms, wrappers and checks run on it. jaxmarl is imported only when an adapter
is built.

``to_jaxmarl``: per-agent dicts keyed by ``env.agents``, observations and spaces at each
agent's true (unpadded) size. ``step`` is JaxMARL's own ``MultiAgentEnv.step`` (split the
key, ``step_env``, ``reset``, select on ``dones["__all__"]``), which splits keys exactly
as our ``step`` does, so both give the same transitions for the same keys. ``dones[a]`` is
``terminated | truncated``; ``infos["terminated"]``/``infos["truncated"]`` keep the
difference (``[num_agents]``). The centralised state is ``get_world_state(state)``, and
with ``world_state=True`` also ``obs["world_state"]``, where SMAX puts it and where
JaxMARL's MAPPO/QMIX baselines read it. ``get_avail_actions`` comes from ``action_mask``.

``from_jaxmarl``: agents stacked in ``env.agents`` order, observations flattened and
zero-padded (``obs_sizes`` has the true sizes), discrete actions padded with the padded
ones masked out (``action_mask`` from ``get_avail_actions`` when the env has one, else
just the padding), continuous ``Box`` actions padded (padded entries ignored). Other
action spaces (MultiDiscrete, Dict, mixed kinds) raise ``TypeError``.

* Time limit. JaxMARL only gives ``dones``. The adapter keeps its own step counter and
  ends every episode at ``max_episode_steps`` (the argument, else the env's
  ``max_episode_steps``/``max_steps``/``max_cycles``) with ``truncated``; any earlier
  ``dones["__all__"]`` is ``terminated``. A natural end on the very last step is reported
  as truncated. JaxMARL's MPE and SMAX compare their counter before incrementing it and
  end by themselves one step after ``max_steps``; through the adapter their episodes last
  ``max_steps`` (as in PettingZoo). Give ``max_episode_steps`` no larger than the env's
  own limit, or that limit counts as termination.
* Episodes end jointly, as our contract requires: ``terminated``/``truncated`` are the
  episode's flags for every agent; JaxMARL's per-agent ``dones`` (e.g. SMAX unit deaths)
  are in ``info["agent_dones"]``. Info entries keyed by agent are stacked to ``[N]``.
* ``global_state``: ``obs["world_state"]`` when the env emits one (SMAX), else the env's
  ``get_world_state(state)``, else every agent's flattened observation concatenated.
* Hashing: the adapter holds the JaxMARL env (a plain object) as a static field and is
  hashed and compared by identity, so build it once and reuse it; each new adapter is a
  new static argument to ``jax.jit`` and compiles again.
* Pass a bare JaxMARL env, not a JaxMARL wrapper (``LogWrapper`` etc.): those auto-reset
  inside ``step`` and have no ``step_env`` of their own; ours do the same job.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxmarl_lite.env import MultiAgentEnv
from jaxmarl_lite.interop import require
from jaxmarl_lite.spaces import Box, Discrete
from jaxmarl_lite.typecheck import require_int

_HORIZON_ATTRS = ("max_episode_steps", "max_steps", "max_cycles")


def _jaxmarl_base():
    return require("jaxmarl.environments.multi_agent_env", "jaxmarl").MultiAgentEnv


def _bounds(space) -> Tuple[float, float]:
    low, high = getattr(space, "low", -np.inf), getattr(space, "high", np.inf)
    return float(np.min(np.asarray(low, np.float64))), float(np.max(np.asarray(high, np.float64)))


# ----------------------------------------------------------------- ours -> JaxMARL
def to_jaxmarl(env: MultiAgentEnv, world_state: bool = False):
    """``env`` as a ``jaxmarl.environments.MultiAgentEnv`` (see the module docstring);
    ``world_state=True`` adds ``obs["world_state"]`` (our ``global_state``, SMAX-style)."""
    if not isinstance(env, MultiAgentEnv):
        raise TypeError(f"to_jaxmarl expects a jaxmarl_lite MultiAgentEnv, got "
                        f"{type(env).__name__} (for a wrapped env pass env.unwrapped and use "
                        "JaxMARL's wrappers on the result)")
    return _to_jaxmarl_class()(env, world_state)


@functools.lru_cache(maxsize=None)
def _to_jaxmarl_class():
    base = _jaxmarl_base()
    jm_spaces = require("jaxmarl.environments.spaces", "jaxmarl")

    class ToJaxMARL(base):
        """One of our envs behind JaxMARL's dict API; ``self.env`` is the wrapped env."""

        def __init__(self, env, world_state=False):
            super().__init__(env.num_agents)
            self.env, self.world_state_in_obs = env, bool(world_state)
            self.agents = list(env.agents)
            low, high = env.observation_space.low, env.observation_space.high
            self.observation_spaces = {a: jm_spaces.Box(low, high, (size,)) for a, size
                                       in zip(self.agents, env.obs_sizes)}
            space = env.action_space
            self.action_spaces = {
                a: jm_spaces.Discrete(size) if env.is_discrete
                else jm_spaces.Box(space.low, space.high, (size,))
                for a, size in zip(self.agents, env.action_sizes)}
            try:
                self.max_steps = env.max_episode_steps
            except NotImplementedError:
                pass

        def __hash__(self):
            return hash((type(self), self.env, self.world_state_in_obs))

        def __eq__(self, other):
            return (type(other) is type(self) and other.env == self.env
                    and other.world_state_in_obs == self.world_state_in_obs)

        @property
        def name(self) -> str:
            return type(self.env).__name__

        @property
        def agent_classes(self) -> dict:
            return {"agents": list(self.agents)}

        def _obs_dict(self, obs, state):
            out = {a: obs[i, :size] for i, (a, size)
                   in enumerate(zip(self.agents, self.env.obs_sizes))}
            if self.world_state_in_obs:
                out["world_state"] = self.env.global_state(state)
            return out

        def reset(self, key):
            obs, state = self.env.reset(key)
            return self._obs_dict(obs, state), state

        def step_env(self, key, state, actions):
            env = self.env
            if env.is_discrete:
                acts = jnp.stack([jnp.asarray(actions[a]).reshape(()) for a in self.agents])
            else:
                acts = jnp.stack([jnp.pad(jnp.asarray(actions[a], jnp.float32).reshape(-1),
                                          (0, env.num_actions - size))
                                  for a, size in zip(self.agents, env.action_sizes)])
            obs, state, reward, term, trunc, info = env.step_env(key, state,
                                                                 env.check_actions(acts))
            done = term | trunc
            dones = {a: done[i] for i, a in enumerate(self.agents)}
            dones["__all__"] = jnp.all(done)
            info = {**info, "terminated": term, "truncated": trunc}
            rewards = {a: reward[i] for i, a in enumerate(self.agents)}
            return self._obs_dict(obs, state), state, rewards, dones, info

        def get_obs(self, state):
            if not hasattr(self.env, "get_obs"):
                raise NotImplementedError(f"{self.name} has no get_obs(state); step with "
                                          "reset_state=None")
            return self._obs_dict(self.env.get_obs(state), state)

        def get_avail_actions(self, state):
            mask = self.env.action_mask(state) > 0
            return {a: mask[i, :size] for i, (a, size)
                    in enumerate(zip(self.agents, self.env.action_sizes))}

        def get_world_state(self, state):
            return self.env.global_state(state)

    return ToJaxMARL


# ----------------------------------------------------------------- JaxMARL -> ours
@struct.dataclass
class FromJaxMARLState:
    env_state: Any  # the JaxMARL env's state
    step: jax.Array  # [] int32, steps taken in this episode
    world_state: jax.Array  # [state_dim] float32, what global_state returns


@dataclasses.dataclass(frozen=True, eq=False)
class FromJaxMARL(MultiAgentEnv):
    """A JaxMARL env under our contract (see the module docstring); built by
    :func:`from_jaxmarl`. Hashed and compared by identity."""

    env: Any
    horizon: int

    def __post_init__(self):
        require_int("from_jaxmarl", "max_episode_steps", self.horizon, 1)
        agents = tuple(self.env.agents)
        obs_spaces = [self.env.observation_space(a) for a in agents]
        act_spaces = [self.env.action_space(a) for a in agents]
        kinds = {type(s).__name__ for s in act_spaces}
        if kinds not in ({"Discrete"}, {"Box"}) or any(
                len(s.shape) != 1 for s in act_spaces if type(s).__name__ == "Box"):
            raise TypeError(f"from_jaxmarl supports Discrete or 1-D Box action spaces (one kind "
                            f"for all agents), got {sorted(kinds)} for {type(self.env).__name__}")
        discrete = kinds == {"Discrete"}
        obs_bounds = [_bounds(s) for s in obs_spaces]
        act_bounds = [(0.0, 0.0)] if discrete else [_bounds(s) for s in act_spaces]
        object.__setattr__(self, "_spec", dict(
            agents=agents, discrete=discrete,
            obs_shapes=tuple(tuple(s.shape) for s in obs_spaces),
            act_sizes=tuple(int(s.n) if discrete else int(s.shape[0]) for s in act_spaces),
            obs_box=(min(b[0] for b in obs_bounds), max(b[1] for b in obs_bounds)),
            act_box=(min(b[0] for b in act_bounds), max(b[1] for b in act_bounds))))

    # --------------------------------------------------------------- static facts
    @property
    def agents(self) -> Tuple[str, ...]:
        return self._spec["agents"]

    @property
    def num_agents(self) -> int:
        return len(self.agents)

    @property
    def obs_sizes(self) -> Tuple[int, ...]:
        return tuple(math.prod(shape) for shape in self._spec["obs_shapes"])

    @property
    def observation_space(self) -> Box:
        return Box(*self._spec["obs_box"], (max(self.obs_sizes),))

    @property
    def action_sizes(self) -> Tuple[int, ...]:
        return self._spec["act_sizes"]

    @property
    def action_space(self) -> Discrete | Box:
        n = max(self.action_sizes)
        return Discrete(n) if self._spec["discrete"] else Box(*self._spec["act_box"], (n,))

    @property
    def max_episode_steps(self) -> int:
        return self.horizon

    # ------------------------------------------------------------------ dynamics
    def _stack_obs(self, obs) -> jax.Array:
        dim = self.obs_dim
        return jnp.stack([jnp.pad(jnp.asarray(obs[a], jnp.float32).reshape(-1),
                                  (0, dim - size)) for a, size in zip(self.agents, self.obs_sizes)])

    def _world_state(self, obs, env_state) -> jax.Array:
        if "world_state" in obs:
            world = obs["world_state"]
        elif callable(getattr(self.env, "get_world_state", None)):
            world = self.env.get_world_state(env_state)
        else:
            world = jnp.concatenate([jnp.asarray(obs[a]).reshape(-1) for a in self.agents])
        return jnp.asarray(world, jnp.float32).reshape(-1)

    def reset_env(self, key):
        obs, env_state = self.env.reset(key)
        state = FromJaxMARLState(env_state, jnp.zeros((), jnp.int32),
                                 self._world_state(obs, env_state))
        return self._stack_obs(obs), state

    def step_env(self, key, state, actions):
        if self._spec["discrete"]:
            acts = {a: actions[i] for i, a in enumerate(self.agents)}
        else:
            acts = {a: actions[i, :size] for i, (a, size)
                    in enumerate(zip(self.agents, self.action_sizes))}
        obs, env_state, rewards, dones, infos = self.env.step_env(key, state.env_state, acts)
        t = state.step + 1
        truncated = t >= self.horizon
        terminated = jnp.asarray(dones["__all__"], bool) & ~truncated
        n = self.num_agents
        info = {k: self._stack_agents(v) for k, v in infos.items()}
        info["agent_dones"] = jnp.stack([jnp.asarray(dones[a], bool) for a in self.agents])
        reward = jnp.stack([jnp.asarray(rewards[a], jnp.float32) for a in self.agents])
        new_state = FromJaxMARLState(env_state, t, self._world_state(obs, env_state))
        return (self._stack_obs(obs), new_state, reward, jnp.full((n,), terminated),
                jnp.full((n,), truncated), info)

    def _stack_agents(self, value):
        if isinstance(value, dict) and set(value) >= set(self.agents):
            return jnp.stack([jnp.asarray(value[a]) for a in self.agents])
        return value

    def global_state(self, state: FromJaxMARLState) -> jax.Array:
        return state.world_state

    @functools.cached_property
    def _has_avail_actions(self) -> bool:
        """Whether the env implements ``get_avail_actions`` (checked once, by tracing)."""
        if not self._spec["discrete"]:
            return False
        _, env_state = jax.eval_shape(self.env.reset, jax.random.PRNGKey(0))
        try:
            avail = jax.eval_shape(self.env.get_avail_actions, env_state)
        except NotImplementedError:
            return False
        for a, size in zip(self.agents, self.action_sizes):
            if tuple(avail[a].shape) != (size,):
                raise ValueError(f"{type(self.env).__name__}.get_avail_actions gave shape "
                                 f"{tuple(avail[a].shape)} for {a}, expected ({size},)")
        return True

    def action_mask(self, state: FromJaxMARLState) -> jax.Array:
        if not self._has_avail_actions:
            return MultiAgentEnv.action_mask(self, state)
        avail = self.env.get_avail_actions(state.env_state)
        n = self.num_actions
        return jnp.stack([jnp.pad(jnp.asarray(avail[a]).astype(jnp.float32), (0, n - size))
                          for a, size in zip(self.agents, self.action_sizes)])


def from_jaxmarl(env: Any, max_episode_steps: Optional[int] = None) -> FromJaxMARL:
    """A JaxMARL env as one of ours (see the module docstring). ``max_episode_steps``
    defaults to the env's ``max_episode_steps``/``max_steps``/``max_cycles``."""
    base = _jaxmarl_base()
    if not isinstance(env, base):
        hint = (" (this looks like a JaxMARL wrapper: pass the bare env it wraps)"
                if hasattr(env, "_env") else "")
        raise TypeError(f"from_jaxmarl expects a jaxmarl.environments.MultiAgentEnv "
                        f"instance, got {type(env).__name__}{hint}")
    if getattr(type(env), "step_env", base.step_env) is base.step_env:
        raise TypeError(f"{type(env).__name__} does not implement step_env (the transition "
                        "without auto-reset), which from_jaxmarl needs")
    if max_episode_steps is None:
        for attr in _HORIZON_ATTRS:
            value = getattr(env, attr, None)
            if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
                max_episode_steps = int(value)
                break
        else:
            raise ValueError(f"from_jaxmarl: {type(env).__name__} has none of "
                             f"{', '.join(_HORIZON_ATTRS)}; pass max_episode_steps=")
    return FromJaxMARL(env, max_episode_steps)
