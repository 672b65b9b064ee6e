"""AlphaZero-style self-play: the loss by hand, the search's signs and masks, value targets,
determinism, vmap, learning on tic-tac-toe, pgx games, bad input."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmarl_lite as jl
from jaxmarl_lite.algorithms import alphazero as az
from jaxmarl_lite.algorithms import get
from jaxmarl_lite.envs.tictactoe import TicTacToeState
from jaxmarl_lite.envs.tictactoe_minimax import exhaustive_eval, policy_moves

from .train_checks import assert_deterministic_and_vmappable

QUICK = az.PRESETS["quick"]


@pytest.fixture(scope="module")
def ttt():
    return jl.make("tictactoe")


def test_loss_hand_checked(ttt):
    net = az.make_net(QUICK, ttt)
    params = az.init_params(QUICK, ttt, jax.random.key(0))
    view = jax.random.bernoulli(jax.random.key(1), 0.3, (3, 18)).astype(jnp.float32)
    mask = jnp.ones((3, 9)).at[0, :4].set(0.0)
    policy = jnp.zeros((3, 9)).at[:, 5].set(0.5).at[:, 8].set(0.5)
    value = jnp.array([1.0, -1.0, 0.0])
    valid = jnp.array([True, True, False])
    total, (pl, vl) = az.loss(params, az.Position(view, mask, policy, value, valid), net=net,
                              vf_coef=0.5)
    logits, v = net.apply(params, view)
    logp = jax.nn.log_softmax(jnp.where(mask > 0, logits, -jnp.inf))
    ce = -(0.5 * logp[:, 5] + 0.5 * logp[:, 8])
    np.testing.assert_allclose(pl, ce[:2].mean(), rtol=1e-5)
    np.testing.assert_allclose(vl, ((v - value) ** 2)[:2].mean(), rtol=1e-5)
    np.testing.assert_allclose(total, pl + 0.5 * vl, rtol=1e-6)
    with pytest.raises(AssertionError):  # unbatched input is refused by the shape check
        az.loss(params, az.Position(view[0], mask[0], policy[0], value[0], valid[0]), net=net,
                vf_coef=0.5)


def _position(env, board):
    board = jnp.asarray(board, jnp.int32)
    marks = int(jnp.sum(board != 0))
    state = TicTacToeState(board=board, mover=jnp.int32(marks % 2), step=jnp.int32(marks),
                           done=jnp.bool_(False))
    return env.get_obs(state), state


@pytest.mark.parametrize("board, answer", [
    ([1, 1, 0, 2, 2, 0, 0, 0, 0], 2),  # X to move wins at cell 2 (and must not let O win at 5)
    ([1, 0, 0, 2, 2, 0, 1, 0, 0], 5),  # X to move must block O's row at cell 5
    ([2, 1, 0, 0, 1, 0, 0, 0, 0], 7),  # O to move must block X's column at cell 7
])
def test_puct_search_on_the_true_dynamics_wins_and_blocks_with_an_untrained_net(
        ttt, board, answer):
    """Rewards, the sign flip between players and masks in the search: with enough
    simulations PUCT finds the winning move or the only block from random priors (Gumbel's
    deterministic interior selection need not: it trusts the priors for the replies)."""
    cfg = QUICK.replace(search="muzero")
    params = az.init_params(cfg, ttt, jax.random.key(0))
    obs, state = _position(ttt, board)
    batch = jax.tree.map(lambda x: x[None], (obs, state))
    out = jax.jit(lambda p, o, s, k: az.search(cfg, ttt, az.make_net(cfg, ttt), p, o, s, k, 400,
                                                deterministic=True))(params, *batch,
                                                                     jax.random.key(2))
    assert int(out.action[0]) == answer
    occupied = np.asarray(board) != 0
    assert np.all(np.asarray(out.action_weights[0])[occupied] == 0.0)  # masks respected
    np.testing.assert_allclose(out.action_weights.sum(), 1.0, rtol=1e-5)
    gumbel = az.search(QUICK, ttt, az.make_net(QUICK, ttt), params, *batch, jax.random.key(2),
                       64, deterministic=True)
    assert np.all(np.asarray(gumbel.action_weights[0])[occupied] == 0.0)
    if board[2] == 0 and board[:2] == [1, 1] and sum(board) % 3 == 2:  # X wins at the root
        assert int(gumbel.action[0]) == answer


def test_decisive_depth_wins_blocks_and_proves_where_few_simulations_miss(ttt):
    """With ``decisive_depth`` 1 or 2 a 12-simulation PUCT search from an untrained net takes
    the immediate win and blocks the opponent's, for every key (without it, it misses
    some). ``decisive`` by hand: depth 1 narrows a position with a winning move to it and
    values it at the win; depth 2 also drops the moves that allow an immediate win, and
    values a position where every move does at the loss."""
    boards = [([1, 1, 0, 2, 2, 0, 0, 0, 0], 2), ([1, 0, 0, 2, 2, 0, 1, 0, 0], 5),
              ([2, 1, 0, 0, 1, 0, 0, 0, 0], 7), ([0, 2, 0, 1, 1, 0, 0, 0, 2], 5)]
    obs, state = jax.tree.map(lambda *x: jnp.stack(x), *[_position(ttt, b) for b, _ in boards])
    answers = np.array([a for _, a in boards])
    params = az.init_params(QUICK, ttt, jax.random.key(0))
    right = {}
    for depth in (0, 1, 2):
        cfg = QUICK.replace(search="muzero", decisive_depth=depth)
        run = jax.jit(lambda k, cfg=cfg: az.search(cfg, ttt, az.make_net(cfg, ttt), params, obs,
                                                   state, k, 12, deterministic=True).action)
        right[depth] = np.array([np.asarray(run(jax.random.key(k))) == answers
                                 for k in range(8)])
    assert right[1].all() and right[2].all(), right
    assert not right[0].all()

    # X to win (rows 0 and 3), blocks (rows 1 and 2), and O facing two threats (row 4)
    _, lost = _position(ttt, [1, 1, 0, 1, 2, 0, 0, 0, 2])
    state = jax.tree.map(lambda x, y: jnp.concatenate([x, y[None]]), state, lost)
    logits, value = jnp.zeros((5, 9)), jnp.full((5,), 0.25)
    legal = np.asarray(jax.vmap(ttt.action_mask)(state)).max(1) > 0
    kept = {}
    for depth in (1, 2):
        out_logits, out_value = jax.jit(az.decisive, static_argnums=(0, 1))(
            ttt, depth, state, logits, value)
        kept[depth] = (np.asarray(out_logits) == 0.0) & legal
        np.testing.assert_array_equal(
            out_value, [1.0, 0.25, 0.25, 1.0, 0.25 if depth == 1 else -1.0])
    np.testing.assert_array_equal(kept[1], np.stack([np.arange(9) == 2, legal[1], legal[2],
                                                     np.arange(9) == 5, legal[4]]))
    np.testing.assert_array_equal(kept[2][1:3], [np.arange(9) == 5, np.arange(9) == 7])
    np.testing.assert_array_equal(kept[2][4], legal[4])  # every move loses: none dropped
    with pytest.raises(TypeError, match="decisive_depth"):
        QUICK.replace(decisive_depth=True)
    with pytest.raises(ValueError, match="decisive_depth must be >= 0"):
        QUICK.replace(decisive_depth=-1)


def test_self_play_value_targets_are_each_movers_outcome(ttt):
    cfg = QUICK
    net = az.make_net(cfg, ttt)
    params = az.init_params(cfg, ttt, jax.random.key(0))
    pos, outcome, moves = jax.jit(lambda p, k: az.self_play(cfg, ttt, net, p, k))(
        params, jax.random.key(4))
    valid = np.asarray(pos.valid)  # [T, E]
    np.testing.assert_array_equal(valid.sum(0), moves)
    assert np.all(moves >= 5) and np.all(moves <= 9)
    # tic-tac-toe alternates from player_1: the target is the outcome for the mover
    sign = np.where(np.arange(9) % 2 == 0, 1.0, -1.0)[:, None]
    expected = np.asarray(outcome)[None, :] * sign
    np.testing.assert_allclose(np.where(valid, pos.value, 0.0), np.where(valid, expected, 0.0))
    legal = np.asarray(pos.mask) > 0
    assert np.all(np.asarray(pos.policy)[~legal & valid[..., None]] == 0.0)


@pytest.mark.parametrize("search", ["gumbel", "muzero"])
def test_only_the_first_temperature_moves_are_explored(ttt, search):
    """After ``temperature_moves`` moves play follows the search's best move, so games with
    the same opening (here the first move) continue identically (MuZero keeps
    Dirichlet noise in the search's priors: its most visited move may still vary, so there
    only the opening's variety is checked)."""
    cfg = QUICK.replace(search=search, temperature_moves=1, num_simulations=8)
    net = az.make_net(cfg, ttt)
    params = az.init_params(cfg, ttt, jax.random.key(0))
    views = {}
    for moves in (1, None):
        pos, _, _ = jax.jit(lambda p, k, c=cfg.replace(temperature_moves=moves):
                            az.self_play(c, ttt, net, p, k))(params, jax.random.key(3))
        views[moves] = np.asarray(pos.view).transpose(1, 0, 2)  # [E, T, D]
    games = views[1]  # 16 games, 9 openings: some share one
    openings = {g[1].tobytes() for g in games}
    assert len(openings) > 1  # the first move is still explored
    if search == "gumbel":
        for opening in openings:
            same = [g for g in games if g[1].tobytes() == opening]
            assert all(np.array_equal(same[0], g) for g in same[1:])
        # exploring every move: games sharing an opening part ways later
        late = {}
        for g in views[None]:
            late.setdefault(g[1].tobytes(), set()).add(g.tobytes())
        assert any(len(v) > 1 for v in late.values())


def test_random_openings_are_played_but_not_trained_on(ttt):
    """Each game opens with 0..k uniformly random moves: those positions are not training
    positions; every later move of the game is, up to its end."""
    k = 3
    cfg = QUICK.replace(random_opening_moves=k, num_simulations=4)
    net = az.make_net(cfg, ttt)
    params = az.init_params(cfg, ttt, jax.random.key(0))
    pos, _, moves = jax.jit(lambda p, key: az.self_play(cfg, ttt, net, p, key))(
        params, jax.random.key(5))
    valid = np.asarray(pos.valid).T  # [E, T]
    first = valid.argmax(1)  # the first trained position of each game
    assert set(first.tolist()) == set(range(k + 1))  # 16 games draw every length 0..k
    for game, start, n in zip(valid, first, np.asarray(moves)):
        assert not game[:start].any() and game[start:n].all() and not game[n:].any()
    with pytest.raises(ValueError, match="random_opening_moves must be >= 0"):
        az.Config(random_opening_moves=-1)
    with pytest.raises(TypeError, match="random_opening_moves"):
        az.Config(random_opening_moves=1.5)


@pytest.fixture(scope="module")
def quick_train(ttt):
    return jax.jit(az.make_train(QUICK, ttt))


def test_determinism_and_vmap(quick_train):
    out = assert_deterministic_and_vmappable(quick_train, jax.random.key(3), check_metrics=False)
    assert {"policy_loss", "value_loss", "eval_draw_minimax", "eval_loss_minimax",
            "first_player_win"} <= set(out.metrics)
    assert np.all(np.isfinite(out.metrics["policy_loss"]))
    assert get("alphazero") is az


@pytest.mark.xla_default  # a long run: optimised code pays for its compile
def test_learns_tictactoe_beyond_the_untrained_net(ttt):
    """A short run: the trained net alone loses fewer lines to every opponent reply than the
    same net untrained, judged exhaustively."""
    cfg = az.PRESETS["tictactoe"].replace(total_timesteps=64 * 9 * 30, eval_every=30,
                                          search="gumbel", num_simulations=16)
    out = jax.jit(az.make_train(cfg, ttt))(jax.random.key(0))
    policy = az.make_policy(cfg, ttt)
    before = exhaustive_eval(policy_moves(policy, az.init_params(cfg, ttt, jax.random.key(0)),
                                          jax.random.key(0)))
    after = exhaustive_eval(policy_moves(policy, out.carry.params, jax.random.key(0)))
    lost = lambda r: sum(s.lost_any / s.lines_any for s in r)  # noqa: E731
    assert lost(after) < 0.5 * lost(before), (before, after)
    assert float(out.metrics["eval_loss_random"][-1]) < 0.1


def test_policy_with_search_plays_legal_moves_in_matches(ttt, quick_train):
    from jaxmarl_lite.envs.tictactoe_minimax import play_matches

    params = quick_train(jax.random.key(0)).carry.params
    for sims in (0, 8):
        r = play_matches(az.make_policy(QUICK, ttt, sims), params, jax.random.key(1), 40,
                         "random")
        assert sum(r.totals().values()) == 40


def test_bad_input(ttt):
    with pytest.raises(ValueError, match="num_simulations must be > 0"):
        az.Config(num_simulations=0)
    with pytest.raises(ValueError, match="eval_games must be >= 2"):
        az.Config(eval_games=1)
    with pytest.raises(ValueError, match="gumbel_scale must be >= 0"):
        az.Config(gumbel_scale=-1.0)
    with pytest.raises(ValueError, match=r"search must be one of \('gumbel', 'muzero'\)"):
        az.Config(search="alphabeta")
    with pytest.raises(ValueError, match="dirichlet_fraction must be in"):
        az.Config(dirichlet_fraction=1.5)
    with pytest.raises(ValueError, match="temperature_moves must be an int >= 0"):
        az.Config(temperature_moves=-1)
    for bad in (1.5, True):
        with pytest.raises(TypeError, match=r"temperature_moves expects Optional\[int\]"):
            az.Config(temperature_moves=bad)
    with pytest.raises(ValueError, match="two-player turn-based"):
        az.make_stages(QUICK, jl.make("simple_spread"))
    with pytest.raises(ValueError, match="less than one update"):
        az.make_stages(QUICK.replace(total_timesteps=8), ttt)
    with pytest.raises(ValueError, match="num_simulations must be an int >= 0"):
        az.make_player(QUICK, ttt, -1)
