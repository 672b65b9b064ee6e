"""The seed grid worlds: ``grid_meet`` (agents must meet) and ``grid_goal`` (reach a goal).

Positions are ``(row, col)`` integers; row 0 is the top. Discrete actions, in the order
of the tutorial this project grew from: 0 right, 1 left, 2 down, 3 up, and 4 stay when
``allow_stay=True``. Moves into a wall leave the agent where it is. Every action is
always legal (``action_mask`` is all ones).

Observation of agent ``i`` (float32): its own position, then the other agents'
positions in index order (``grid_meet`` with ``observe_others=False``: its own only), each
divided by ``size - 1`` (so in ``[0, 1]``), then an agent id one-hot when ``agent_id=True``. ``global_state``: every agent's normalised position
followed by ``step / max_steps``.
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxmarl_lite.env import MultiAgentEnv
from jaxmarl_lite.spaces import Box, Discrete
from jaxmarl_lite.typecheck import check_field_types

MOVES = np.array([[0, 1], [0, -1], [1, 0], [-1, 0], [0, 0]], np.int32)  # R, L, D, U, stay
AGENT_COLOURS = np.array(
    [[230, 60, 60], [60, 110, 230], [240, 170, 30], [150, 70, 200], [40, 170, 170]], np.uint8
)


@struct.dataclass
class GridState:
    pos: jax.Array  # [num_agents, 2] int32 (row, col)
    arrived: jax.Array  # [num_agents] bool: reached the goal (grid_goal; unused by grid_meet)
    step: jax.Array  # [] int32, steps taken in this episode


def _as_cells(cells) -> Optional[Tuple[Tuple[int, int], ...]]:
    if cells is None:
        return None
    return tuple((int(r), int(c)) for r, c in cells)


@dataclasses.dataclass(frozen=True)
class _GridWorld(MultiAgentEnv):
    """Shared movement, observations, global state and rendering of the grid worlds."""

    @property
    def max_episode_steps(self) -> int:
        return self.max_steps

    def _validate_common(self, starts):
        if self.size < 2:
            raise ValueError(f"{self.name}: size must be >= 2, got {self.size}")
        if self.num_agents < 1:
            raise ValueError(f"{self.name}: num_agents must be >= 1, got {self.num_agents}")
        if self.max_steps < 1:
            raise ValueError(f"{self.name}: max_steps must be >= 1, got {self.max_steps}")
        if starts is not None:
            if len(starts) != self.num_agents:
                raise ValueError(
                    f"{self.name}: starts needs one (row, col) per agent "
                    f"({self.num_agents}), got {len(starts)}"
                )
            for cell in starts:
                self._check_cell(cell, "starts")

    def _check_cell(self, cell, what):
        if not all(0 <= v < self.size for v in cell):
            raise ValueError(
                f"{self.name}: {what} cell {cell} is outside the {self.size}x{self.size} grid"
            )

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def _observed_agents(self) -> int:
        """How many agents' positions one observation holds (its own first)."""
        return self.num_agents

    @property
    def observation_space(self) -> Box:
        dim = 2 * self._observed_agents + (self.num_agents if self.agent_id else 0)
        return Box(0.0, 1.0, (dim,))

    @property
    def action_space(self) -> Discrete:
        return Discrete(5 if self.allow_stay else 4)

    def _move(self, pos: jax.Array, actions: jax.Array) -> jax.Array:
        return jnp.clip(pos + jnp.asarray(MOVES)[actions], 0, self.size - 1)

    def get_obs(self, state: GridState) -> jax.Array:
        n = self.num_agents
        norm = state.pos.astype(jnp.float32) / (self.size - 1)
        order = np.array([[i] + [j for j in range(n) if j != i] for i in range(n)])
        seen = self._observed_agents
        obs = norm[order[:, :seen]].reshape(n, 2 * seen)
        if self.agent_id:
            obs = jnp.concatenate([obs, jnp.eye(n, dtype=jnp.float32)], axis=-1)
        return obs

    def global_state(self, state: GridState) -> jax.Array:
        norm = state.pos.astype(jnp.float32).reshape(-1) / (self.size - 1)
        t = (state.step.astype(jnp.float32) / self.max_steps)[None]
        return jnp.concatenate([norm, t])

    def _highlight_cells(self) -> Tuple[Tuple[int, int], ...]:
        return ()

    def render(self, state: GridState, cell: int = 32) -> np.ndarray:
        pos = np.asarray(state.pos)
        img = np.full((self.size * cell, self.size * cell, 3), 245, np.uint8)
        for r, c in self._highlight_cells():
            img[r * cell : (r + 1) * cell, c * cell : (c + 1) * cell] = (170, 225, 170)
        img[::cell, :] = 180
        img[:, ::cell] = 180
        pad = max(cell // 8, 1)
        for i, (r, c) in enumerate(pos):
            # agents sharing a cell are drawn as nested squares so all stay visible
            inset = pad + i * max(cell // (4 * self.num_agents), 1)
            y0, x0 = r * cell + inset, c * cell + inset
            y1, x1 = (r + 1) * cell - inset, (c + 1) * cell - inset
            if y1 > y0 and x1 > x0:
                img[y0:y1, x0:x1] = AGENT_COLOURS[i % len(AGENT_COLOURS)]
        return img


@dataclasses.dataclass(frozen=True)
class GridMeet(_GridWorld):
    """Agents start apart and must all stand on one cell.

    Every agent gets ``meet_reward`` (+10) when all agents share a cell (the episode
    terminates) and ``step_penalty`` (-1) on every other step; truncated after
    ``max_steps`` (20). With the defaults (5x5, opposite corners) the optimal return is
    7: both walk toward each other and meet after 4 moves (-1 -1 -1 +10).
    """

    num_agents: int = 2
    size: int = 5
    max_steps: int = 20
    starts: Optional[Tuple[Tuple[int, int], ...]] = None
    """Start cells, one per agent; default: the corners (0,0), (s-1,s-1), (0,s-1), (s-1,0)."""
    random_starts: bool = False
    """Sample distinct start cells uniformly at every reset instead."""
    allow_stay: bool = False
    agent_id: bool = False
    observe_others: bool = True
    """Each agent observes every agent's position; ``False``: only its own (where the others
    are must then be communicated: the task for learned communication)."""
    meet_reward: float = 10.0
    step_penalty: float = -1.0

    @property
    def _observed_agents(self) -> int:
        return self.num_agents if self.observe_others else 1

    def __post_init__(self):
        object.__setattr__(self, "starts", _as_cells(self.starts))
        check_field_types(self)
        if self.num_agents < 2:
            raise ValueError(f"GridMeet: num_agents must be >= 2, got {self.num_agents}")
        self._validate_common(self.starts)
        if self.starts is None and not self.random_starts and self.num_agents > 4:
            raise ValueError(
                "GridMeet: default starts are the 4 corners; give `starts` or "
                f"random_starts=True for num_agents={self.num_agents}"
            )
        if self.random_starts and self.num_agents > self.size * self.size:
            raise ValueError("GridMeet: more agents than cells for random_starts")

    def _start_cells(self) -> np.ndarray:
        if self.starts is not None:
            return np.array(self.starts, np.int32)
        s = self.size - 1
        return np.array([(0, 0), (s, s), (0, s), (s, 0)][: self.num_agents], np.int32)

    def reset_env(self, key):
        if self.random_starts:
            flat = jax.random.choice(
                key, self.size * self.size, (self.num_agents,), replace=False
            )
            pos = jnp.stack([flat // self.size, flat % self.size], axis=-1).astype(jnp.int32)
        else:
            pos = jnp.asarray(self._start_cells())
        state = GridState(
            pos=pos,
            arrived=jnp.zeros((self.num_agents,), bool),
            step=jnp.zeros((), jnp.int32),
        )
        return self.get_obs(state), state

    def step_env(self, key, state, actions):
        pos = self._move(state.pos, actions)
        met = jnp.all(pos == pos[0])
        t = state.step + 1
        state = GridState(pos=pos, arrived=jnp.broadcast_to(met, (self.num_agents,)), step=t)
        n = self.num_agents
        reward = jnp.full((n,), jnp.where(met, self.meet_reward, self.step_penalty), jnp.float32)
        terminated = jnp.full((n,), met)
        truncated = jnp.full((n,), (t >= self.max_steps) & ~met)
        return self.get_obs(state), state, reward, terminated, truncated, {}


@dataclasses.dataclass(frozen=True)
class GridGoal(_GridWorld):
    """Agents walk to a goal cell; each gets ``goal_reward`` (1) on the step it arrives.

    An agent that has arrived stays on the goal (its actions are ignored, reward 0).
    The episode terminates when all agents have arrived (``terminate_when="all"``) or
    the first one does (``"any"``); truncated after ``max_steps``.
    """

    num_agents: int = 2
    size: int = 4
    goal: Tuple[int, int] = (3, 3)
    max_steps: int = 20
    starts: Optional[Tuple[Tuple[int, int], ...]] = None
    """Start cells, one per agent; default: every agent at (0, 0)."""
    random_starts: bool = False
    """Sample start cells (any cell but the goal, overlaps allowed) at every reset."""
    terminate_when: str = "all"
    allow_stay: bool = False
    agent_id: bool = False
    goal_reward: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "starts", _as_cells(self.starts))
        check_field_types(self)
        object.__setattr__(self, "goal", tuple(int(v) for v in self.goal))
        self._validate_common(self.starts)
        self._check_cell(self.goal, "goal")
        if self.terminate_when not in ("all", "any"):
            raise ValueError(
                f"GridGoal: terminate_when must be 'all' or 'any', got {self.terminate_when!r}"
            )
        if self.starts is not None and self.goal in self.starts:
            raise ValueError(f"GridGoal: a start cell equals the goal {self.goal}")

    def _highlight_cells(self):
        return (self.goal,)

    def reset_env(self, key):
        n = self.num_agents
        if self.random_starts:
            goal_idx = self.goal[0] * self.size + self.goal[1]
            flat = jax.random.randint(key, (n,), 0, self.size * self.size - 1)
            flat = flat + (flat >= goal_idx)
            pos = jnp.stack([flat // self.size, flat % self.size], axis=-1).astype(jnp.int32)
        elif self.starts is not None:
            pos = jnp.asarray(np.array(self.starts, np.int32))
        else:
            pos = jnp.zeros((n, 2), jnp.int32)
        state = GridState(pos=pos, arrived=jnp.zeros((n,), bool), step=jnp.zeros((), jnp.int32))
        return self.get_obs(state), state

    def step_env(self, key, state, actions):
        moved = self._move(state.pos, actions)
        pos = jnp.where(state.arrived[:, None], state.pos, moved)
        at_goal = jnp.all(pos == jnp.asarray(self.goal), axis=-1)
        newly = at_goal & ~state.arrived
        arrived = state.arrived | at_goal
        t = state.step + 1
        state = GridState(pos=pos, arrived=arrived, step=t)
        n = self.num_agents
        finished = jnp.all(arrived) if self.terminate_when == "all" else jnp.any(arrived)
        reward = jnp.where(newly, self.goal_reward, 0.0).astype(jnp.float32)
        terminated = jnp.full((n,), finished)
        truncated = jnp.full((n,), (t >= self.max_steps) & ~finished)
        return self.get_obs(state), state, reward, terminated, truncated, {}
