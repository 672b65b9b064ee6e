"""A perfect tic-tac-toe player (exhaustive minimax) and matches of a policy against it.

:func:`minimax_tables` solves every position reachable from the empty board once
(memoised, plain Python, well under a second) and returns lookup tables indexed by
:func:`~jaxmarl_lite.envs.tictactoe.board_index`, so a compiled rollout can play perfectly
with one gather. :func:`play_matches` plays a batch of games of any policy with the
project's ``Policy`` interface (``init_carry``, ``act``) against a uniformly random legal
player or against the minimax player, inside one ``jit``. :func:`exhaustive_eval` judges a
deterministic player over every line of play instead of sampled games (a sampled match can
miss the one line that loses).
"""
from __future__ import annotations

import functools
from typing import Dict, NamedTuple, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmarl_lite.envs.tictactoe import LINES, TicTacToe, TicTacToeState, board_index
from jaxmarl_lite.selfplay import MatchResult
from jaxmarl_lite.spaces import random_legal

NUM_BOARDS = 3**9


class MinimaxTables(NamedTuple):
    value: np.ndarray
    """``[3**9]`` int8 game value for the player to move under perfect play (1 win, 0 draw,
    -1 loss); 0 for boards that are over or unreachable."""
    optimal: np.ndarray
    """``[3**9, 9]`` bool: the moves that achieve ``value`` (all-False where no move)."""
    best_action: np.ndarray
    """``[3**9]`` int32: the lowest-numbered optimal move that wins fastest or loses
    slowest; -1 where there is no move to make."""


def _winner(board: Tuple[int, ...]) -> int:
    for a, b, c in LINES:
        if board[a] != 0 and board[a] == board[b] == board[c]:
            return board[a]
    return 0


@functools.lru_cache(maxsize=1)
def minimax_tables() -> MinimaxTables:
    """Solve tic-tac-toe: every position reachable from the empty board (5478, of which
    4520 have a move to make). Cached; the arrays are read-only."""
    value = np.zeros(NUM_BOARDS, np.int8)
    optimal = np.zeros((NUM_BOARDS, 9), bool)
    best_action = np.full(NUM_BOARDS, -1, np.int32)
    powers = 3 ** np.arange(9)
    memo: Dict[Tuple[int, ...], int] = {}

    def solve(board: Tuple[int, ...], mark: int) -> int:
        """Score for the player to move: +(10 - moves) win, 0 draw, -(10 - moves) loss."""
        if board in memo:
            return memo[board]
        moves = [c for c in range(9) if board[c] == 0]
        scores = []
        for c in moves:
            child = board[:c] + (mark,) + board[c + 1 :]
            if _winner(child):
                scores.append(10 - (9 - len(moves)))  # win now: earlier is better
            elif len(moves) == 1:
                scores.append(0)
            else:
                scores.append(-solve(child, 3 - mark))
        best = max(scores)
        index = int(np.dot(board, powers))
        value[index] = np.sign(best)
        optimal[index, moves] = np.sign(scores) == np.sign(best)
        best_action[index] = moves[scores.index(best)]
        memo[board] = best
        return best

    solve((0,) * 9, 1)
    for table in (value, optimal, best_action):
        table.flags.writeable = False
    return MinimaxTables(value, optimal, best_action)


@functools.lru_cache(maxsize=None)
def minimax_policy(deterministic: bool = False):
    """A perfect player with the ``Policy`` interface: every agent row plays the minimax
    move of the current board (rows whose mask is all zero are ignored by the env anyway).
    Reads the board from each row's planes; ``deterministic=False`` picks uniformly among
    the optimal moves, which is the harder opponent to memorise."""
    from jaxmarl_lite.algorithms._common.evaluation import Policy  # the shared interface

    tables = minimax_tables()

    def act(params, carry, obs, mask, first, key):
        del params, first
        own, other = obs[..., 0::2], obs[..., 1::2]  # [E, 2, 9] each
        # row 0 is player_1 (own marks = 1s), row 1 is player_2 (own marks = 2s)
        board = jnp.stack([own[:, 0] + 2 * other[:, 0], other[:, 1] + 2 * own[:, 1]], axis=1)
        actions = opponent_moves(tables, board.astype(jnp.int32), mask, key, deterministic)
        return actions, carry

    return Policy(init_carry=lambda num_envs: (), act=act)


def opponent_moves(tables: MinimaxTables, board, mask, key, deterministic: bool = False):
    """Minimax moves for ``[..., 9]`` boards (values 0/1/2); ``mask`` ``[..., 9]`` restricts
    to legal cells (where no cell is optimal, e.g. a finished game, falls back to the mask)."""
    index = board_index(board)
    if deterministic:
        return jnp.maximum(jnp.asarray(tables.best_action)[index], 0).astype(jnp.int32)
    good = jnp.asarray(tables.optimal)[index] & (mask > 0)
    allowed = jnp.where(jnp.any(good, -1, keepdims=True), good, mask > 0)
    logits = jnp.where(allowed, 0.0, -1e9)
    return jax.random.categorical(key, logits, axis=-1).astype(jnp.int32)


OPPONENTS = ("random", "minimax")


def play_matches(
    policy, params, key: jax.Array, num_games: int, opponent: str = "random",
    deterministic: bool = False,
) -> MatchResult:
    """``num_games`` games of ``policy`` against ``opponent`` (``"random"``: uniform over
    legal moves; ``"minimax"``: the perfect player, random among optimal moves unless
    ``deterministic``). The policy plays ``player_1`` in the first half of the games and
    ``player_2`` in the rest; an illegal move by the policy loses the game. Compiled once
    per ``(policy, num_games)``: ``policy`` is a static argument and must be hashable (a
    ``Policy`` NamedTuple of functions is), the opponent is switched at run time."""
    if opponent not in OPPONENTS:
        raise ValueError(f"play_matches: opponent must be one of {OPPONENTS}, got {opponent!r}")
    if num_games < 2:
        raise ValueError(f"play_matches: num_games must be >= 2 (one per seat), got {num_games}")
    code = 0 if opponent == "random" else (2 if deterministic else 1)
    tables = minimax_tables()
    return _play(policy, num_games, params, key, jnp.int32(code),
                 jnp.asarray(tables.optimal), jnp.asarray(tables.best_action))


@functools.partial(jax.jit, static_argnums=(0, 1))
def _play(policy, num_games, params, key, opponent_code, optimal, best_action) -> MatchResult:
    env = TicTacToe()
    tables = MinimaxTables(None, optimal, best_action)
    seat = (jnp.arange(num_games) >= num_games // 2).astype(jnp.int32)  # [G]
    key, reset_key = jax.random.split(key)
    obs, state = jax.vmap(env.reset_env)(jax.random.split(reset_key, num_games))
    returns = jnp.zeros((num_games,), jnp.float32)
    carry0 = (obs, state, policy.init_carry(num_games), returns, jnp.ones((num_games,), bool), key)

    def body(carry, _):
        obs, state, pcarry, returns, first, key = carry
        key, act_key, opp_key, step_key = jax.random.split(key, 4)
        mask = jax.vmap(env.action_mask)(state)  # [G, 2, 9]
        mine, pcarry = policy.act(params, pcarry, obs, mask, first, act_key)  # [G, 2]
        mover_mask = jnp.take_along_axis(mask, state.mover[:, None, None], axis=1)[:, 0]
        uniform = random_legal(opp_key, mover_mask)
        perfect = opponent_moves(tables, state.board, mover_mask, opp_key, deterministic=False)
        fixed = opponent_moves(tables, state.board, mover_mask, opp_key, deterministic=True)
        theirs = jnp.select([opponent_code == 0, opponent_code == 1], [uniform, perfect], fixed)
        mine_at_mover = jnp.take_along_axis(mine, state.mover[:, None], axis=1)[:, 0]
        move = jnp.where(state.mover == seat, mine_at_mover, theirs).astype(jnp.int32)
        actions = jnp.stack([move, move], axis=-1)  # only the mover's entry is read
        was_done = state.done
        obs, state, reward, _, _, _ = jax.vmap(env.step_env)(
            jax.random.split(step_key, num_games), state, actions)
        mine_reward = jnp.take_along_axis(reward, seat[:, None], axis=1)[:, 0]
        returns = returns + jnp.where(was_done, 0.0, mine_reward)
        return (obs, state, pcarry, returns, jnp.zeros_like(first), key), None

    (_, _, _, returns, _, _), _ = jax.lax.scan(body, carry0, None, env.max_episode_steps)

    def count(outcome):
        return jnp.stack([jnp.sum(outcome & (seat == s)) for s in (0, 1)]).astype(jnp.int32)

    return MatchResult(count(returns > 0), count(returns == 0), count(returns < 0))


# ------------------------------------------------------------- exhaustive evaluation
class SeatLines(NamedTuple):
    """A deterministic player judged in one seat over every line of play (no sampling)."""

    lines_any: int
    """Complete games when the opponent may answer every move with any legal move."""
    lost_any: int
    """Of those, the games the player loses (an illegal move of its own counts as lost)."""
    lines_optimal: int
    """Complete games when the opponent plays every optimal (minimax) move in turn."""
    lost_optimal: int
    """Of those, the games the player loses."""
    loss_prob_minimax: float
    """Probability of losing to minimax choosing uniformly among its optimal moves."""


def reachable_positions() -> np.ndarray:
    """``[4520, 9]`` int32: every board reachable from the empty one with a move to make,
    in base-3 index order (:func:`~jaxmarl_lite.envs.tictactoe.board_index`)."""
    index = np.flatnonzero(minimax_tables().optimal.any(axis=1))
    return ((index[:, None] // 3 ** np.arange(9)) % 3).astype(np.int32)


def policy_moves(policy, params, key: jax.Array) -> Dict[Tuple[int, ...], int]:
    """The move ``policy`` makes (as the mover, from a fresh carry, one key for the whole
    batch) in every position of :func:`reachable_positions`, computed in one batch: the
    policy must be feed-forward, and a stochastic one is judged for this key only."""
    env = TicTacToe()
    boards = reachable_positions()
    mover = (np.sum(boards != 0, axis=1) % 2).astype(np.int32)
    states = TicTacToeState(board=jnp.asarray(boards), mover=jnp.asarray(mover),
                            step=jnp.asarray(np.sum(boards != 0, axis=1), jnp.int32),
                            done=jnp.zeros(len(boards), bool))
    obs, mask = jax.vmap(env.get_obs)(states), jax.vmap(env.action_mask)(states)
    act = jax.jit(policy.act)
    actions, _ = act(params, policy.init_carry(len(boards)), obs, mask,
                     jnp.ones((len(boards),), bool), key)
    chosen = np.asarray(actions)[np.arange(len(boards)), mover]
    return {tuple(int(c) for c in b): int(a) for b, a in zip(boards, chosen)}


def exhaustive_eval(moves: Dict[Tuple[int, ...], int]) -> Tuple[SeatLines, SeatLines]:
    """Judge a deterministic tic-tac-toe player, given as its move in every position
    (:func:`policy_moves`), over every line of play, in each seat (``player_1``,
    ``player_2``): the lines the opponent can force (any legal reply / only optimal
    replies) and the probability of losing to minimax choosing uniformly among its optimal
    moves. Plain Python over the 5478 positions (well under a second)."""
    optimal = minimax_tables().optimal
    powers = 3 ** np.arange(9)

    def outcome(board, mark):  # after ``mark`` moved: 1 won, 0 draw, None go on
        if _winner(board):
            return 1
        return 0 if all(board) else None

    @functools.lru_cache(maxsize=None)
    def walk(board, seat, only_optimal):
        """(lines, lost lines, loss probability vs uniform-optimal minimax) from ``board``."""
        mark = 1 if board.count(1) == board.count(2) else 2
        if mark - 1 == seat:
            cell = moves[board]
            if not 0 <= cell < 9 or board[cell] != 0:
                return 1, 1, 1.0  # an illegal move loses the game
            child = board[:cell] + (mark,) + board[cell + 1:]
            if outcome(child, mark) is not None:
                return 1, 0, 0.0
            return walk(child, seat, only_optimal)
        index = int(np.dot(board, powers))
        cells = [c for c in range(9) if board[c] == 0
                 and (optimal[index, c] or not only_optimal)]
        lines = lost = 0
        probs = []
        for cell in cells:
            child = board[:cell] + (mark,) + board[cell + 1:]
            end = outcome(child, mark)
            if end is None:
                sub = walk(child, seat, only_optimal)
            else:
                sub = (1, end, float(end))  # the opponent won (1) or drew (0)
            lines, lost = lines + sub[0], lost + sub[1]
            if optimal[index, cell]:
                probs.append(sub[2])
        return lines, lost, float(np.mean(probs))

    result = []
    for seat in (0, 1):
        empty = (0,) * 9
        lines_any, lost_any, _ = walk(empty, seat, False)
        lines_opt, lost_opt, prob = walk(empty, seat, True)
        result.append(SeatLines(lines_any, lost_any, lines_opt, lost_opt, prob))
    return tuple(result)
