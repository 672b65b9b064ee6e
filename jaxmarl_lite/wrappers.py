"""Wrappers: episode statistics, vectorised copies and a checked (debug) mode.

A wrapper is itself a frozen, hashable dataclass around ``env``; static attributes
(``num_agents``, spaces, sizes, ...) are forwarded to the wrapped env, and methods that
take a state (``global_state``, ``action_mask``, ``render``) unwrap it.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax.experimental import checkify

from jaxmarl_lite.env import MultiAgentEnv
from jaxmarl_lite.parallel import data_parallel
from jaxmarl_lite.spaces import Discrete


@dataclasses.dataclass(frozen=True)
class Wrapper:
    """Forwards everything it does not define to ``env``."""

    env: Any

    def __getattr__(self, name: str) -> Any:
        if name == "env":  # not yet set (e.g. during unpickling)
            raise AttributeError(name)
        return getattr(self.env, name)

    @property
    def unwrapped(self) -> MultiAgentEnv:
        env = self.env
        while isinstance(env, Wrapper):
            env = env.env
        return env


# --------------------------------------------------------------------- statistics
@struct.dataclass
class EpisodeStatsState:
    env_state: Any
    episode_return: jax.Array  # [num_agents] running return of the current episode
    episode_length: jax.Array  # [] int32
    returned_episode_return: jax.Array  # [num_agents] return of the last finished episode
    returned_episode_length: jax.Array  # [] int32


@dataclasses.dataclass(frozen=True)
class EpisodeStats(Wrapper):
    """Tracks per-agent and team returns and episode lengths.

    ``info`` gains ``returned_episode`` (bool: an episode ended at this step),
    ``returned_episode_returns`` ``[num_agents]``, ``returned_team_return`` (the mean over
    agents, which equals the shared return in team-reward tasks) and
    ``returned_episode_lengths``; they hold the last finished episode's values, so
    average them where ``returned_episode`` is true.
    """

    def reset(self, key):
        obs, env_state = self.env.reset(key)
        n = self.env.num_agents
        zeros = jnp.zeros((n,), jnp.float32)
        zero = jnp.zeros((), jnp.int32)
        return obs, EpisodeStatsState(env_state, zeros, zero, zeros, zero)

    def step(self, key, state: EpisodeStatsState, actions):
        obs, env_state, reward, terminated, truncated, info = self.env.step(
            key, state.env_state, actions
        )
        done = jnp.all(terminated | truncated)
        ep_return = state.episode_return + reward.astype(jnp.float32)
        ep_length = state.episode_length + 1
        new_state = EpisodeStatsState(
            env_state=env_state,
            episode_return=jnp.where(done, 0.0, ep_return),
            episode_length=jnp.where(done, 0, ep_length),
            returned_episode_return=jnp.where(done, ep_return, state.returned_episode_return),
            returned_episode_length=jnp.where(done, ep_length, state.returned_episode_length),
        )
        info = dict(info)
        info["returned_episode"] = done
        info["returned_episode_returns"] = new_state.returned_episode_return
        info["returned_team_return"] = new_state.returned_episode_return.mean()
        info["returned_episode_lengths"] = new_state.returned_episode_length
        return obs, new_state, reward, terminated, truncated, info

    def global_state(self, state):
        return self.env.global_state(state.env_state)

    def action_mask(self, state):
        return self.env.action_mask(state.env_state)

    def render(self, state):
        return self.env.render(state.env_state)

    def sample_actions(self, key, state=None):
        return self.env.sample_actions(key, None if state is None else state.env_state)


# -------------------------------------------------------------------- vectorised
@dataclasses.dataclass(frozen=True)
class VecEnv(Wrapper):
    """``num_envs`` independent copies stepped as one batch (a leading ``num_envs`` axis).

    ``reset(key)`` splits ``key`` into one key per copy; ``step(key, state, actions)``
    takes ``actions`` ``[num_envs, num_agents(, act_dim)]``.
    """

    num_envs: int = 1

    def __post_init__(self):
        if (not isinstance(self.num_envs, (int, np.integer)) or isinstance(self.num_envs, bool)
                or self.num_envs < 1):
            raise ValueError(f"VecEnv needs an int num_envs >= 1, got {self.num_envs!r}")

    def reset(self, key):
        return data_parallel(jax.vmap(self.env.reset)(jax.random.split(key, self.num_envs)))

    def step(self, key, state, actions):
        actions = jnp.asarray(actions)
        if actions.shape[:1] != (self.num_envs,):
            raise ValueError(
                f"VecEnv.step expected actions with leading axis num_envs={self.num_envs}, "
                f"got shape {actions.shape}"
            )
        keys = jax.random.split(key, self.num_envs)
        return data_parallel(jax.vmap(self.env.step)(keys, state, actions))

    def global_state(self, state):
        return jax.vmap(self.env.global_state)(state)

    def action_mask(self, state):
        return jax.vmap(self.env.action_mask)(state)

    def sample_actions(self, key, state=None):
        keys = jax.random.split(key, self.num_envs)
        if state is None:
            return jax.vmap(lambda k: self.env.sample_actions(k))(keys)
        return jax.vmap(self.env.sample_actions)(keys, state)

    def render(self, state, index: int = 0):
        return self.env.render(jax.tree.map(lambda x: x[index], state))


# ---------------------------------------------------------------------- checked
@dataclasses.dataclass(frozen=True)
class CheckedEnv(Wrapper):
    """Debug mode: raises on out-of-range actions and non-finite observations/rewards.

    ``step`` runs a jitted, ``checkify``-functionalised step and raises
    ``checkify.JaxRuntimeError`` naming the problem; call it eagerly (it cannot be
    used inside your own ``jit``/``vmap``). ``step_with_error`` is the pure version
    returning ``(error, outputs)`` for use inside ``checkify.checkify`` yourself.
    Works around a single env or a :class:`VecEnv`.
    """

    def _checked_step(self, key, state, actions):
        actions = jnp.asarray(actions)
        space = self.env.action_space
        if isinstance(space, Discrete):
            checkify.check(
                jnp.all((actions >= 0) & (actions < space.n)),
                f"discrete actions must lie in [0, {space.n - 1}]; got min {{lo}} max {{hi}}",
                lo=actions.min(),
                hi=actions.max(),
            )
            # each agent's own range (heterogeneous agents) and the legal actions
            counts = tuple(int(s) for s in _unwrapped(self.env).action_sizes)
            sizes = jnp.asarray(counts)
            beyond = (actions >= sizes).reshape(-1, len(counts)).any(axis=0)
            checkify.check(jnp.all(actions < sizes),
                           "an agent's action is beyond its own action count: agent {agent} "
                           f"(counts per agent: {counts})".replace("(", "[").replace(")", "]"),
                           agent=jnp.argmax(beyond))
            mask = self.env.action_mask(state)
            legal = jnp.take_along_axis(mask, jnp.clip(actions, 0, space.n - 1)[..., None],
                                        axis=-1)[..., 0]
            checkify.check(jnp.all(legal > 0), "an action is illegal under action_mask(state)")
        else:
            checkify.check(jnp.all(jnp.isfinite(actions)), "continuous actions must be finite")
            checkify.check(
                jnp.all((actions >= space.low) & (actions <= space.high)),
                f"continuous actions must lie in [{space.low}, {space.high}]; "
                "got min {lo} max {hi}",
                lo=actions.min(),
                hi=actions.max(),
            )
        out = self.env.step(key, state, actions)
        obs, _, reward, _, _, info = out
        checkify.check(jnp.all(jnp.isfinite(obs)), "observation has non-finite values")
        checkify.check(
            jnp.all(jnp.isfinite(info["final_obs"])), "final observation has non-finite values"
        )
        checkify.check(jnp.all(jnp.isfinite(reward)), "reward has non-finite values")
        return out

    def step_with_error(self, key, state, actions):
        return checkify.checkify(self._checked_step)(key, state, actions)

    def step(self, key, state, actions):
        err, out = _jitted_checked_step(self, key, state, actions)
        err.throw()
        return out


def _unwrapped(env):
    """The env under any wrappers (``VecEnv``, ``EpisodeStats``...)."""
    while hasattr(env, "env"):
        env = env.env
    return env


@functools.partial(jax.jit, static_argnums=0)
def _jitted_checked_step(env: CheckedEnv, key, state, actions):
    return env.step_with_error(key, state, actions)
