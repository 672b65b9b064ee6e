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
the square). :func:`canonical_view` maps an observation to one fixed representative of its
symmetry class, so a policy that plays through it sees ~8x fewer distinct positions and
plays symmetric positions the same way.

:func:`negamax_scores` looks a few moves ahead in a two-player zero-sum game with a learned
value at the leaves, so a trained agent can play by search.
"""
from __future__ import annotations

from typing import Any, Callable, Tuple

import jax
import jax.numpy as jnp
from flax import struct

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


def add_if(pool: OpponentPool, params: Params, cond: jax.Array) -> OpponentPool:
    """:func:`add` when ``cond`` (a traced bool) holds, else the pool unchanged."""
    return jax.tree.map(lambda new, old: jnp.where(cond, new, old), add(pool, params), pool)


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
    return jax.tree.map(lambda c, p: jnp.where(is_self, c, p), current, past), is_self


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
