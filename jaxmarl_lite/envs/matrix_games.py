"""Normal-form (matrix) games as environments: one-shot or repeated for ``num_steps`` rounds.

A game is a payoff tensor ``[num_agents, A_1, ..., A_n]``: ``payoffs[i, a_1, ..., a_n]`` is
agent ``i``'s reward when agent ``j`` plays action ``a_j``. Agent 0 is the *row* player of
the usual bimatrix notation, agent 1 the column player. Every round all agents act at once
and each gets its own payoff; after ``num_steps`` rounds the episode terminates (a repeated
game of known length is over, so this is termination, not a time-limit truncation).
``num_steps=1`` is the one-shot game.

Observation (the same for every agent, and the global state): the previous joint action as
one one-hot block per agent (``A_1 + ... + A_n`` entries, all zero in the first round),
followed by ``round / num_steps``. Agents with fewer actions than the largest ``A_i`` get
the padded actions masked out (``action_sizes``); such actions, if sent anyway, are clipped
to the agent's last action.

Built-in games (``GAMES``; action names in brackets):

* ``prisoners_dilemma`` [cooperate, defect]: R=3, S=0, T=5, P=1 (Axelrod). (D, D) is the
  only Nash equilibrium and is not Pareto-optimal.
* ``stag_hunt`` [stag, hare]: stag/stag 4, hare vs stag 3, hare/hare 2, stag vs hare 0.
  Two pure equilibria: (stag, stag) payoff-dominant, (hare, hare) risk-dominant.
* ``matching_pennies`` [heads, tails]: agent 0 wins 1 on a match, agent 1 on a mismatch.
* ``rock_paper_scissors`` [rock, paper, scissors]: zero-sum, win 1, loss -1, tie 0.
* ``chicken`` [swerve, straight]: both swerve 0, straight vs swerve 1 / -1, crash -10.
* ``climbing_game`` [a, b, c]: the common-payoff game of Claus & Boutilier (1998),
  ``[[11, -30, 0], [-30, 7, 6], [0, 0, 5]]``; the optimum 11 at (a, a) is surrounded by
  heavy miscoordination penalties.
* ``penalty_game`` [a, b, c]: common payoff ``[[k, 0, 10], [0, 2, 0], [10, 0, k]]`` with a
  miscoordination penalty ``k <= 0`` (``penalty_k``, default -10).

Custom games: ``MatrixGame(payoffs=...)`` with any nested sequence or array of finite
numbers shaped ``[n, A_1, ..., A_n]``; it is stored as nested tuples so the env stays
hashable.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Dict, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxmarl_lite.env import MultiAgentEnv
from jaxmarl_lite.spaces import Box, Discrete
from jaxmarl_lite.typecheck import check_field_types


def _symmetric(row: list) -> np.ndarray:
    """Two-player symmetric game from the row player's matrix (agent 1 gets its transpose)."""
    p0 = np.asarray(row, np.float64)
    return np.stack([p0, p0.T])


def _zero_sum(row: list) -> np.ndarray:
    p0 = np.asarray(row, np.float64)
    return np.stack([p0, -p0])


def _common(table: list) -> np.ndarray:
    p = np.asarray(table, np.float64)
    return np.stack([p, p])


# name -> (payoff builder taking the penalty k, action names)
GAMES: Dict[str, Tuple[Callable[[float], np.ndarray], Tuple[str, ...]]] = {
    "prisoners_dilemma": (lambda k: _symmetric([[3, 0], [5, 1]]), ("cooperate", "defect")),
    "stag_hunt": (lambda k: _symmetric([[4, 0], [3, 2]]), ("stag", "hare")),
    "matching_pennies": (lambda k: _zero_sum([[1, -1], [-1, 1]]), ("heads", "tails")),
    "rock_paper_scissors": (
        lambda k: _zero_sum([[0, -1, 1], [1, 0, -1], [-1, 1, 0]]),
        ("rock", "paper", "scissors"),
    ),
    "chicken": (lambda k: _symmetric([[0, -1], [1, -10]]), ("swerve", "straight")),
    "climbing_game": (
        lambda k: _common([[11, -30, 0], [-30, 7, 6], [0, 0, 5]]),
        ("a", "b", "c"),
    ),
    "penalty_game": (lambda k: _common([[k, 0, 10], [0, 2, 0], [10, 0, k]]), ("a", "b", "c")),
}
DEFAULT_PENALTY_K = -10.0


def _nested_tuple(x: np.ndarray):
    if x.ndim == 0:
        return float(x)
    return tuple(_nested_tuple(v) for v in x)


def validate_payoffs(payoffs) -> np.ndarray:
    """``payoffs`` as a float64 array ``[n, A_1, ..., A_n]``, or a ``ValueError`` saying
    what is wrong (ragged rows, wrong leading size, empty action sets, non-finite values)."""
    try:
        arr = np.asarray(payoffs, dtype=np.float64)
    except (ValueError, TypeError) as err:
        raise ValueError(
            f"payoffs must be a rectangular array of numbers [num_agents, A_1, ..., A_n]: {err}"
        ) from None
    if arr.ndim < 2:
        raise ValueError(
            f"payoffs must have shape [num_agents, A_1, ..., A_n] (at least 2 dims), "
            f"got shape {arr.shape}"
        )
    if arr.shape[0] != arr.ndim - 1:
        raise ValueError(
            f"payoffs shape {arr.shape}: the leading size ({arr.shape[0]}) must equal the "
            f"number of players, i.e. the number of action axes ({arr.ndim - 1})"
        )
    if min(arr.shape[1:]) < 1:
        raise ValueError(f"payoffs shape {arr.shape}: every player needs at least one action")
    if not np.all(np.isfinite(arr)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise ValueError(f"payoffs must be finite, got {arr[bad]} at index {bad}")
    return arr


@struct.dataclass
class MatrixGameState:
    last_actions: jax.Array  # [num_agents] int32 previous joint action, -1 before round 1
    step: jax.Array  # [] int32 rounds played


@dataclasses.dataclass(frozen=True)
class MatrixGame(MultiAgentEnv):
    """A normal-form game played for ``num_steps`` simultaneous rounds."""

    game: Optional[str] = None
    """Built-in game name (a key of ``GAMES``). ``None``: ``prisoners_dilemma``, or the
    custom game when ``payoffs`` is given."""
    payoffs: Optional[Tuple] = None
    """Custom payoff tensor ``[num_agents, A_1, ..., A_n]`` (nested sequences or array)."""
    num_steps: int = 10
    """Rounds per episode; 1 is the one-shot game."""
    penalty_k: float = DEFAULT_PENALTY_K
    """Miscoordination penalty of ``penalty_game`` (must be <= 0); only for that game."""

    def __post_init__(self):
        if self.payoffs is not None:
            object.__setattr__(self, "payoffs", _nested_tuple(validate_payoffs(self.payoffs)))
        check_field_types(self)
        if self.payoffs is not None:
            if self.game not in (None, "custom"):
                raise ValueError(
                    f"MatrixGame: give either a built-in game or custom payoffs, not both "
                    f"(game={self.game!r} with payoffs)"
                )
        elif self.game is not None and self.game not in GAMES:
            hint = " (custom games need payoffs=...)" if self.game == "custom" else ""
            raise ValueError(
                f"MatrixGame: unknown game {self.game!r}{hint}; built-in games: "
                f"{', '.join(sorted(GAMES))}"
            )
        if self.num_steps < 1:
            raise ValueError(f"MatrixGame: num_steps must be >= 1, got {self.num_steps}")
        if not np.isfinite(self.penalty_k) or self.penalty_k > 0:
            raise ValueError(f"MatrixGame: penalty_k must be finite and <= 0, got {self.penalty_k}")
        if self.penalty_k != DEFAULT_PENALTY_K and self.game_name != "penalty_game":
            raise ValueError(
                f"MatrixGame: penalty_k only applies to game='penalty_game', not {self.game_name!r}"
            )

    # ------------------------------------------------------------------ static facts
    @property
    def game_name(self) -> str:
        if self.payoffs is not None:
            return "custom"
        return self.game or "prisoners_dilemma"

    @property
    def payoff_array(self) -> np.ndarray:
        """The payoff tensor ``[num_agents, A_1, ..., A_n]`` as a float32 NumPy array."""
        return _payoff_array(self)

    @property
    def action_names(self) -> Tuple[Tuple[str, ...], ...]:
        """Per agent, the names of its actions (``"0", "1", ...`` for custom games)."""
        if self.payoffs is None:
            return (GAMES[self.game_name][1],) * self.num_agents
        return tuple(tuple(str(a) for a in range(n)) for n in self.action_sizes)

    @property
    def num_agents(self) -> int:
        return self.payoff_array.shape[0]

    @property
    def action_sizes(self) -> Tuple[int, ...]:
        return tuple(int(a) for a in self.payoff_array.shape[1:])

    @property
    def action_space(self) -> Discrete:
        return Discrete(max(self.action_sizes))

    @property
    def observation_space(self) -> Box:
        return Box(0.0, 1.0, (sum(self.action_sizes) + 1,))

    @property
    def max_episode_steps(self) -> int:
        return self.num_steps

    # ---------------------------------------------------------------------- dynamics
    def _observe(self, state: MatrixGameState) -> jax.Array:
        blocks = [
            jax.nn.one_hot(state.last_actions[i], a, dtype=jnp.float32)  # -1 -> all zeros
            for i, a in enumerate(self.action_sizes)
        ]
        t = (state.step.astype(jnp.float32) / self.num_steps)[None]
        return jnp.concatenate(blocks + [t])

    def global_state(self, state: MatrixGameState) -> jax.Array:
        return self._observe(state)

    def _obs(self, state: MatrixGameState) -> jax.Array:
        return jnp.broadcast_to(self._observe(state), (self.num_agents, self.obs_dim))

    def reset_env(self, key):
        state = MatrixGameState(
            last_actions=jnp.full((self.num_agents,), -1, jnp.int32),
            step=jnp.zeros((), jnp.int32),
        )
        return self._obs(state), state

    def step_env(self, key, state, actions):
        sizes = jnp.asarray(self.action_sizes, jnp.int32)
        actions = jnp.clip(actions.astype(jnp.int32), 0, sizes - 1)
        reward = jnp.asarray(self.payoff_array)[(slice(None),) + tuple(actions)]
        state = MatrixGameState(last_actions=actions, step=state.step + 1)
        n = self.num_agents
        terminated = jnp.full((n,), state.step >= self.num_steps)
        truncated = jnp.zeros((n,), bool)
        return self._obs(state), state, reward.astype(jnp.float32), terminated, truncated, {}

    # ----------------------------------------------------------------------- render
    def render(self, state: MatrixGameState, cell: int = 32) -> np.ndarray:
        """The payoff table of agents 0 (rows) and 1 (columns); each cell's left half is
        coloured by agent 0's payoff, its right half by agent 1's (red negative, green
        positive, white zero), and the last joint action is framed in black. Games with
        more agents show the slice at the other agents' last actions."""
        last = np.asarray(state.last_actions)
        p = self.payoff_array
        index = tuple(max(int(a), 0) for a in last[2:])
        table = p[(slice(None),) * 3 + index] if self.num_agents > 2 else p
        if table.ndim == 2:  # one player: a single row
            table = table[:, None, :]
        players, rows, cols = table.shape
        scale = max(float(np.abs(p).max()), 1e-9)
        img = np.full((rows * cell, cols * cell, 3), 255, np.uint8)
        width = cell // 2 if players > 1 else cell  # one colour stripe per shown agent
        for r in range(rows):
            for c in range(cols):
                for i in range(min(players, 2)):
                    v = table[i, r, c] / scale
                    fade = int(255 * (1 - abs(v)))
                    x0 = c * cell + i * width
                    img[r * cell : (r + 1) * cell, x0 : x0 + width] = (
                        (255, fade, fade) if v < 0 else (fade, 255, fade)
                    )
        img[::cell, :] = 150
        img[:, ::cell] = 150
        if last[0] >= 0:
            r, c = (int(last[0]), int(last[1])) if players > 1 else (0, int(last[0]))
            w = max(cell // 10, 2)
            tile = img[r * cell : (r + 1) * cell, c * cell : (c + 1) * cell]
            inner = tile[w:-w, w:-w].copy()
            tile[:] = 0
            tile[w:-w, w:-w] = inner
        return img


@functools.lru_cache(maxsize=None)
def _payoff_array(env: MatrixGame) -> np.ndarray:
    if env.payoffs is not None:
        arr = np.asarray(env.payoffs, np.float64)
    else:
        arr = GAMES[env.game_name][0](env.penalty_k)
    arr = arr.astype(np.float32)
    arr.flags.writeable = False
    return arr


def payoff_table(game: str, penalty_k: float = DEFAULT_PENALTY_K) -> np.ndarray:
    """The payoff tensor ``[num_agents, A_1, ..., A_n]`` of a built-in game."""
    return MatrixGame(game=game, penalty_k=penalty_k).payoff_array


# ---------------------------------------------------- registry factories, one per game
def prisoners_dilemma(num_steps: int = 10) -> MatrixGame:
    return MatrixGame(game="prisoners_dilemma", num_steps=num_steps)


def stag_hunt(num_steps: int = 10) -> MatrixGame:
    return MatrixGame(game="stag_hunt", num_steps=num_steps)


def matching_pennies(num_steps: int = 10) -> MatrixGame:
    return MatrixGame(game="matching_pennies", num_steps=num_steps)


def rock_paper_scissors(num_steps: int = 10) -> MatrixGame:
    return MatrixGame(game="rock_paper_scissors", num_steps=num_steps)


def chicken(num_steps: int = 10) -> MatrixGame:
    return MatrixGame(game="chicken", num_steps=num_steps)


def climbing_game(num_steps: int = 10) -> MatrixGame:
    return MatrixGame(game="climbing_game", num_steps=num_steps)


def penalty_game(penalty_k: float = DEFAULT_PENALTY_K, num_steps: int = 10) -> MatrixGame:
    return MatrixGame(game="penalty_game", penalty_k=penalty_k, num_steps=num_steps)
