"""Opponent-pool mechanics: ring order, sampling only written slots, self-play share."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmarl_lite import selfplay as sp


def snapshot(v):
    """A small parameter pytree whose every leaf encodes the version ``v``."""
    return {"w": jnp.full((2, 3), v, jnp.float32), "b": {"bias": jnp.full((3,), v, jnp.float32)}}


def test_init_pool_shapes_and_validation():
    pool = sp.init_pool(snapshot(0.0), 4)
    assert pool.pool_size == 4
    assert pool.params["w"].shape == (4, 2, 3) and pool.params["b"]["bias"].shape == (4, 3)
    assert int(pool.count) == 0 and int(pool.index) == 0
    with pytest.raises(ValueError, match="pool_size"):
        sp.init_pool(snapshot(0.0), 0)
    with pytest.raises(ValueError, match="leaves"):
        sp.init_pool({}, 3)


def test_ring_overwrites_oldest_first():
    pool = sp.init_pool(snapshot(-1.0), 3)
    add = jax.jit(sp.add)
    counts, indices = [], []
    for v in range(1, 6):  # versions 1..5 into 3 slots
        pool = add(pool, snapshot(float(v)))
        counts.append(int(pool.count))
        indices.append(int(pool.index))
    assert counts == [1, 2, 3, 3, 3] and indices == [1, 2, 0, 1, 2]
    # slots hold [4, 5, 3]: versions 1 and 2 were overwritten, oldest first
    np.testing.assert_array_equal(pool.params["w"][:, 0, 0], [4, 5, 3])
    np.testing.assert_array_equal(pool.params["b"]["bias"][:, 2], [4, 5, 3])
    np.testing.assert_array_equal(sp.get(pool, 1)["w"], np.full((2, 3), 5.0))


def test_add_if_inside_scan():
    def body(pool, t):
        return sp.add_if(pool, snapshot(t.astype(jnp.float32)), t % 3 == 0), None

    scan = jax.jit(lambda p: jax.lax.scan(body, p, jnp.arange(10)))
    pool, _ = scan(sp.init_pool(snapshot(0.0), 8))
    assert int(pool.count) == 4 and int(pool.index) == 4  # t = 0, 3, 6, 9
    np.testing.assert_array_equal(pool.params["w"][:5, 0, 0], [0, 3, 6, 9, 0])


def test_tree_where_applies_a_scalar_or_per_game_condition_along_leading_axes():
    new = {"board": jnp.ones((3, 2, 2)), "turn": jnp.ones((3,), jnp.int32)}
    old = jax.tree.map(jnp.zeros_like, new)
    per_game = sp.tree_where(jnp.array([True, False, True]), new, old)
    np.testing.assert_array_equal(per_game["board"].sum(axis=(1, 2)), [4, 0, 4])
    np.testing.assert_array_equal(per_game["turn"], [1, 0, 1])
    assert jax.tree.map(lambda x: x.dtype, per_game) == jax.tree.map(lambda x: x.dtype, new)
    for cond, total in ((True, 15), (False, 0)):  # a Python bool or a traced scalar
        picked = jax.jit(sp.tree_where)(jnp.asarray(cond), new, old)
        assert sum(float(x.sum()) for x in jax.tree.leaves(picked)) == total
        assert sum(float(x.sum()) for x in jax.tree.leaves(sp.tree_where(cond, new, old))) == total


def test_sampling_only_filled_slots_uniformly():
    pool = sp.init_pool(snapshot(-1.0), 5)
    for v in (10.0, 20.0, 30.0):
        pool = sp.add(pool, snapshot(v))
    keys = jax.random.split(jax.random.key(0), 3000)
    drawn = jax.jit(jax.vmap(sp.sample, in_axes=(None, 0)))(pool, keys)
    values = np.asarray(drawn["w"][:, 0, 0])
    assert set(np.unique(values)) == {10.0, 20.0, 30.0}  # never the unwritten slots (-1)
    np.testing.assert_array_equal(drawn["b"]["bias"][:, 0], values)  # leaves from one slot
    freq = np.array([(values == v).mean() for v in (10.0, 20.0, 30.0)])
    np.testing.assert_allclose(freq, 1 / 3, atol=0.04)
    # an empty pool returns the parameters it was created with
    empty = sp.init_pool(snapshot(7.0), 5)
    assert float(sp.sample(empty, jax.random.key(1))["w"][0, 0]) == 7.0


def test_share_of_self_play_and_pool_opponents():
    pool = sp.init_pool(snapshot(0.0), 4)
    for v in (1.0, 2.0):
        pool = sp.add(pool, snapshot(v))
    current = snapshot(99.0)
    choose = jax.jit(sp.choose_opponents, static_argnums=3)
    for share in (0.0, 0.3, 1.0):
        opp, is_self = choose(pool, current, jax.random.key(2), 4000, share)
        w = np.asarray(opp["w"][:, 0, 0])
        assert opp["w"].shape == (4000, 2, 3) and is_self.shape == (4000,)
        np.testing.assert_array_equal(w == 99.0, np.asarray(is_self))
        assert abs(float(is_self.mean()) - share) < 0.03
        assert set(np.unique(w[~np.asarray(is_self)])) <= {1.0, 2.0}
    # with nothing stored yet, every episode is self-play
    _, is_self = choose(sp.init_pool(snapshot(0.0), 4), current, jax.random.key(3), 100, 0.0)
    assert bool(is_self.all())


def test_choose_opponent_single_episode_and_traced_share():
    pool = sp.add(sp.init_pool(snapshot(0.0), 2), snapshot(5.0))

    @jax.jit
    def pick(key, share):
        return sp.choose_opponent(pool, snapshot(9.0), key, share)

    params, is_self = pick(jax.random.key(0), jnp.float32(1.0))
    assert bool(is_self) and float(params["w"][0, 0]) == 9.0
    params, is_self = pick(jax.random.key(0), jnp.float32(0.0))
    assert not bool(is_self) and float(params["w"][0, 0]) == 5.0


def _random_views(n, seed):
    """``n`` random tic-tac-toe views (``[n, 18]`` planes, ``[n, 9]`` empty-cell masks)."""
    board = np.random.default_rng(seed).integers(0, 3, (n, 9))
    obs = np.stack([board == 1, board == 2], -1).reshape(n, 18).astype(np.float32)
    return jnp.asarray(obs), jnp.asarray((board == 0).astype(np.float32))


def test_canonical_view_is_shared_by_symmetric_views_and_maps_actions_back():
    import jaxmarl_lite as jl

    obs_perms, action_perms = jl.make("tictactoe").symmetries()
    canon = jax.jit(jax.vmap(lambda o, m: sp.canonical_view(o, m, obs_perms, action_perms)))
    obs, mask = _random_views(64, 0)
    c_obs, c_mask, cells = canon(obs, mask)
    # the canonical view is the original's cells taken in the order `cells`
    np.testing.assert_array_equal(c_mask, np.take_along_axis(np.asarray(mask), cells, 1))
    planes = np.asarray(obs).reshape(64, 9, 2)
    np.testing.assert_array_equal(
        np.asarray(c_obs).reshape(64, 9, 2), np.take_along_axis(planes, cells[..., None], 1))
    assert all(sorted(row) == list(range(9)) for row in np.asarray(cells))
    # every transform of a view has the same canonical view; canonical views are fixed points
    for g in range(8):
        t_obs, t_mask, _ = canon(obs[:, obs_perms[g]], mask[:, action_perms[g]])
        np.testing.assert_array_equal(t_obs, c_obs)
        np.testing.assert_array_equal(t_mask, c_mask)
    again, _, _ = canon(c_obs, c_mask)
    np.testing.assert_array_equal(again, c_obs)
    # distinct classes stay distinct: views with a different canonical view are not symmetric
    assert len({tuple(r) for r in np.asarray(c_obs)}) > 32


def test_canonical_view_picks_the_first_lexicographically_smallest_view():
    # Generic permutations (not a group) and views with many ties: the chosen symmetry is the
    # first of the lexicographically smallest views (numpy's stable lexsort as the reference).
    rng = np.random.default_rng(0)
    obs_perms = np.stack([rng.permutation(5) for _ in range(6)] + [np.arange(5)])
    action_perms = np.stack([rng.permutation(4) for _ in range(7)])
    obs = rng.integers(0, 3, (500, 5)).astype(np.float32)
    obs[:50] = 1.0  # every view equal: the first symmetry
    canon = jax.jit(jax.vmap(lambda o, m: sp.canonical_view(o, m, obs_perms, action_perms)))
    c_obs, c_mask, cells = canon(obs, np.ones((500, 4), np.int32))
    views = obs[:, obs_perms]  # [500, 7, 5]
    first = np.array([np.lexsort(v.T[::-1])[0] for v in views])
    np.testing.assert_array_equal(c_obs, views[np.arange(500), first])
    np.testing.assert_array_equal(cells, action_perms[first])
    assert np.all(first[:50] == 0) and len(set(first.tolist())) == 7


def test_canonical_view_rejects_wrong_permutation_shapes():
    obs, mask = _random_views(1, 1)
    with pytest.raises(ValueError, match=r"obs_perms must be \[G, 18\]"):
        sp.canonical_view(obs[0], mask[0], np.zeros((8, 9), np.int32), np.zeros((8, 9), np.int32))
    with pytest.raises(ValueError, match=r"action_perms must be \[8, 9\]"):
        sp.canonical_view(obs[0], mask[0], np.zeros((8, 18), np.int32), np.zeros((4, 9), np.int32))


def test_mover_and_negamax_scores_on_a_tictactoe_position():
    """X (to move) holds 0 and 1, O holds 3 and 4. One ply: 2 wins (+1), the rest are
    scored by minus the leaf value of O's view; two plies: every move but 2 and the block
    at 5 lets O win (-1), after the block the leaf value of X's view counts."""
    from jaxmarl_lite.envs.tictactoe import TicTacToe

    env = TicTacToe()
    board = jnp.array([1, 1, 0, 2, 2, 0, 0, 0, 0], jnp.int32)
    state = env.state_from_obs(env.get_obs(env.reset_env(jax.random.key(0))[1].replace(
        board=board)))
    assert int(sp.mover(env.action_mask(state))) == 0
    assert int(sp.mover(jnp.zeros((2, 9)).at[1, 3].set(1.0))) == 1
    seen = []

    def leaf(views):  # 0.25 for every position, and remember whose views were asked for
        seen.append(views)
        return jnp.full(views.shape[:1], 0.25)

    inf = -np.inf
    one = np.asarray(sp.negamax_scores(env, leaf, state, 1))
    np.testing.assert_allclose(one, [inf, inf, 1, inf, inf, -0.25, -0.25, -0.25, -0.25])
    # the leaves after one ply are O's views: O's own marks (cells 3, 4) in the first plane
    o_views = np.asarray(seen[-1]).reshape(-1, 9, 2)
    assert (o_views[5, [3, 4], 0] == 1).all() and (o_views[5, [0, 1, 5], 1] == 1).all()
    two = np.asarray(sp.negamax_scores(env, leaf, state, 2))
    np.testing.assert_allclose(two, [inf, inf, 1, inf, inf, 0.25, -1, -1, -1])
    with pytest.raises(ValueError, match="depth must be an int >= 1"):
        sp.negamax_scores(env, leaf, state, 0)


def test_play_games_matches_a_game_by_game_reference_and_calls_each_side_on_its_turns():
    """``play_games`` against the definition played one game at a time with the same keys
    (random player vs the one-ply lookahead on tic-tac-toe): the same wins, draws and losses
    per seat for any ``chunk``; with ``chunk=1`` each side is called exactly once per move it
    makes (never for a finished game or the other side's turn)."""
    from jaxmarl_lite.envs.tictactoe import TicTacToe

    env, games, key = TicTacToe(), 6, jax.random.key(5)
    calls = {}

    def counted(name, side):
        def play(params, state, obs, mask, k):
            jax.debug.callback(lambda m: calls.__setitem__(name, calls.get(name, 0) + 1),
                               sp.mover(mask))
            return side(params, state, obs, mask, k)
        return play

    player, opponent = sp.random_player, sp.lookahead_player(env)
    ply_key, reset_key = jax.random.split(key)
    ply_keys = jax.random.split(ply_key, env.max_episode_steps)
    step, moves = jax.jit(env.step_env), {"player": 0, "opponent": 0}
    outcome = np.zeros((3, 2), int)  # wins, draws, losses x seat
    for g, reset in enumerate(jax.random.split(reset_key, games)):
        seat, total = int(g >= games // 2), 0.0
        obs, state = env.reset(reset)
        for t in range(env.max_episode_steps):
            act_key, opp_key, step_key = jax.random.split(jax.random.split(ply_keys[t],
                                                                           games)[g], 3)
            mask = env.action_mask(state)
            mine = int(sp.mover(mask)) == seat
            moves["player" if mine else "opponent"] += 1
            move = (player(None, state, obs, mask, act_key) if mine
                    else opponent(None, state, obs, mask, opp_key))
            obs, state, reward, term, trunc, _ = step(step_key, state, jnp.full((2,), move))
            total += float(reward[seat])
            if bool(jnp.all(term | trunc)):
                break
        outcome[0 if total > 0 else 1 if total == 0 else 2, seat] += 1
    assert outcome[0].sum() and outcome[2].sum()  # both sides won games
    for chunk in (1, 2, None):
        calls.clear()
        r = jax.jit(lambda k, c=chunk: sp.play_games(
            env, counted("player", player), None, counted("opponent", opponent), None, k,
            games, c))(key)
        np.testing.assert_array_equal(np.stack([r.wins, r.draws, r.losses]), outcome)
        if chunk == 1:
            assert calls == moves
    with pytest.raises(ValueError, match="chunk must be an int >= 1"):
        sp.play_games(env, player, None, opponent, None, key, games, 0)
