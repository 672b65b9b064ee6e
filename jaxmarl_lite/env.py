"""The functional multi-agent environment contract.

Every environment is a frozen (hashable) dataclass holding only static configuration;
all episode state lives in an immutable pytree and all randomness comes from explicit
keys (raw ``jax.random.PRNGKey`` or typed ``jax.random.key`` keys both work).

Arrays first, agents on the leading axis:

* ``reset(key) -> (obs, state)`` with ``obs`` ``[num_agents, obs_dim]`` float32.
* ``step(key, state, actions) -> (obs, state, reward, terminated, truncated, info)``;
  ``actions`` is ``[num_agents]`` int32 (discrete) or ``[num_agents, act_dim]`` float32
  (continuous); ``reward``, ``terminated`` and ``truncated`` are ``[num_agents]``.
  Episodes end jointly: an episode is over when every agent is terminated or truncated,
  and ``step`` then auto-resets inside the same call. ``obs``/``state`` returned are then
  those of the new episode; ``info["final_obs"]`` and ``info["final_global_state"]``
  always hold the observation and global state reached by the transition itself (before
  any reset), so truncated episodes can be bootstrapped correctly.
* ``global_state(state) -> [state_dim]`` and ``action_mask(state) -> [num_agents,
  num_actions]`` (1 = legal) give the centralised information for CTDE at every step.

Heterogeneous agents use one padded layout: observations are zero-padded at the end to
the largest per-agent size (``obs_sizes`` holds the true sizes); discrete actions are
padded to the largest action count with the padded actions masked out in
``action_mask`` (``action_sizes`` holds the true counts); continuous actions are padded
to the largest dimension and the padded entries are ignored.

Fast path and out-of-range actions: ``step`` checks shapes and dtypes at trace time
(raising ``ValueError``/``TypeError`` naming the expected shape) but cannot raise on
values inside ``jit``: out-of-range discrete actions are clipped to ``[0, num_actions-1]``
and continuous actions to the action box. Use :class:`jaxmarl_lite.wrappers.CheckedEnv`
to get an error instead.
"""
from __future__ import annotations

import functools
from typing import Any, Dict, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmarl_lite.spaces import Box, Discrete

Obs = jax.Array
Info = Dict[str, jax.Array]
StepOutput = Tuple[Obs, Any, jax.Array, jax.Array, jax.Array, Info]


class MultiAgentEnv:
    """Base class. Subclasses are ``@dataclasses.dataclass(frozen=True)`` and define
    ``num_agents``, ``observation_space``, ``action_space``, ``reset_env``, ``step_env``
    and ``global_state`` (and ``action_mask`` when some actions can be illegal)."""

    # ----------------------------------------------------------------- static facts
    num_agents: int

    @property
    def agents(self) -> Tuple[str, ...]:
        """Agent names, in the order of the leading array axis."""
        return tuple(f"agent_{i}" for i in range(self.num_agents))

    @property
    def observation_space(self) -> Box:
        """Per-agent (padded) observation space; ``obs`` is ``[num_agents, *shape]``."""
        raise NotImplementedError

    @property
    def action_space(self) -> Discrete | Box:
        """Per-agent (padded) action space."""
        raise NotImplementedError

    @property
    def is_discrete(self) -> bool:
        return isinstance(self.action_space, Discrete)

    @property
    def num_actions(self) -> int:
        """Discrete: number of (padded) actions. Continuous: (padded) action dimension."""
        space = self.action_space
        return space.n if isinstance(space, Discrete) else space.shape[0]

    @property
    def obs_dim(self) -> int:
        return self.observation_space.shape[0]

    @property
    def obs_sizes(self) -> Tuple[int, ...]:
        """True (unpadded) observation size of each agent."""
        return (self.obs_dim,) * self.num_agents

    @property
    def action_sizes(self) -> Tuple[int, ...]:
        """True (unpadded) action count (discrete) or dimension (continuous) per agent."""
        return (self.num_actions,) * self.num_agents

    @property
    def max_episode_steps(self) -> int:
        """Longest possible episode (the truncation horizon); evaluation rolls out this many
        steps to see every episode end."""
        raise NotImplementedError(f"{type(self).__name__} does not define max_episode_steps")

    @property
    def state_dim(self) -> int:
        """Length of ``global_state(state)``."""
        return _state_dim(self)

    # ------------------------------------------------------------- to be provided
    def reset_env(self, key: jax.Array) -> Tuple[Obs, Any]:
        raise NotImplementedError

    def step_env(self, key: jax.Array, state: Any, actions: jax.Array) -> StepOutput:
        """One transition without auto-reset (``info`` may be an empty dict)."""
        raise NotImplementedError

    def step_and_reset(self, key_step: jax.Array, key_reset: jax.Array, state: Any,
                       actions: jax.Array) -> Tuple[StepOutput, Tuple[Obs, Any]]:
        """``(step_env(key_step, state, actions), reset_env(key_reset))``: the two halves of
        an auto-resetting ``step`` (the reset is kept where the episode ended). Override
        only when both are cheaper together, e.g. an env whose reset costs real work and
        is needed only at an episode's end; the reset half must equal ``reset_env(key_reset)``
        wherever the step ends the episode (elsewhere only its layout counts)."""
        return self.step_env(key_step, state, actions), self.reset_env(key_reset)

    def global_state(self, state: Any) -> jax.Array:
        """Centralised state vector ``[state_dim]`` for critics and mixers."""
        raise NotImplementedError

    def action_mask(self, state: Any) -> jax.Array:
        """``[num_agents, num_actions]`` float32, 1 where an action is legal."""
        if not self.is_discrete:
            return jnp.ones((self.num_agents, self.num_actions), jnp.float32)
        sizes = jnp.asarray(self.action_sizes)[:, None]
        return (jnp.arange(self.num_actions)[None, :] < sizes).astype(jnp.float32)

    def render(self, state: Any) -> np.ndarray:
        """An RGB frame ``[H, W, 3]`` uint8 of one (unbatched, concrete) state."""
        raise NotImplementedError(f"{type(self).__name__} does not render")

    # ---------------------------------------------------------------- public API
    def reset(self, key: jax.Array) -> Tuple[Obs, Any]:
        """Start an episode: ``obs`` ``[num_agents, obs_dim]`` and the initial state."""
        return self.reset_env(check_key(key, f"{type(self).__name__}.reset"))

    def step(self, key: jax.Array, state: Any, actions: jax.Array) -> StepOutput:
        """One transition with auto-reset (see the module docstring)."""
        key = check_key(key, f"{type(self).__name__}.step")
        nonfinite = None
        if not self.is_discrete:
            raw = jnp.asarray(actions)
            nonfinite = (~jnp.isfinite(raw)).sum().astype(jnp.int32) if raw.dtype.kind == "f" \
                else None
        actions = self.check_actions(actions)
        key_step, key_reset = jax.random.split(key)
        # Checked before stepping, so a foreign state fails here with a clear message
        # rather than deep inside step_env (the layout costs nothing at run time).
        check_state(state, jax.eval_shape(self.reset_env, key_reset)[1],
                    f"{type(self).__name__}.step")
        (obs_step, state_step, reward, terminated, truncated, info), (obs_reset, state_reset) = \
            self.step_and_reset(key_step, key_reset, state, actions)
        done = jnp.all(terminated | truncated)
        state = jax.tree.map(lambda r, s: jnp.where(done, r, s), state_reset, state_step)
        obs = jnp.where(done, obs_reset, obs_step)
        info = dict(info)
        info["final_obs"] = obs_step
        info["final_global_state"] = self.global_state(state_step)
        if nonfinite is not None:
            info["nonfinite_actions"] = nonfinite
        return obs, state, reward, terminated, truncated, info

    def sample_actions(self, key: jax.Array, state: Any = None) -> jax.Array:
        """Uniformly random actions for all agents; legal ones only when ``state`` is given."""
        keys = jax.random.split(key, self.num_agents)
        space = self.action_space
        if isinstance(space, Discrete):
            if state is None:
                mask = self.action_mask_static()
            else:
                mask = self.action_mask(state)
            return jax.vmap(space.sample)(keys, mask)
        return jax.vmap(space.sample)(keys)

    def action_mask_static(self) -> jax.Array:
        """The mask of padded actions only (true action counts), independent of state."""
        return MultiAgentEnv.action_mask(self, None)

    # ------------------------------------------------------------------ checks
    def check_actions(self, actions: jax.Array) -> jax.Array:
        """Trace-time shape/dtype check; clips values into range (the fast path)."""
        actions = jnp.asarray(actions)
        space = self.action_space
        if isinstance(space, Discrete):
            self._expect_actions(actions, (self.num_agents,), jnp.integer, "discrete", "int")
            return jnp.clip(actions, 0, space.n - 1).astype(jnp.int32)
        expected = (self.num_agents,) + space.shape
        self._expect_actions(actions, expected, jnp.floating, "continuous", "float")
        # non-finite entries would poison the state: they act as 0 (CheckedEnv raises on
        # them; info["nonfinite_actions"] counts them on the fast path)
        actions = jnp.where(jnp.isfinite(actions), actions, 0.0)
        return jnp.clip(actions, space.low, space.high).astype(jnp.float32)

    def _expect_actions(self, actions, expected, dtype_kind, kind, dtype_name):
        where = f"{type(self).__name__}.step expected {kind} actions of shape {expected}"
        if actions.shape != expected:
            layout = "one int per agent" if kind == "discrete" else "[num_agents, act_dim]"
            raise ValueError(f"{where} ({layout}), got shape {actions.shape}")
        if not jnp.issubdtype(actions.dtype, dtype_kind):
            raise TypeError(f"{where} with {dtype_name} dtype, got dtype {actions.dtype}")


def check_key(key: Any, where: str) -> jax.Array:
    """``key`` if it is one PRNG key (typed ``jax.random.key(seed)``, shape ``()``, or raw
    ``jax.random.PRNGKey(seed)``, uint32 ``[2]``); else a ``TypeError``/``ValueError`` naming
    what was expected (a batch of keys goes through ``jax.vmap`` or ``VecEnv``)."""
    expected = "one PRNG key (jax.random.key(seed) or jax.random.PRNGKey(seed))"
    if not hasattr(key, "dtype") or not hasattr(key, "shape"):
        raise TypeError(f"{where} expects {expected}, got {type(key).__name__} {key!r}")
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ValueError(f"{where} expects {expected}, got a batch of keys of shape "
                             f"{key.shape}: vmap over them or use VecEnv")
        return key
    if key.dtype != jnp.uint32:
        raise TypeError(f"{where} expects {expected}, got a {key.dtype} array of shape "
                        f"{key.shape}")
    if key.shape != (2,):
        if key.ndim >= 2 and key.shape[-1] == 2:
            raise ValueError(f"{where} expects {expected}, got a batch of raw keys of shape "
                             f"{key.shape}: vmap over them or use VecEnv")
        raise ValueError(f"{where} expects {expected}: a raw key is uint32 of shape (2,), "
                         f"got shape {key.shape}")
    return key


def check_state(state: Any, reference: Any, where: str) -> None:
    """Trace-time check that ``state`` has the structure, shapes and dtypes of this env's
    states (``reference``, e.g. the state ``reset_env`` builds); raises naming the first
    difference. A state of another env of the same layout (the same class and shapes, e.g.
    another grid size) cannot be told apart here."""
    hint = "(a state from another env or configuration? step takes this env's reset/step states)"
    got, want = jax.tree.structure(state), jax.tree.structure(reference)
    if got != want:
        raise TypeError(f"{where} expects a {type(reference).__name__} of this env's "
                        f"layout, got a {type(state).__name__} of another layout {hint}")
    leaves = jax.tree_util.tree_flatten_with_path(reference)[0]
    for (path, ref), leaf in zip(leaves, jax.tree.leaves(state)):
        shape, dtype = jnp.shape(leaf), jnp.result_type(leaf)
        if shape != jnp.shape(ref) or dtype != jnp.result_type(ref):
            raise ValueError(f"{where}: state{jax.tree_util.keystr(path)} is {dtype}{list(shape)}, "
                             f"this env's states have {jnp.result_type(ref)}"
                             f"{list(jnp.shape(ref))} {hint}")


@functools.lru_cache(maxsize=None)
def _state_dim(env: MultiAgentEnv) -> int:
    _, state = jax.eval_shape(env.reset_env, jax.random.PRNGKey(0))
    return int(jax.eval_shape(env.global_state, state).shape[0])
