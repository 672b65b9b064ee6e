"""Self-play opponent pool: a fixed-size ring of past parameter snapshots, usable inside
``jit``/``lax.scan`` (all functions are pure and shapes never change).

The pool stores ``pool_size`` copies of a parameter pytree stacked on a leading axis,
how many slots have been written (``count``, at most ``pool_size``) and the next slot to
write (``index``). Adding to a full pool overwrites the oldest snapshot. Sampling is
uniform over the written slots only; on a pool that is still empty it returns the
parameters the pool was created with (slot 0).

Typical use in a training scan: every few updates ``pool = add_if(pool, params, cond)``;
at every episode start ``opp, is_self = choose_opponents(pool, params, key, num_envs,
self_play_prob)`` gives each env either the current parameters (share
``self_play_prob``) or a past snapshot, with a leading ``[num_envs]`` axis to ``vmap``
the opponent's network over.

Board games usually have symmetries (tic-tac-toe: the eight rotations and reflections of
the square; connect four: the left-right mirror), :func:`board_symmetries` as index
permutations. :func:`canonical_view` maps an observation to one fixed representative of its
symmetry class, so a policy that plays through it sees ~8x fewer distinct positions and
plays symmetric positions the same way.

:func:`negamax_scores` looks a few moves ahead in a two-player zero-sum game with a learned
value at the leaves, so a trained agent can play by search.

Matches between *players* (:func:`play_games`): a player is a pure function ``(params, state,
obs [N, D], mask [N, A], key) -> move []`` of one game's position, so it may read the env
state (a search) or only the mover's view (a network, :func:`policy_player`). Baselines:
:func:`random_player` and :func:`lookahead_player` (wins at once where it can).
"""
from __future__ import annotations

from typing import Any, Callable, Dict, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxmarl_lite.spaces import random_legal
from jaxmarl_lite.typecheck import require_int

Params = Any


@struct.dataclass
class OpponentPool:
    params: Params
    """Snapshots, every leaf ``[pool_size, ...]``."""
    count: jax.Array
    """``[]`` int32: slots written so far, capped at ``pool_size``."""
    index: jax.Array
    """``[]`` int32: the slot the next :func:`add` writes (the oldest once full)."""

    @property
    def pool_size(self) -> int:
        return jax.tree.leaves(self.params)[0].shape[0]


def init_pool(params: Params, pool_size: int) -> OpponentPool:
    """An empty pool of ``pool_size`` slots shaped like ``params`` (every slot holds a copy
    of ``params`` until written, so sampling an empty pool returns ``params``)."""
    if int(pool_size) < 1:
        raise ValueError(f"init_pool: pool_size must be >= 1, got {pool_size}")
    if not jax.tree.leaves(params):
        raise ValueError("init_pool: params has no array leaves to store")
    stacked = jax.tree.map(lambda x: jnp.broadcast_to(x, (pool_size,) + jnp.shape(x)), params)
    return OpponentPool(stacked, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))


def add(pool: OpponentPool, params: Params) -> OpponentPool:
    """Write a snapshot into the next slot (overwriting the oldest when full)."""
    stored = jax.tree.map(lambda buf, x: buf.at[pool.index].set(x), pool.params, params)
    size = pool.pool_size
    return OpponentPool(
        stored, jnp.minimum(pool.count + 1, size), (pool.index + 1) % size
    )


def tree_where(cond: jax.Array, new: Any, old: Any) -> Any:
    """Leaf by leaf ``new`` where ``cond`` holds, else ``old``; ``cond`` (a bool, or a batch
    ``[G]`` of them) applies along the leaves' leading axes (e.g. per game)."""
    cond = jnp.asarray(cond)
    return jax.tree.map(lambda a, b: jnp.where(
        cond.reshape(cond.shape + (1,) * (jnp.ndim(a) - cond.ndim)), a, b), new, old)


def add_if(pool: OpponentPool, params: Params, cond: jax.Array) -> OpponentPool:
    """:func:`add` when ``cond`` (a traced bool) holds, else the pool unchanged."""
    return tree_where(cond, add(pool, params), pool)


def sample_index(pool: OpponentPool, key: jax.Array) -> jax.Array:
    """``[]`` int32 slot drawn uniformly from the written ones (0 for an empty pool)."""
    return jax.random.randint(key, (), 0, jnp.maximum(pool.count, 1))


def get(pool: OpponentPool, slot: jax.Array) -> Params:
    """The snapshot stored in ``slot`` (leaves without the pool axis)."""
    return jax.tree.map(lambda buf: buf[slot], pool.params)


def sample(pool: OpponentPool, key: jax.Array) -> Params:
    """The parameters of a uniformly chosen written slot."""
    return get(pool, sample_index(pool, key))


def choose_opponent(
    pool: OpponentPool, current: Params, key: jax.Array, self_play_prob: float | jax.Array
) -> Tuple[Params, jax.Array]:
    """One episode's opponent: ``current`` with probability ``self_play_prob`` (always while
    the pool is empty), else a pool sample. Returns ``(params, is_self)``."""
    key_coin, key_slot = jax.random.split(key)
    is_self = (jax.random.uniform(key_coin) < self_play_prob) | (pool.count == 0)
    past = sample(pool, key_slot)
    return tree_where(is_self, current, past), is_self


def choose_opponents(
    pool: OpponentPool, current: Params, key: jax.Array, num: int,
    self_play_prob: float | jax.Array,
) -> Tuple[Params, jax.Array]:
    """:func:`choose_opponent` for ``num`` episodes independently: parameters with a
    leading ``[num]`` axis and ``is_self`` ``[num]`` bool."""
    keys = jax.random.split(key, num)
    return jax.vmap(choose_opponent, in_axes=(None, None, 0, None))(
        pool, current, keys, self_play_prob
    )


def board_symmetries(height: int, width: int, planes: int, square: bool,
                     moves: str = "cells") -> Tuple[np.ndarray, np.ndarray]:
    """The symmetries of a ``height x width`` board observed as ``[height, width, planes]``
    (flattened row-major, e.g. own and opponent marks) as index permutations ``(obs_perms
    [G, height * width * planes], action_perms [G, A])``: under symmetry ``g`` the
    transformed observation is ``obs[obs_perms[g]]`` and its action ``a`` is the original
    action ``action_perms[g, a]``. Row 0 is the identity.

    ``square``: the eight rotations and reflections of a square board (tic-tac-toe), else
    the identity and the left-right mirror (connect four). ``moves``: ``"cells"`` (an
    action is a cell index, ``A = height * width``) or ``"columns"`` (an action is a
    column, ``A = width``; with ``square=False`` only)."""
    if moves not in ("cells", "columns") or (moves == "columns" and square):
        raise ValueError(f"board_symmetries: moves must be 'cells', or 'columns' with "
                         f"square=False; got {moves!r} (square={square})")
    if square and height != width:
        raise ValueError(f"board_symmetries: square=True needs height == width, got "
                         f"{height} x {width}")
    grid = np.arange(height * width).reshape(height, width)
    if square:
        boards = [np.rot90(g, k) for g in (grid, grid.T) for k in range(4)]
    else:
        boards = [grid, grid[:, ::-1]]
    cells = np.stack([b.reshape(-1) for b in boards]).astype(np.int32)
    obs_perms = (planes * cells[:, :, None] + np.arange(planes)).reshape(len(boards), -1)
    action_perms = cells if moves == "cells" else cells[:, :width]  # row 0: the columns
    return obs_perms.astype(np.int32), action_perms.astype(np.int32)


def canonical_view(
    obs: jax.Array, mask: jax.Array, obs_perms: jax.Array, action_perms: jax.Array
) -> Tuple[jax.Array, jax.Array, jax.Array]:
    """One player's view ``obs [D]``, ``mask [A]`` -> the same view under the symmetry
    (of ``G``, given as ``obs_perms [G, D]``, ``action_perms [G, A]``, e.g. an env's
    ``symmetries()``) whose observation is lexicographically smallest.

    Returns ``(obs [D], mask [A], cells [A])``: the canonical view, its mask, and for each
    canonical action the original action it stands for (play ``cells[a]`` for a canonical
    choice ``a``). Symmetric views give the same canonical view. Ties (a view that some
    symmetries leave unchanged) go to the first such symmetry in ``obs_perms``.
    """
    obs_perms = jnp.asarray(obs_perms)
    action_perms = jnp.asarray(action_perms)
    if obs_perms.ndim != 2 or obs_perms.shape[1] != obs.shape[-1]:
        raise ValueError(f"canonical_view: obs_perms must be [G, {obs.shape[-1]}], "
                         f"got {obs_perms.shape}")
    if action_perms.shape != (obs_perms.shape[0], mask.shape[-1]):
        raise ValueError(f"canonical_view: action_perms must be [{obs_perms.shape[0]}, "
                         f"{mask.shape[-1]}], got {action_perms.shape}")
    views = obs[obs_perms]  # [G, D]

    def narrow(smallest, column):  # keep the views smallest so far that are smallest here
        low = jnp.min(jnp.where(smallest, column, jnp.max(column)))
        return smallest & (column == low), None

    # The first lexicographically smallest view, found column by column: the same choice as
    # a stable lexsort, without a sort (several times faster on CPU; it runs at every leaf of
    # a search and at every move in training).
    smallest, _ = jax.lax.scan(narrow, jnp.ones(views.shape[0], bool), views.T)
    g = jnp.argmax(smallest)
    cells = action_perms[g]
    return views[g], mask[cells], cells


def mover(mask: jax.Array) -> jax.Array:
    """A turn-based game's ``[2, A]`` action mask -> the player to move (the row with a
    legal action; 0 when no one has one)."""
    return jnp.argmax(mask.sum(-1) > 0).astype(jnp.int32)


def negamax_scores(env, leaf_value: Callable[[jax.Array], jax.Array], state: Any,
                   depth: int) -> jax.Array:
    """Scores ``[A]`` of the mover's moves in ``state``, searched ``depth`` (>= 1, static)
    plies deep: every legal line of play is simulated with ``env.step_env``; a move that
    ends the game scores the mover's reward, else minus the best score of the next mover
    one ply less deep, and after ``depth`` plies ``leaf_value(views [B, D]) -> [B]`` (the
    value of each view's player, who is to move) ends the search. Illegal moves score
    ``-inf``. Assumes a two-player zero-sum turn-based game with deterministic moves and
    rewards only where it ends (tic-tac-toe); costs up to ``A ** depth`` leaf values."""
    require_int("negamax_scores", "depth", depth, 1, "plies")
    num_actions = env.num_actions
    mask = env.action_mask(state)
    to_move = mover(mask)
    step = jax.vmap(lambda a: env.step_env(jax.random.key(0), state, jnp.full((2,), a)))
    obs, child, reward, term, trunc, _ = step(jnp.arange(num_actions))
    ended = jnp.all(term | trunc, axis=-1)
    if depth == 1:
        child_mover = jax.vmap(lambda c: mover(env.action_mask(c)))(child)
        later = -leaf_value(jnp.take_along_axis(obs, child_mover[:, None, None], 1)[:, 0])
    else:
        later = -jnp.max(jax.vmap(lambda c: negamax_scores(env, leaf_value, c, depth - 1))(
            child), axis=-1)
    scores = jnp.where(ended, reward[:, to_move], later)
    return jnp.where(mask[to_move] > 0, scores, -jnp.inf)


def zero_value(views: jax.Array) -> jax.Array:
    """A leaf value of 0 for every view ``[B, D] -> [B]``: with it :func:`negamax_scores`
    proves only what the rules decide within its depth."""
    return jnp.zeros(views.shape[0])


# ------------------------------------------------------------------ turn-based matches
def require_turn_based(env, who: str) -> None:
    """``ValueError`` unless ``env`` is a two-player game with discrete actions and one
    player (one non-zero ``action_mask`` row) to move at a time, e.g. tic-tac-toe."""
    turn_based = False
    if env.num_agents == 2 and env.is_discrete:
        rows = jax.device_get(env.action_mask(env.reset(jax.random.key(0))[1])).sum(-1) > 0
        turn_based = int(rows.sum()) == 1
    if not turn_based:
        raise ValueError(f"{type(env).__name__}: {who} needs a two-player turn-based game with "
                         "discrete actions (one player to move at a time; e.g. tictactoe)")


Player = Callable[..., jax.Array]
"""``(params, state, obs [N, D], mask [N, A], key) -> move []`` int32: the move of the
player to move in one game (``mask``'s non-zero row)."""


def random_player(params, state, obs, mask, key) -> jax.Array:
    """A uniformly random legal move."""
    del params, state, obs
    return random_legal(key, mask[mover(mask)])


def lookahead_player(env) -> Player:
    """Plays a move that ends the game with the mover's best immediate reward (a win) where
    one exists, else a uniformly random legal move (ties drawn uniformly): the one-ply
    baseline (:func:`negamax_scores` with a zero value at the leaves)."""
    def play(params, state, obs, mask, key):
        del params, obs
        scores = negamax_scores(env, zero_value, state, 1)
        best = scores >= jnp.max(scores)
        return random_legal(key, best & (mask[mover(mask)] > 0))

    return play


def policy_player(policy) -> Player:
    """A feed-forward :class:`~jaxmarl_lite.algorithms._common.evaluation.Policy` as a
    player: its move for the mover's row, from a fresh carry at every move."""
    def play(params, state, obs, mask, key):
        del state
        actions, _ = policy.act(params, policy.init_carry(1), obs[None], mask[None],
                                jnp.ones((1,), bool), key)
        return actions[0, mover(mask)].astype(jnp.int32)

    return play


class MatchResult(NamedTuple):
    """Game outcomes from the evaluated player's side, split by the seat it played: index 0
    as the env's first agent (tic-tac-toe's ``player_1``, moving first), index 1 as its
    second."""

    wins: jax.Array  # [2] int32
    draws: jax.Array  # [2] int32
    losses: jax.Array  # [2] int32

    def totals(self) -> Dict[str, int]:
        return {k: int(jax.device_get(getattr(self, k)).sum()) for k in ("wins", "draws",
                                                                          "losses")}


def play_games(env, player: Player, params, opponent: Player, opponent_params,
               key: jax.Array, num_games: int, chunk: Optional[int] = None) -> MatchResult:
    """``num_games`` games of ``player`` against ``opponent`` in a two-player turn-based
    ``env``: ``player`` is agent 0 in the first half of the games and agent 1 in the rest.
    At every ply each side is called only for the unfinished games where it is to move,
    ``chunk`` games per vmapped call (default: half the games, one call per side and ply
    when the seats alternate), so a costly search is not run for finished games or the other
    side's turns; the moves do not depend on ``chunk``. A game is scored by ``player``'s
    return (> 0 a win); an illegal move is whatever the env makes of it (tic-tac-toe: a
    loss). Jittable (``env``, the players, ``num_games`` and ``chunk`` are static)."""
    require_int("play_games", "num_games", num_games, 2, "games (one per seat)")
    chunk = -(-num_games // 2) if chunk is None else chunk
    require_int("play_games", "chunk", chunk, 1, "games per call")
    seat = (jnp.arange(num_games) >= num_games // 2).astype(jnp.int32)
    key, reset_key = jax.random.split(key)
    obs, state = jax.vmap(env.reset)(jax.random.split(reset_key, num_games))

    def moves_of(side: Player, side_params, todo, obs, state, mask, keys):
        """``side``'s moves ``[G]`` in the games where ``todo [G]`` (0 elsewhere)."""
        order = jnp.argsort(~todo, stable=True)  # the games to play first
        order = jnp.concatenate([order, jnp.zeros(-num_games % chunk, order.dtype)])

        def call(i, moves):
            games = jax.lax.dynamic_slice(order, (i * chunk,), (chunk,))
            valid = i * chunk + jnp.arange(chunk) < todo.sum()
            at = lambda x: x[games]  # noqa: E731
            new = jax.vmap(side, in_axes=(None, 0, 0, 0, 0))(
                side_params, jax.tree.map(at, state), obs[games], mask[games], keys[games])
            return moves.at[jnp.where(valid, games, num_games)].set(
                new.astype(jnp.int32), mode="drop")

        calls = (todo.sum() + chunk - 1) // chunk
        return jax.lax.fori_loop(0, calls, call, jnp.zeros((num_games,), jnp.int32))

    def body(carry, key):
        obs, state, returns, over = carry
        keys = jax.vmap(lambda k: jax.random.split(k, 3))(jax.random.split(key, num_games))
        mask = jax.vmap(env.action_mask)(state)
        mine = jax.vmap(mover)(mask) == seat
        move = jnp.where(mine, moves_of(player, params, mine & ~over, obs, state, mask,
                                        keys[:, 0]),
                         moves_of(opponent, opponent_params, ~mine & ~over, obs, state, mask,
                                  keys[:, 1]))
        nobs, nstate, reward, term, trunc, _ = jax.vmap(env.step_env)(
            keys[:, 2], state, jnp.broadcast_to(move[:, None], (num_games, env.num_agents)))
        obs, state = tree_where(over, (obs, state), (nobs, nstate))  # finished stay put
        returns = returns + jnp.where(over, 0.0, reward[jnp.arange(num_games), seat])
        return (obs, state, returns, over | jnp.all(term | trunc, axis=-1)), None

    carry = (obs, state, jnp.zeros((num_games,)), jnp.zeros((num_games,), bool))
    (_, _, returns, _), _ = jax.lax.scan(body, carry, jax.random.split(key,
                                                                       env.max_episode_steps))

    def count(outcome):
        return jnp.stack([jnp.sum(outcome & (seat == s)) for s in (0, 1)]).astype(jnp.int32)

    return MatchResult(count(returns > 0), count(returns == 0), count(returns < 0))
