"""Tic-tac-toe as a turn-based two-player env, with the rules and views of PettingZoo's
``tictactoe_v3`` (including its illegal-move wrapper).

Agents ``player_1`` (moves first, crosses) and ``player_2`` (noughts). Every step both
agents send an action, but only the *mover's* counts: the other agent's action is ignored
and its ``action_mask`` row is all zero, while the mover's row marks the empty cells.
Actions are cells ``0..8`` numbered row by row: cell ``c`` is ``(c // 3, c % 3)`` of the
observation planes (PettingZoo's own picture draws the transpose, which changes nothing:
the set of winning lines is symmetric).

Observation row ``i`` is PettingZoo's ``observe(agents[i])["observation"]`` (``[3, 3, 2]``
int8) flattened in C order to 18 floats, index ``2 * cell + plane``: plane 0 marks agent
``i``'s own marks and plane 1 its opponent's. Each agent thus sees the board from its own
side; the mover's row is the board from the mover's point of view, and the non-mover's row
is the same board with the planes the other way round (the player about to wait sees
itself in plane 0 as well).

Rewards as PettingZoo: the winner gets +1 and the loser -1 on the winning move, a full
board without a line is a draw (0, 0), and every other move gives 0. A move to an occupied
cell ends the game at once: the mover gets ``illegal_reward`` (-1) and the other player 0,
as ``TerminateIllegalWrapper`` does. All game ends are terminations (PettingZoo's wrapper
additionally flags an illegal-move end as a truncation; here truncation is reserved for time
limits, which tic-tac-toe does not have). ``info["illegal_move"]`` (``[2]`` bool) flags a
step that ended the game that way. A game lasts at most 9 steps (an illegal move only
shortens it).

``global_state``: the board from ``player_1``'s side (18, as its observation) followed by
the one-hot of the player to move (2).
"""
from __future__ import annotations

import dataclasses
from typing import Tuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxmarl_lite.env import MultiAgentEnv
from jaxmarl_lite.selfplay import board_symmetries
from jaxmarl_lite.spaces import Box, Discrete
from jaxmarl_lite.typecheck import check_field_types

LINES = np.array(
    [[0, 1, 2], [3, 4, 5], [6, 7, 8], [0, 3, 6], [1, 4, 7], [2, 5, 8], [0, 4, 8], [2, 4, 6]],
    np.int32,
)
"""The eight winning lines (rows, columns, diagonals) as cell indices."""

CROSS_COLOUR = np.array([220, 60, 60], np.uint8)
NOUGHT_COLOUR = np.array([60, 110, 230], np.uint8)


@struct.dataclass
class TicTacToeState:
    board: jax.Array  # [9] int32: 0 empty, 1 player_1, 2 player_2
    mover: jax.Array  # [] int32: 0 player_1 to move, 1 player_2
    step: jax.Array  # [] int32 moves made (an illegal one included)
    done: jax.Array  # [] bool: the game is over (no mover any more)


def board_index(board: jax.Array) -> jax.Array:
    """Base-3 code ``sum_c board[c] * 3**c`` of a ``[..., 9]`` board (``0 .. 3**9 - 1``),
    the index into the minimax tables of :mod:`jaxmarl_lite.envs.tictactoe_minimax`."""
    return jnp.sum(board * jnp.asarray(3 ** np.arange(9), jnp.int32), axis=-1)


def has_line(board: jax.Array, mark: jax.Array | int) -> jax.Array:
    """Whether ``mark`` (1 or 2) holds a complete line on a ``[9]`` board."""
    return jnp.any(jnp.all(board[jnp.asarray(LINES)] == mark, axis=-1))


@dataclasses.dataclass(frozen=True)
class TicTacToe(MultiAgentEnv):
    """Tic-tac-toe, PettingZoo ``tictactoe_v3`` semantics (see the module docstring)."""

    illegal_reward: float = -1.0
    """Reward of a player that moves to an occupied cell (the game ends; the other gets 0)."""

    def __post_init__(self):
        check_field_types(self)
        if not np.isfinite(self.illegal_reward):
            raise ValueError(f"TicTacToe: illegal_reward must be finite, got {self.illegal_reward}")

    @property
    def num_agents(self) -> int:
        return 2

    @property
    def agents(self) -> Tuple[str, ...]:
        return ("player_1", "player_2")

    @property
    def observation_space(self) -> Box:
        return Box(0.0, 1.0, (18,))

    @property
    def action_space(self) -> Discrete:
        return Discrete(9)

    @property
    def max_episode_steps(self) -> int:
        return 9

    # --------------------------------------------------------------------- views
    def get_obs(self, state: TicTacToeState) -> jax.Array:
        """``[2, 18]``: row ``i`` is the board from agent ``i``'s side (own marks first)."""
        own = jnp.stack([state.board == 1, state.board == 2])  # [agent, cell]
        planes = jnp.stack([own, own[::-1]], axis=-1)  # [agent, cell, plane]
        return planes.reshape(2, 18).astype(jnp.float32)

    def action_mask(self, state: TicTacToeState) -> jax.Array:
        """``[2, 9]``: the mover's row marks the empty cells, the other row is all zero
        (and both are zero once the game is over)."""
        empty = (state.board == 0) & ~state.done
        is_mover = jnp.arange(2) == state.mover
        return (is_mover[:, None] & empty[None, :]).astype(jnp.float32)

    def global_state(self, state: TicTacToeState) -> jax.Array:
        board = self.get_obs(state)[0]
        return jnp.concatenate([board, jax.nn.one_hot(state.mover, 2, dtype=jnp.float32)])

    def state_from_obs(self, obs: jax.Array) -> TicTacToeState:
        """The position a pair of views ``[2, 18]`` (as :meth:`get_obs` returns them) shows:
        board, mover (``player_1`` when both have as many marks) and ``done`` (a line or a
        full board). Lets a search simulate moves from what a policy observes; a game that
        ended by an illegal move looks like the position before it."""
        planes = obs[0].reshape(9, 2)  # player_1's side: own marks, then the other's
        board = (planes[:, 0] + 2 * planes[:, 1]).astype(jnp.int32)
        moves = jnp.sum(board != 0).astype(jnp.int32)
        mover = (jnp.sum(board == 1) > jnp.sum(board == 2)).astype(jnp.int32)
        done = has_line(board, 1) | has_line(board, 2) | (moves == 9)
        return TicTacToeState(board=board, mover=mover, step=moves, done=done)

    def symmetries(self) -> Tuple[np.ndarray, np.ndarray]:
        """The board's eight symmetries (rotations and reflections of the square) as index
        permutations ``(obs_perms [8, 18], action_perms [8, 9])``: under symmetry ``g`` the
        transformed board's cell ``j`` is the original cell ``action_perms[g, j]`` and its
        observation is ``obs[obs_perms[g]]``. Row 0 is the identity. Every rule (lines,
        rewards, legality) is invariant under them."""
        return board_symmetries(3, 3, 2, square=True)

    # ------------------------------------------------------------------ dynamics
    def reset_env(self, key):
        state = TicTacToeState(
            board=jnp.zeros((9,), jnp.int32),
            mover=jnp.zeros((), jnp.int32),
            step=jnp.zeros((), jnp.int32),
            done=jnp.zeros((), bool),
        )
        return self.get_obs(state), state

    def step_env(self, key, state, actions):
        cell = actions[state.mover]
        legal = (state.board[cell] == 0) & ~state.done
        mark = state.mover + 1
        board = jnp.where(legal, state.board.at[cell].set(mark), state.board)
        won = legal & has_line(board, mark)
        full = legal & jnp.all(board != 0)
        illegal = ~legal & ~state.done
        mover_onehot = jax.nn.one_hot(state.mover, 2, dtype=jnp.float32)
        reward = jnp.where(won, 2.0 * mover_onehot - 1.0, 0.0)
        reward = jnp.where(illegal, self.illegal_reward * mover_onehot, reward)
        done = state.done | won | full | illegal
        state = TicTacToeState(
            board=board,
            mover=jnp.where(done, state.mover, 1 - state.mover),
            step=state.step + jnp.where(state.done, 0, 1),
            done=done,
        )
        terminated = jnp.full((2,), done)
        truncated = jnp.zeros((2,), bool)
        info = {"illegal_move": jnp.full((2,), illegal)}
        return self.get_obs(state), state, reward.astype(jnp.float32), terminated, truncated, info

    # ------------------------------------------------------------------- render
    def render(self, state: TicTacToeState, cell: int = 48) -> np.ndarray:
        """The board (cell ``c`` at row ``c // 3``, column ``c % 3``): red crosses for
        ``player_1``, blue rings for ``player_2``; a finished winning line is shaded."""
        board = np.asarray(state.board)
        size = 3 * cell
        img = np.full((size, size, 3), 250, np.uint8)
        yy, xx = np.mgrid[0:cell, 0:cell] - (cell - 1) / 2.0
        radius = 0.34 * cell
        width = max(cell / 12.0, 1.5)
        cross = np.abs(np.abs(yy) - np.abs(xx)) < width
        cross &= np.maximum(np.abs(yy), np.abs(xx)) < radius
        ring = np.abs(np.hypot(yy, xx) - radius) < width
        for line in LINES:
            marks = board[line]
            if marks[0] != 0 and np.all(marks == marks[0]):
                for c in line:
                    r, q = divmod(int(c), 3)
                    img[r * cell : (r + 1) * cell, q * cell : (q + 1) * cell] = (255, 236, 150)
        for c, mark in enumerate(board):
            r, q = divmod(c, 3)
            tile = img[r * cell : (r + 1) * cell, q * cell : (q + 1) * cell]
            if mark == 1:
                tile[cross] = CROSS_COLOUR
            elif mark == 2:
                tile[ring] = NOUGHT_COLOUR
        for k in range(1, 3):
            img[k * cell - 1 : k * cell + 1, :] = 60
            img[:, k * cell - 1 : k * cell + 1] = 60
        return img
