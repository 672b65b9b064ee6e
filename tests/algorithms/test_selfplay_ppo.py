"""Self-play PPO on tic-tac-toe: the learner's single-agent view, determinism, learning."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxmarl_lite as jl
from jaxmarl_lite import selfplay
from jaxmarl_lite.algorithms import selfplay_ppo as sp
from jaxmarl_lite.envs.tictactoe_minimax import play_matches

ENV = jl.make("tictactoe")
QUICK = sp.PRESETS["quick"]


def _first_empty_cell_params(params, scale=30.0):
    """Actor logits ``scale * (9 - cell)`` regardless of the board: both sides play the
    first empty cell (deviations have probability ~e^-30 at the default scale)."""
    actor = jax.tree.map(lambda x: x, params.actor)
    last = sorted(actor["params"])[-1]
    actor["params"][last]["kernel"] = jnp.zeros_like(actor["params"][last]["kernel"])
    actor["params"][last]["bias"] = scale * (9.0 - jnp.arange(9.0))
    return params._replace(actor=actor)


def test_single_agent_view_of_scripted_games():
    """First-empty-cell play: X takes 0, 2, 4, 6 and wins on its 4th move (the 2-4-6
    diagonal). As X the learner's decisions get rewards 0, 0, 0, +1 (the last one ends the
    game); as O (after the opponent opened in cell 0) 0, 0, -1, the opponent winning on its
    reply."""
    config = QUICK.replace(num_envs=8)
    stages = sp.make_stages(config, ENV)
    carry = jax.jit(stages.init)(jax.random.key(0))
    params = _first_empty_cell_params(carry.params)
    games = carry.games._replace(opponent=jax.tree.map(
        lambda x: jnp.broadcast_to(x, (8,) + x.shape), params))
    pool = selfplay.init_pool(params, 2)
    game = sp.make_game(config, ENV)
    # restart every env's game with these opponents (fresh seats; O-games get X's opening)
    blank_obs, blank_state = jax.vmap(ENV.reset)(jax.random.split(jax.random.key(1), 8))
    games = games._replace(obs=blank_obs, state=blank_state)
    games, _ = jax.vmap(game.new_games, in_axes=(None, None, 0, None, 0))(
        params, pool, games, True, jax.random.split(jax.random.key(2), 8))
    step = jax.jit(jax.vmap(game.decision, in_axes=(None, None, 0, 0)))
    trs = []
    for k in jax.random.split(jax.random.key(3), 14):
        games, tr = step(params, pool, games, jax.random.split(k, 8))
        trs.append(jax.device_get(tr))
    rewards = np.stack([t["reward"] for t in trs])
    done = np.stack([t["done"] for t in trs])
    seat = np.stack([t["seat"] for t in trs])
    steps = np.stack([t["env_steps"] for t in trs])
    obs = np.stack([t["obs"] for t in trs])
    checked = {0: 0, 1: 0}
    for e in range(8):
        start = 0
        for t in np.flatnonzero(done[:, e]):
            s = seat[start, e]
            expected = [0, 0, 0, 1] if s == 0 else [0, 0, -1]
            np.testing.assert_array_equal(rewards[start:t + 1, e], expected)
            assert (seat[start:t + 1, e] == s).all()
            # O's first view: the opponent's cross in cell 0 (plane 1 = the other player)
            first = np.zeros(18)
            if s == 1:
                first[1] = 1.0
            np.testing.assert_array_equal(obs[start, e], first)
            # env steps of the game: 7 moves in all (the opening counted where it happened)
            checked[int(s)] += 1
            start = t + 1
    assert checked[0] > 0 and checked[1] > 0, checked
    assert set(np.unique(steps)) <= {1, 2, 3}


def _blank_games_against_first_empty_cell(n, scale=30.0):
    """``n`` empty boards whose opponent prefers the first empty cell (logits ``scale *
    (9 - cell)``) -> (params, pool, games)."""
    carry = jax.jit(sp.make_stages(QUICK.replace(num_envs=n), ENV).init)(jax.random.key(0))
    params = _first_empty_cell_params(carry.params, scale)
    blank_obs, blank_state = jax.vmap(ENV.reset)(jax.random.split(jax.random.key(1), n))
    games = carry.games._replace(obs=blank_obs, state=blank_state, opponent=jax.tree.map(
        lambda x: jnp.broadcast_to(x, (n,) + x.shape), params))
    return params, selfplay.init_pool(params, 2), games


def test_random_opponent_share():
    """Games against the random player open anywhere; games against a first-empty-cell
    policy always open in cell 0, unless its moves are replaced by random ones
    (``opponent_random_move_prob``)."""
    n = 64
    game_of = {p: sp.make_game(QUICK.replace(random_opponent_prob=p), ENV) for p in (0.0, 1.0)}
    game_of["eps"] = sp.make_game(QUICK.replace(opponent_random_move_prob=1.0), ENV)
    params, pool, games = _blank_games_against_first_empty_cell(n)
    openings = {}
    for p, game in game_of.items():
        started, steps = jax.jit(jax.vmap(game.new_games, in_axes=(None, None, 0, None, 0)))(
            params, pool, games, True, jax.random.split(jax.random.key(2), n))
        assert bool((started.random_opponent == (p == 1.0)).all())  # "eps": not random games
        o_games = np.flatnonzero(np.asarray(steps))  # learner is O: the opponent opened
        assert len(o_games) > 10
        # the learner's (O's) view: plane 1 holds the opponent's cross
        views = np.asarray(started.obs)[o_games, 1].reshape(len(o_games), 9, 2)[..., 1]
        openings[p] = views.argmax(-1)
    assert set(openings[0.0]) == {0}
    assert len(set(openings[1.0])) >= 5, openings[1.0]
    assert len(set(openings["eps"])) >= 5, openings["eps"]


def test_greedy_opponents_play_their_most_likely_move():
    """An opponent that only leans to the first empty cell (logits 0.3 * (9 - cell)) opens
    in several cells when it samples and always in cell 0 with ``greedy_opponents``."""
    n = 128
    params, pool, games = _blank_games_against_first_empty_cell(n, scale=0.3)
    openings = {}
    for greedy in (False, True):
        game = sp.make_game(QUICK.replace(greedy_opponents=greedy), ENV)
        started, steps = jax.jit(jax.vmap(game.new_games, in_axes=(None, None, 0, None, 0)))(
            params, pool, games, True, jax.random.split(jax.random.key(2), n))
        o_games = np.flatnonzero(np.asarray(steps))
        views = np.asarray(started.obs)[o_games, 1].reshape(len(o_games), 9, 2)[..., 1]
        openings[greedy] = set(views.argmax(-1))
    assert openings[True] == {0}
    assert len(openings[False]) >= 4, openings[False]


def test_exploiter_and_rival_opponents():
    """``exploiter_prob=1``: every game's opponent is the exploiter (a random player where
    the game is a random-opponent one, as before); 0: none is. A ``rival`` (the exploiter's
    own games) is the opponent of every game, never a random player."""
    n = 64
    params, pool, games = _blank_games_against_first_empty_cell(n)
    other = jax.tree.map(lambda x: x + 1.0, params)
    mix = QUICK.replace(random_opponent_prob=0.5)

    def start(config, **opponents):
        game = sp.make_game(config, ENV)
        return jax.jit(jax.vmap(lambda g, k: game.new_games(params, pool, g, True, k,
                                                            **opponents)[0]))(
            games, jax.random.split(jax.random.key(2), n))

    def faces_other(started):  # [n] bool: the game's opponent is ``other``
        return np.asarray(started.opponent.log_std == other.log_std[None]).all(-1)

    always = start(mix.replace(exploiter_prob=1.0), exploiter=other)
    random_games = np.asarray(always.random_opponent)
    assert 10 < random_games.sum() < n - 10
    assert faces_other(always).all()
    assert not faces_other(start(mix, exploiter=other)).any()
    rival = start(mix, rival=other)
    assert faces_other(rival).all() and not np.asarray(rival.random_opponent).any()


def test_exploiter_trains_against_the_learner_and_restarts(trained):
    """Three updates with an exploiter restarted every 2: it has its own network, optimiser
    and games, and learned once since its restart (its optimiser counts one update's
    steps); its win and loss rates against the learner are reported. Without one (the
    ``trained`` fixture) the carry and metrics hold nothing of it."""
    _, plain = trained
    assert plain.carry.exploiter is None and "exploiter_win_rate" not in plain.metrics
    config = QUICK.replace(total_timesteps=64 * 16 * 3, eval_every=2, exploiter_prob=0.5,
                           exploiter_reset_every=2)
    out = jax.jit(sp.make_train(config, ENV))(jax.random.key(0))
    rates = np.asarray(out.metrics["exploiter_win_rate"]) + np.asarray(
        out.metrics["exploiter_loss_rate"])
    assert ((rates > 0) & (rates <= 1)).all(), rates
    steps = config.update_epochs * config.num_minibatches  # optimiser steps per update

    def counts(opt_state):
        return {int(c) for _, c in optax.tree_utils.tree_get_all_with_path(opt_state, "count")}

    assert counts(out.carry.exploiter.opt_state) == {steps}
    assert counts(out.carry.opt_state) == {3 * steps}


def test_random_start_positions():
    """``random_start_prob=1``: every game starts after 1 to ``random_start_plies`` random
    moves, then the (first-empty-cell) opponent moves if it is not the learner's turn: the
    learner is to move in its seat, and the board holds as many marks as the env steps
    ``new_games`` reports."""
    n = 128
    params, pool, games = _blank_games_against_first_empty_cell(n)
    game = sp.make_game(QUICK.replace(random_start_prob=1.0, random_start_plies=3), ENV)
    started, steps = jax.jit(jax.vmap(game.new_games, in_axes=(None, None, 0, None, 0)))(
        params, pool, games, True, jax.random.split(jax.random.key(2), n))
    steps = np.asarray(steps)
    boards = np.asarray(started.obs)[:, 0].reshape(n, 9, 2)  # player_1's view
    np.testing.assert_array_equal(boards.sum((1, 2)), steps)
    assert set(steps) == {1, 2, 3, 4}, steps
    movers = np.asarray(jax.vmap(ENV.action_mask)(started.state)).sum(-1).argmax(-1)
    np.testing.assert_array_equal(movers, np.asarray(started.seat))
    # the random first move lands anywhere (the opponent alone would always open in cell 0)
    first_cross = boards[steps == 1, :, 0].argmax(-1)
    assert len(set(first_cross)) >= 5, first_cross
    # off: no random moves (the opponent opens in cell 0 for an O learner)
    game = sp.make_game(QUICK, ENV)
    started, steps = jax.jit(jax.vmap(game.new_games, in_axes=(None, None, 0, None, 0)))(
        params, pool, games, True, jax.random.split(jax.random.key(2), n))
    assert set(np.asarray(steps)) == {0, 1}


def test_config_validation():
    with pytest.raises(ValueError, match="recurrent"):
        sp.Config(recurrent=True)
    with pytest.raises(ValueError, match="value_norm"):
        sp.Config(value_norm=True)
    with pytest.raises(ValueError, match="critic"):
        sp.Config(critic="agent_specific")
    with pytest.raises(ValueError, match="self_play_prob"):
        sp.Config(self_play_prob=1.5)
    with pytest.raises(ValueError, match="random_opponent_prob"):
        sp.Config(random_opponent_prob=-0.1)
    with pytest.raises(ValueError, match="opponent_random_move_prob"):
        sp.Config(opponent_random_move_prob=1.1)
    with pytest.raises(ValueError, match="random_start_prob"):
        sp.Config(random_start_prob=2.0)
    with pytest.raises(ValueError, match="random_start_plies"):
        sp.Config(random_start_plies=0)
    with pytest.raises(ValueError, match="exploiter_prob must be in"):
        sp.Config(exploiter_prob=1.5)
    with pytest.raises(ValueError, match="exploiter_reset_every must be >= 0"):
        sp.Config(exploiter_reset_every=-1)
    with pytest.raises(ValueError, match="two-player"):
        sp.make_stages(QUICK, jl.make("grid_meet"))


@pytest.fixture(scope="module")
def trained():
    train = jax.jit(sp.make_train(QUICK, ENV))
    return train, train(jax.random.key(0))


def test_deterministic(trained):
    train, out = trained
    again = train(jax.random.key(0))
    for x, y in zip(jax.tree.leaves((out.carry.params, out.metrics)),
                    jax.tree.leaves((again.carry.params, again.metrics))):
        np.testing.assert_array_equal(x, y)
    pool = out.carry.pool
    assert int(pool.count) == QUICK.total_timesteps // (QUICK.num_envs * QUICK.num_steps) // 10


def test_short_run_beats_random_more_often_than_untrained(trained):
    _, out = trained
    policy = sp.make_policy(QUICK, ENV)
    untrained = jax.jit(sp.make_stages(QUICK, ENV).init)(jax.random.key(0)).params
    score = {}
    for name, params in [("untrained", untrained), ("trained", out.carry.params)]:
        r = play_matches(policy, params, jax.random.key(5), 400, "random").totals()
        score[name] = (r["wins"] - r["losses"]) / 400
    assert score["trained"] > score["untrained"] + 0.2, score


def test_canonical_boards_policy_is_symmetric_and_transitions_are_canonical():
    """With ``canonical_boards`` the greedy move on a rotated/reflected board is the
    rotated/reflected move (boards that no symmetry maps to themselves), and the learner's
    stored views are canonical (fixed points of the canonical map) with matching masks."""
    config = QUICK.replace(num_envs=8, canonical_boards=True)
    params = jax.jit(sp.make_stages(config, ENV).init)(jax.random.key(0)).params
    obs_perms, action_perms = ENV.symmetries()
    rng = np.random.default_rng(0)
    boards = rng.integers(0, 3, (400, 9))
    boards = boards[(boards == 0).any(1)]
    obs = np.stack([boards == 1, boards == 2], -1).reshape(-1, 18).astype(np.float32)
    asymmetric = np.array([len({tuple(o[p]) for p in obs_perms}) == 8 for o in obs])
    obs, boards = obs[asymmetric], boards[asymmetric]
    mask = (boards == 0).astype(np.float32)
    n = len(obs)
    assert n > 100
    policy = sp.make_policy(config, ENV)
    act = jax.jit(lambda o, m: policy.act(params, (), o[:, None], m[:, None], None, None)[0][:, 0])
    move = np.asarray(act(jnp.asarray(obs), jnp.asarray(mask)))
    assert mask[np.arange(n), move].all()
    for g in range(1, 8):
        t_move = np.asarray(act(jnp.asarray(obs[:, obs_perms[g]]),
                                jnp.asarray(mask[:, action_perms[g]])))
        # the transformed board's cell j is the original cell action_perms[g, j]
        np.testing.assert_array_equal(action_perms[g][t_move], move)

    game = sp.make_game(config, ENV)
    carry = jax.jit(sp.make_stages(config, ENV).init)(jax.random.key(1))
    step = jax.jit(jax.vmap(game.decision, in_axes=(None, None, 0, 0)))
    canon = jax.jit(jax.vmap(sp.make_canon(config, ENV)))
    games = carry.games
    for k in jax.random.split(jax.random.key(2), 6):
        games, tr = step(carry.params, carry.pool, games, jax.random.split(k, 8))
        again, again_mask, _ = canon(tr["obs"], tr["mask"])
        np.testing.assert_array_equal(again, tr["obs"])
        np.testing.assert_array_equal(again_mask, tr["mask"])
        assert np.asarray(tr["mask"])[np.arange(8), np.asarray(tr["action"])].all()
        np.testing.assert_array_equal(  # the mask marks exactly the view's empty cells
            tr["mask"], 1.0 - np.asarray(tr["obs"]).reshape(8, 9, 2).max(-1))


def test_canonical_boards_needs_symmetries():
    with pytest.raises(ValueError, match="symmetries"):
        sp.make_canon(QUICK.replace(canonical_boards=True), jl.make("grid_meet"))


def _position(crosses, noughts):
    """Views ``[1, 2, 18]`` and masks ``[1, 2, 9]`` of the board with these marks."""
    board = np.zeros(9, np.int32)
    board[list(crosses)], board[list(noughts)] = 1, 2
    state = ENV.state_from_obs(ENV.get_obs(
        ENV.reset_env(jax.random.key(0))[1].replace(board=jnp.asarray(board))))
    return ENV.get_obs(state)[None], ENV.action_mask(state)[None]


@pytest.mark.parametrize("canonical", [False, True])
def test_lookahead_takes_wins_and_blocks_threats(canonical):
    """With an untrained network a 1-ply search takes an immediate win (also over blocking
    the opponent's threat) and a 2-ply search blocks a threat it cannot pre-empt; ties
    between equally scored moves go to the actor's preference."""
    config = QUICK.replace(canonical_boards=canonical)
    params = jax.jit(sp.make_stages(config, ENV).init)(jax.random.key(0)).params
    cases = [  # (crosses, noughts, depths, expected move of the player to move)
        ((0, 1), (3, 4), (1, 2), 2),  # X completes the top row
        ((0, 1, 8), (3, 4), (1, 2), 5),  # O wins in the middle row rather than block 2
        ((0, 7), (3, 4), (2,), 5),  # X has no win: it must block the middle row
    ]
    for crosses, noughts, depths, expected in cases:
        obs, mask = _position(crosses, noughts)
        for depth in depths:
            policy = sp.make_policy(config, ENV, lookahead=depth)
            move = np.asarray(policy.act(params, (), obs, mask, None, None)[0])
            assert (move == expected).all(), (crosses, noughts, depth, move)
    if not canonical:  # X wins at 2 or at 6: the lowest (highest) cell if the actor prefers it
        obs, mask = _position((0, 1, 3), (5, 7, 8))
        policy = sp.make_policy(config, ENV, lookahead=2)
        for scale, expected in ((30.0, 2), (-30.0, 6)):
            move = policy.act(_first_empty_cell_params(params, scale), (), obs, mask, None, None)[0]
            assert (np.asarray(move) == expected).all(), (scale, move)


def test_lookahead_validation():
    for bad in (-1, 1.5, "2", True):
        with pytest.raises(ValueError, match="lookahead must be an int >= 0"):
            sp.make_policy(QUICK, ENV, lookahead=bad)
    with pytest.raises(ValueError, match="state_from_obs"):
        sp.make_policy(QUICK, jl.make("grid_meet"), lookahead=1)
