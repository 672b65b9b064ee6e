"""pgx games through from_pgx: our tic-tac-toe rules cross-checked, the env contract,
matches, bad input."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmarl_lite as jl
from jaxmarl_lite import selfplay
from jaxmarl_lite.algorithms import alphazero as az

pytest.importorskip("pgx")
from jaxmarl_lite.interop.pgx import from_pgx  # noqa: E402

QUICK = az.PRESETS["quick"]



def test_pgx_tictactoe_follows_our_rules():
    """The same random legal move sequences in pgx's tic_tac_toe (through the adapter) and
    ours: the same masks, rewards per seat and game ends at every step."""
    ttt, theirs = jl.make("tictactoe"), from_pgx("tic_tac_toe")

    def game(key):
        _, a = ttt.reset(key)
        _, b = theirs.reset(key)

        def move(carry, key):
            a, b = carry
            mask_a, mask_b = ttt.action_mask(a), theirs.action_mask(b)
            cell = selfplay.random_player((), None, None, mask_a, key)
            actions = jnp.full((2,), cell)
            _, a, ra, ta, _, _ = ttt.step_env(key, a, actions)
            _, b, rb, tb, _, _ = theirs.step_env(key, b, actions)
            return (a, b), (mask_a, mask_b, ra, rb, ta, tb)

        return jax.lax.scan(move, (a, b), jax.random.split(key, 9))[1]

    mask_a, mask_b, ra, rb, ta, tb = jax.jit(jax.vmap(game))(jax.random.split(jax.random.key(0),
                                                                               500))
    np.testing.assert_array_equal(mask_a, mask_b)
    np.testing.assert_array_equal(ra, rb)
    np.testing.assert_array_equal(ta, tb)
    assert float(jnp.abs(ra).sum()) > 100  # games were won, not only drawn


def test_pgx_connect_four_contract_matches_and_bad_input():
    env = from_pgx("connect_four")
    assert env == from_pgx("connect_four") and (env.obs_dim, env.num_actions) == (84, 7)
    jl.check_env(env)
    look = jax.jit(lambda k: selfplay.play_games(env, selfplay.lookahead_player(env), (),
                                                 selfplay.random_player, (), k, 200))
    r = look(jax.random.key(0))
    assert r.totals()["wins"] > 140  # a one-ply lookahead beats a random player
    with pytest.raises(ValueError, match="unknown pgx env 'connect_5'.*connect_four"):
        from_pgx("connect_5")
    with pytest.raises(ValueError, match="give max_episode_steps for 'othello'"):
        from_pgx("othello")
    with pytest.raises(ValueError, match="2048.*two-player"):
        from_pgx("2048", max_episode_steps=100)
    othello = from_pgx("othello", max_episode_steps=60)
    with pytest.raises(ValueError, match="no symmetries known for 'othello'; known for "
                                         "connect_four, tic_tac_toe"):
        az.make_stages(QUICK.replace(augment_symmetries=True), othello)
    with pytest.raises(ValueError, match="state_from_obs"):
        az.make_policy(QUICK, env, num_simulations=4)


def test_pgx_symmetries_commute_with_the_rules():
    """Connect four's mirror: random games and their mirror images (each move's column
    mirrored) show mirrored views and masks, and the same rewards and game ends, at every
    step. pgx's tic-tac-toe has our tic-tac-toe's eight symmetries."""
    for ours, theirs in zip(jl.make("tictactoe").symmetries(),
                            from_pgx("tic_tac_toe").symmetries()):
        np.testing.assert_array_equal(ours, theirs)
    env = from_pgx("connect_four")
    obs_perms, action_perms = env.symmetries()
    assert obs_perms.shape == (2, 84) and action_perms.shape == (2, 7)
    np.testing.assert_array_equal(action_perms[1], np.arange(7)[::-1])
    mirror = jnp.asarray(action_perms[1])

    def game(key):
        obs, a = env.reset(key)
        _, b = env.reset(key)

        def move(carry, key):
            a, b = carry
            col = selfplay.random_player((), None, None, env.action_mask(a), key)
            oa, a, ra, ta, _, _ = env.step_env(key, a, jnp.full((2,), col))
            ob, b, rb, tb, _, _ = env.step_env(key, b, jnp.full((2,), mirror[col]))
            return (a, b), (oa, ob, env.action_mask(a), env.action_mask(b), ra, rb, ta, tb)

        return jax.lax.scan(move, (a, b), jax.random.split(key, 42))[1]

    oa, ob, ma, mb, ra, rb, ta, tb = jax.jit(jax.vmap(game))(
        jax.random.split(jax.random.key(0), 64))
    np.testing.assert_array_equal(ob, oa[..., obs_perms[1]])
    np.testing.assert_array_equal(mb, ma[..., action_perms[1]])
    np.testing.assert_array_equal(ra, rb)
    np.testing.assert_array_equal(ta, tb)
    assert float(jnp.abs(ra).sum()) > 20 and oa[..., ::2].sum() > 0  # games were won
    with pytest.raises(ValueError, match="moves must be 'cells', or 'columns' with square"):
        selfplay.board_symmetries(3, 3, 2, square=True, moves="columns")
    with pytest.raises(ValueError, match="square=True needs height == width, got 6 x 7"):
        selfplay.board_symmetries(6, 7, 2, square=True)


def test_pgx_decisive_depth_finds_the_connect_four_win_and_double_threat():
    """``alphazero.decisive`` on pgx's connect four. After X stacks three in column 0 and O
    three in column 1, X wins in column 0 (depth 1). With X on the bottom row's columns
    2, 3 and O on top of them, X's moves 1 and 4 make an open three (two threats O cannot
    both block): proven wins at depth 3, not at depth 2."""
    env = from_pgx("connect_four")

    def after(columns):
        _, state = env.reset(jax.random.key(0))
        for column in columns:
            _, state, *_ = env.step_env(jax.random.key(0), state, jnp.full((2,), column))
        return jax.tree.map(lambda x: x[None], state)

    zeros = (jnp.zeros((1, 7)), jnp.zeros((1,)))
    decide = jax.jit(az.decisive, static_argnums=(0, 1))
    for columns, depth, wins, value in [((0, 1, 0, 1, 0, 1), 1, [0], 1.0),
                                        ((3, 3, 2, 2), 2, list(range(7)), 0.0),
                                        ((3, 3, 2, 2), 3, [1, 4], 1.0)]:
        logits, v = decide(env, depth, after(columns), *zeros)
        np.testing.assert_array_equal(np.flatnonzero(np.asarray(logits[0]) == 0.0), wins)
        assert float(v[0]) == value
