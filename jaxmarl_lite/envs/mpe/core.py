"""The multi-agent particle world (MPE): one vectorised core shared by the nine tasks.

Semantics follow ``mpe2`` 1.1.1 (the PettingZoo MPE successor), checked transition by
transition in ``tests/envs/test_mpe_parity.py``:

* Entities are the agents followed by the landmarks (task files list landmark groups in
  mpe2's order). ``p_pos``/``p_vel`` are ``[num_entities, 2]``; landmarks never move.
* Actions. Discrete: a movable agent's action ``a`` moves by ``a % 5`` (0 none, 1 -x,
  2 +x, 3 -y, 4 +y) and, when it can speak, says symbol ``a // 5`` (``5 * dim_c``
  actions); an agent that cannot move only speaks (``dim_c`` actions). Continuous (in
  ``[0, 1]``): a movable agent uses ``[no-op, -x, +x, -y, +y]`` (force ``x = a2 - a1``,
  ``y = a4 - a3``) followed by its ``dim_c`` message entries. Forces are scaled by the
  agent's ``accel`` (5 unless the task says otherwise). Silent agents' ``c`` is zero.
* Physics, per step: pairwise soft contact forces between colliding entities
  (``100 * delta / dist * k * log(1 + exp(-(dist - r_a - r_b) / k))``, ``k = 1e-3``), then
  ``p_pos += p_vel * dt``, ``p_vel = p_vel * (1 - damping) + force * dt`` (mass 1), then
  the speed is capped at ``max_speed``. This is mpe2's order (position before damping).
* Rewards and observations are computed after the move, from the new state.

Randomness: resets draw their uniforms from a counter-based integer hash of the key
(``uniform_from_key``), which is much cheaper than ``jax.random.uniform`` and matters
because ``step`` computes a reset on every call for auto-reset. The same key always
gives the same reset.

``global_state`` is every agent's true (unpadded) observation concatenated in agent
order, which is exactly mpe2's ``state()``.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from PIL import Image, ImageDraw

from jaxmarl_lite.env import MultiAgentEnv
from jaxmarl_lite.spaces import Box, Discrete
from jaxmarl_lite.typecheck import check_field_types

DT = 0.1
DAMPING = 0.25
CONTACT_FORCE = 100.0
CONTACT_MARGIN = 1e-3


@struct.dataclass
class MPEState:
    p_pos: jax.Array  # [num_entities, 2] float32, agents first then landmarks
    p_vel: jax.Array  # [num_entities, 2] float32 (landmarks: zeros)
    c: jax.Array  # [num_agents, dim_c] float32, each agent's current utterance
    step: jax.Array  # [] int32, steps taken in this episode
    goal: jax.Array  # [num_goals] int32 landmark indices; meaning per task (may be empty)


@dataclasses.dataclass(frozen=True)
class World:
    """Static physical description of a task (tuples, so it is hashable)."""

    agent_size: Tuple[float, ...]
    landmark_size: Tuple[float, ...]
    dim_c: int = 0
    agent_collide: Tuple[bool, ...] = ()  # default: all True
    landmark_collide: Tuple[bool, ...] = ()  # default: all False
    movable: Tuple[bool, ...] = ()  # default: all True
    silent: Tuple[bool, ...] = ()  # default: all True
    accel: Tuple[float, ...] = ()  # default: all 5.0
    max_speed: Tuple[float, ...] = ()  # default: no cap (inf)
    landmark_range: Tuple[float, ...] = ()  # reset half-width per landmark; default 1.0
    num_goals: int = 0
    goal_choices: Tuple[int, ...] = ()  # each goal is uniform in range(goal_choices[g])

    def __post_init__(self):
        n, m = len(self.agent_size), len(self.landmark_size)
        defaults = dict(
            agent_collide=(True,) * n, landmark_collide=(False,) * m, movable=(True,) * n,
            silent=(True,) * n, accel=(5.0,) * n, max_speed=(float("inf"),) * n,
            landmark_range=(1.0,) * m,
        )
        for name, value in defaults.items():
            if not getattr(self, name):
                object.__setattr__(self, name, value)

    @property
    def num_agents(self) -> int:
        return len(self.agent_size)

    @property
    def num_entities(self) -> int:
        return len(self.agent_size) + len(self.landmark_size)

    def action_size(self, i: int, continuous: bool) -> int:
        talk = 0 if self.silent[i] else self.dim_c
        if continuous:
            return (5 if self.movable[i] else 0) + talk
        return (5 if self.movable[i] else 1) * max(talk, 1)


def uniform_from_key(key: jax.Array, shape: Tuple[int, ...]) -> jax.Array:
    """Uniform floats in ``[0, 1)`` from a counter-based hash of ``key`` (cheap, stateless)."""
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    words = key.reshape(-1).astype(jnp.uint32)
    k0, k1 = words[0], words[-1]
    size = int(np.prod(shape))
    ctr = jnp.arange(size, dtype=jnp.uint32)
    bits = _mix32(_mix32(ctr * jnp.uint32(0x9E3779B9) ^ k0) + k1)
    floats = jax.lax.bitcast_convert_type((bits >> 9) | jnp.uint32(0x3F800000), jnp.float32)
    return (floats - 1.0).reshape(shape)


def _mix32(x: jax.Array) -> jax.Array:
    """A 32-bit integer finaliser with good avalanche (xor-shift / multiply)."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def _take(x: jax.Array, index: np.ndarray) -> jax.Array:
    """``x[index]`` for a static index: a slice when contiguous, else a gather."""
    if len(index) and np.array_equal(index, np.arange(index[0], index[0] + len(index))):
        return x[index[0] : index[0] + len(index)]
    return x[index]


def offsets(p_pos: jax.Array, rows: slice, cols: slice) -> jax.Array:
    """``[k, m, 2]``: ``p_pos[cols]`` relative to each of ``p_pos[rows]`` (static slices)."""
    return p_pos[cols][None, :, :] - p_pos[rows][:, None, :]


def without_self(x: jax.Array) -> jax.Array:
    """``[n, n, ...] -> [n, n-1, ...]``: drop the diagonal, keeping index order (no gather)."""
    n = x.shape[0]
    rest = x.shape[2:]
    flat = x.reshape((n * n,) + rest)[1:].reshape((n - 1, n + 1) + rest)
    return flat[:, :n].reshape((n, n - 1) + rest)


def flat(x: jax.Array) -> jax.Array:
    """``[k, ...] -> [k, prod(...)]``."""
    return x.reshape(x.shape[0], -1)


def pick(table: jax.Array, index: jax.Array) -> jax.Array:
    """``table[index]`` for a small static-size ``table``: a chain of selects (exact, and
    cheaper than a gather on CPU). ``index`` ``[k]`` -> ``[k, *table.shape[1:]]``."""
    index = index.reshape(index.shape + (1,) * (table.ndim - 1))
    out = jnp.broadcast_to(table[0], index.shape[:1] + table.shape[1:])
    for row in range(1, table.shape[0]):
        out = jnp.where(index == row, table[row], out)
    return out


def _fold_last(op, x: jax.Array, empty) -> jax.Array:
    if x.shape[-1] == 0:
        return jnp.full(x.shape[:-1], empty, x.dtype)
    out = x[..., 0]
    for j in range(1, x.shape[-1]):  # unrolled over a small static axis
        out = op(out, x[..., j])
    return out


def sum_last(x: jax.Array) -> jax.Array:
    """Sum over the (small) last axis. Reductions over tiny minor axes are slow on XLA:CPU
    under ``vmap``, so these helpers unroll them into elementwise ops."""
    return _fold_last(jnp.add, x, 0)


def min_last(x: jax.Array) -> jax.Array:
    return _fold_last(jnp.minimum, x, jnp.inf)


def any_last(x: jax.Array) -> jax.Array:
    return _fold_last(jnp.logical_or, x, False)


def distance(a: jax.Array, b: jax.Array) -> jax.Array:
    """Euclidean distance over the last axis (of size 2), broadcasting ``a`` and ``b``."""
    dx, dy = a[..., 0] - b[..., 0], a[..., 1] - b[..., 1]  # components first: faster on CPU
    return jnp.sqrt(jnp.square(dx) + jnp.square(dy))


def bound_penalty(p: jax.Array) -> jax.Array:
    """mpe2's out-of-arena penalty per coordinate (0 inside 0.9, capped at 10), summed."""
    x = jnp.abs(p)
    pen = jnp.where(x < 0.9, 0.0, jnp.where(x < 1.0, (x - 0.9) * 10, jnp.minimum(jnp.exp(2 * x - 2), 10.0)))
    return pen[..., 0] + pen[..., 1]


@dataclasses.dataclass(frozen=True)
class MPEEnv(MultiAgentEnv):
    """Shared dynamics, action decoding, padding, global state and rendering.

    Task subclasses define ``world`` (a :class:`World`), ``agents`` (mpe2's names),
    ``observations(state)`` (a list of ``[k, d]`` blocks covering the agents in order;
    they are zero-padded to the largest ``d``), ``rewards(state)`` and ``colours(state)``.
    """

    max_cycles: int = 25
    """Episode length; ``truncated`` is set on step ``max_cycles``."""
    continuous_actions: bool = False
    """``Box(0, 1)`` actions instead of ``Discrete``."""

    @property
    def max_episode_steps(self) -> int:
        return self.max_cycles

    def __post_init__(self):
        check_field_types(self)
        if self.max_cycles < 1:
            raise ValueError(f"{type(self).__name__}: max_cycles must be >= 1, got {self.max_cycles}")
        self.validate()

    def validate(self) -> None:
        """Task-specific checks (raise ``ValueError``)."""

    # ------------------------------------------------------------ task interface
    @property
    def world(self) -> World:
        raise NotImplementedError

    def observations(self, state: MPEState) -> Sequence[jax.Array]:
        raise NotImplementedError

    def rewards(self, state: MPEState) -> jax.Array:
        raise NotImplementedError

    def colours(self, state: MPEState) -> np.ndarray:
        """``[num_entities, 3]`` RGB in ``[0, 1]`` for rendering (host side)."""
        raise NotImplementedError

    # -------------------------------------------------------------- static facts
    @property
    def num_agents(self) -> int:
        return self.world.num_agents

    @functools.cached_property
    def _block_shapes(self) -> Tuple[Tuple[int, int], ...]:
        state = jax.eval_shape(self._initial_state, jax.random.PRNGKey(0))
        return tuple(tuple(b.shape) for b in jax.eval_shape(self.observations, state))

    @property
    def obs_sizes(self) -> Tuple[int, ...]:
        return tuple(d for k, d in self._block_shapes for _ in range(k))

    @property
    def observation_space(self) -> Box:
        return Box(-float("inf"), float("inf"), (max(self.obs_sizes),))

    @property
    def action_sizes(self) -> Tuple[int, ...]:
        w = self.world
        return tuple(w.action_size(i, self.continuous_actions) for i in range(w.num_agents))

    @property
    def action_space(self) -> Discrete | Box:
        if self.continuous_actions:
            return Box(0.0, 1.0, (max(self.action_sizes),))
        return Discrete(max(self.action_sizes))

    # -------------------------------------------------------------------- reset
    def _initial_state(self, key: jax.Array) -> MPEState:
        w = self.world
        n, e = w.num_agents, w.num_entities
        u = uniform_from_key(key, (e * 2 + w.num_goals,))
        half = np.array((1.0,) * n + w.landmark_range, np.float32)[:, None]
        p_pos = (2.0 * u[: 2 * e].reshape(e, 2) - 1.0) * half
        choices = np.array(w.goal_choices, np.float32)
        goal = jnp.minimum(jnp.floor(u[2 * e :] * choices), choices - 1).astype(jnp.int32)
        return MPEState(
            p_pos=p_pos,
            p_vel=jnp.zeros((e, 2), jnp.float32),
            c=jnp.zeros((n, w.dim_c), jnp.float32),
            step=jnp.zeros((), jnp.int32),
            goal=goal,
        )

    def reset_env(self, key):
        state = self._initial_state(key)
        return self.get_obs(state), state

    # --------------------------------------------------------------------- step
    def decode_actions(self, actions: jax.Array, dtype=jnp.float32) -> Tuple[jax.Array, jax.Array]:
        """Per-agent force ``u`` ``[n, 2]`` and utterance ``c`` ``[n, dim_c]`` (in ``dtype``)."""
        w = self.world
        n = w.num_agents
        accel = np.array(w.accel)[:, None]
        speaks = ~np.array(w.silent)[:, None]
        if self.continuous_actions:
            u = jnp.stack([actions[:, 2] - actions[:, 1], actions[:, 4] - actions[:, 3]], -1).astype(dtype)
            start = np.where(np.array(w.movable), 5, 0)[:, None]
            cols = np.minimum(start + np.arange(w.dim_c)[None, :], actions.shape[1] - 1)
            c = actions[np.arange(n)[:, None], cols].astype(dtype)
        else:
            mdim = np.where(np.array(w.movable), 5, 1).astype(np.int32)
            move = (actions % mdim)[:, None]
            u = ((move == np.array([2, 4])).astype(dtype) - (move == np.array([1, 3])).astype(dtype))
            c = jax.nn.one_hot(actions // mdim, max(w.dim_c, 1), dtype=dtype)[:, : w.dim_c]
        u = u * accel
        c = jnp.where(speaks, c, 0.0)
        return u, c

    def contact_forces(self, p_pos: jax.Array) -> jax.Array:
        """``[num_agents, 2]`` summed soft-contact forces on each (colliding, movable) agent."""
        w = self.world
        n = w.num_agents
        colliders = np.flatnonzero(np.array(w.agent_collide + w.landmark_collide))
        rows = np.flatnonzero(np.array(w.agent_collide) & np.array(w.movable))
        if len(rows) == 0 or len(colliders) < 2:
            return jnp.zeros((n, 2), p_pos.dtype)
        sizes = np.array(w.agent_size + w.landmark_size)
        pair = rows[:, None] != colliders[None, :]  # static: no self-contact
        a, b = _take(p_pos, rows).T, _take(p_pos, colliders).T  # [2, rows], [2, colliders]
        delta = a[:, :, None] - b[:, None, :]  # [2, rows, colliders]
        dist = jnp.sqrt(jnp.square(delta[0]) + jnp.square(delta[1]))
        dist_min = sizes[rows][:, None] + sizes[colliders][None, :]
        k = CONTACT_MARGIN
        x = -(dist - dist_min) / k
        # softplus(x) = log(1 + e^x), to float64 round-off: x itself above 30, 0 below -40
        # (clipping keeps exp away from slow subnormals; log vectorises better than log1p)
        soft = jnp.log(1.0 + jnp.exp(jnp.clip(x, -40.0, 30.0)))
        penetration = jnp.where(x > 30.0, x, jnp.where(x < -40.0, 0.0, soft)) * k
        scale = jnp.where(pair, CONTACT_FORCE * penetration / jnp.where(pair, dist, 1.0), 0.0)
        force = sum_last(delta * scale[None]).T  # [rows, 2]
        if np.array_equal(rows, np.arange(n)):
            return force
        return jnp.zeros((n, 2), p_pos.dtype).at[rows].set(force)

    def integrate(self, state: MPEState, u: jax.Array) -> Tuple[jax.Array, jax.Array]:
        w = self.world
        n = w.num_agents
        force = u + self.contact_forces(state.p_pos)
        pos, vel = state.p_pos[:n], state.p_vel[:n]
        new_pos = pos + vel * DT
        new_vel = vel * (1 - DAMPING) + force / 1.0 * DT
        max_speed = np.array(w.max_speed)
        if np.isfinite(max_speed).any():
            speed = jnp.sqrt(jnp.square(new_vel[:, 0]) + jnp.square(new_vel[:, 1]))
            too_fast = speed > max_speed
            capped = new_vel / jnp.where(too_fast, speed, 1.0)[:, None] * max_speed[:, None]
            new_vel = jnp.where(too_fast[:, None], capped, new_vel)
        movable = np.array(w.movable)[:, None]
        if not movable.all():
            new_pos = jnp.where(movable, new_pos, pos)
            new_vel = jnp.where(movable, new_vel, vel)
        p_pos = jnp.concatenate([new_pos, state.p_pos[n:]], axis=0)
        p_vel = jnp.concatenate([new_vel, state.p_vel[n:]], axis=0)
        return p_pos, p_vel

    def step_env(self, key, state, actions):
        u, c = self.decode_actions(actions, state.p_pos.dtype)
        p_pos, p_vel = self.integrate(state, u)
        state = state.replace(p_pos=p_pos, p_vel=p_vel, c=c, step=state.step + 1)
        n = self.num_agents
        truncated = jnp.full((n,), state.step >= self.max_cycles)
        terminated = jnp.zeros((n,), bool)
        reward = self.rewards(state).astype(state.p_pos.dtype)
        return self.get_obs(state), state, reward, terminated, truncated, {}

    # -------------------------------------------------------- observations etc.
    def get_obs(self, state: MPEState) -> jax.Array:
        """``[num_agents, obs_dim]``: the task's blocks, zero-padded at the end."""
        blocks = self.observations(state)
        dim = max(b.shape[1] for b in blocks)
        dtype = state.p_pos.dtype
        padded = [jnp.pad(b.astype(dtype), ((0, 0), (0, dim - b.shape[1]))) for b in blocks]
        return jnp.concatenate(padded, axis=0)

    def global_state(self, state: MPEState) -> jax.Array:
        blocks = self.observations(state)
        return jnp.concatenate([b.astype(state.p_pos.dtype).reshape(-1) for b in blocks])

    def render(self, state: MPEState, size: int = 400) -> np.ndarray:
        """RGB frame: entities as outlined discs, landmarks under agents, y axis up."""
        pos = np.asarray(state.p_pos, np.float64)
        w = self.world
        radii = np.array(w.agent_size + w.landmark_size)
        colours = np.clip(np.asarray(self.colours(state)) * 200, 0, 255).astype(np.uint8)
        cam = max(float(np.max(np.abs(pos))), 1.0)
        scale = size / 2 * 0.9 / cam
        img = Image.new("RGB", (size, size), (255, 255, 255))
        draw = ImageDraw.Draw(img)
        n = w.num_agents
        for e in list(range(n, w.num_entities)) + list(range(n)):
            x, y = size / 2 + pos[e, 0] * scale, size / 2 - pos[e, 1] * scale
            r = max(radii[e] * scale, 1.0)
            draw.ellipse([x - r, y - r, x + r, y + r], fill=tuple(int(v) for v in colours[e]), outline=(0, 0, 0))
        return np.asarray(img, np.uint8)
