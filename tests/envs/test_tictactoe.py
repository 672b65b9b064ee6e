"""Tic-tac-toe: hand-checked games and parity with PettingZoo's tictactoe_v3."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmarl_lite.envs.tictactoe import LINES, TicTacToe, TicTacToeState, board_index

ENV = TicTacToe()
NUM_GAMES = 300


@functools.partial(jax.jit, static_argnums=0)
def play_raw(env, moves, others):
    """Play ``moves`` [G, 9] (the mover's cell each step) with the non-mover sending
    ``others`` [G, 9] via ``step_env`` (no reset); returns per-step outputs [G, 9, ...]."""

    def game(moves, others):
        obs0, state = env.reset_env(jax.random.key(0))

        def body(state, inp):
            move, other = inp
            actions = jnp.where(jnp.arange(2) == state.mover, move, other).astype(jnp.int32)
            obs, state, reward, term, trunc, info = env.step_env(jax.random.key(0), state, actions)
            return state, dict(obs=obs, mask=env.action_mask(state), reward=reward, term=term,
                               trunc=trunc, gs=env.global_state(state))

        _, out = jax.lax.scan(body, state, (moves, others))
        return obs0, env.action_mask(state), out

    return jax.vmap(game)(moves, others)


def run(moves, others=None):
    moves = np.asarray(moves, np.int32).reshape(1, -1)
    moves = np.pad(moves, ((0, 0), (0, 9 - moves.shape[1])))
    others = np.zeros_like(moves) if others is None else np.asarray(others, np.int32).reshape(1, 9)
    obs0, mask0, out = jax.device_get(play_raw(ENV, moves, others))
    return obs0[0], mask0[0], {k: v[0] for k, v in out.items()}


def test_static_facts():
    assert ENV.agents == ("player_1", "player_2") and ENV.num_agents == 2
    assert ENV.obs_dim == 18 and ENV.num_actions == 9 and ENV.max_episode_steps == 9
    assert ENV.state_dim == 20 and hash(ENV) == hash(TicTacToe())
    with pytest.raises(ValueError, match="finite"):
        TicTacToe(illegal_reward=float("nan"))


def test_reset_observation_and_masks():
    obs0, mask0, _ = run([])
    np.testing.assert_array_equal(obs0, np.zeros((2, 18)))
    np.testing.assert_array_equal(mask0, [[1] * 9, [0] * 9])


def test_planes_are_from_each_agents_own_side():
    _, _, out = run([4, 0])  # player_1 takes the centre, player_2 the corner
    obs = out["obs"][1].reshape(2, 3, 3, 2)  # after both moves
    assert obs[0, 1, 1, 0] == 1 and obs[0, 0, 0, 1] == 1  # player_1: own centre, their corner
    assert obs[1, 0, 0, 0] == 1 and obs[1, 1, 1, 1] == 1  # player_2: own corner, their centre
    assert obs.sum() == 4
    np.testing.assert_array_equal(out["mask"][1][1], 0)  # player_1 to move again
    assert out["mask"][1][0].tolist() == [0, 1, 1, 1, 0, 1, 1, 1, 1]
    np.testing.assert_array_equal(out["gs"][1][:18], out["obs"][1][0])
    np.testing.assert_array_equal(out["gs"][1][18:], [1, 0])


def test_first_player_wins_on_diagonal():
    _, _, out = run([0, 1, 4, 2, 8])
    np.testing.assert_array_equal(out["reward"][:5], [[0, 0]] * 4 + [[1, -1]])
    assert out["term"][:5, 0].tolist() == [False] * 4 + [True]
    assert not out["trunc"].any()


def test_second_player_wins_column():
    _, _, out = run([0, 1, 3, 4, 8, 7])
    np.testing.assert_array_equal(out["reward"][5], [-1, 1])
    assert out["term"][5].all() and not out["term"][4].any()


def test_draw_on_full_board():
    _, _, out = run([4, 0, 2, 6, 3, 5, 1, 7, 8])
    np.testing.assert_array_equal(out["reward"], np.zeros((9, 2)))
    assert out["term"][:, 0].tolist() == [False] * 8 + [True]
    np.testing.assert_array_equal(out["mask"][8], 0)


def test_illegal_move_ends_game_for_mover_only():
    _, _, out = run([4, 4])  # player_2 plays the occupied centre
    np.testing.assert_array_equal(out["reward"][1], [0, -1])
    assert out["term"][1].all() and not out["trunc"][1].any()
    np.testing.assert_array_equal(out["obs"][1], out["obs"][0])  # the board is unchanged
    env = TicTacToe(illegal_reward=-5.0)
    out = jax.device_get(play_raw(env, np.array([[0, 1, 1] + [0] * 6]), np.zeros((1, 9), int)))[2]
    np.testing.assert_array_equal(out["reward"][0, 2], [-5, 0])


def test_non_mover_action_is_ignored():
    _, _, a = run([0, 1, 4, 2, 8], others=[5, 6, 7, 8, 0, 1, 2, 3, 4])
    _, _, b = run([0, 1, 4, 2, 8], others=[4] * 9)  # occupied cells: still not illegal
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_step_auto_resets_and_episode_never_exceeds_nine_steps():
    step = jax.jit(ENV.step)
    obs, state = ENV.reset(jax.random.key(0))
    for t, cell in enumerate([0, 1, 4, 2, 8]):
        actions = jnp.array([cell, cell])
        obs, state, reward, term, trunc, info = step(jax.random.key(t), state, actions)
    assert term.all() and int(state.step) == 0 and int(state.mover) == 0
    np.testing.assert_array_equal(obs, 0)
    assert info["final_obs"][0].reshape(9, 2)[8, 0] == 1


def test_board_index_and_render():
    board = jnp.array([1, 0, 0, 0, 2, 0, 0, 0, 0])
    assert int(board_index(board)) == 1 + 2 * 81
    state = TicTacToeState(board=jnp.array([1, 1, 1, 0, 2, 0, 0, 0, 2]), mover=jnp.array(0),
                           step=jnp.array(5), done=jnp.array(True))
    img = ENV.render(state)
    assert img.shape == (144, 144, 3) and img.dtype == np.uint8
    red = np.all(img == [220, 60, 60], axis=-1)
    blue = np.all(img == [60, 110, 230], axis=-1)
    assert red[:48].any() and not red[48:].any()  # crosses only on the top row
    assert blue[48:96, 48:96].any() and blue[96:, 96:].any() and not blue[:48].any()
    assert tuple(img[5, 5]) == (255, 236, 150) and tuple(img[60, 5]) == (250, 250, 250)


# -------------------------------------------------------------- PettingZoo parity
def _pz_games(num_games: int, illegal_prob: float, seed: int):
    """Random games in PettingZoo's tictactoe_v3; returns the moves and per-step records."""
    tictactoe_v3 = pytest.importorskip("pettingzoo.classic.tictactoe_v3")
    from pettingzoo.utils.env_logger import EnvLogger

    EnvLogger.suppress_output()
    rng = np.random.default_rng(seed)
    env = tictactoe_v3.env()
    names = ["player_1", "player_2"]
    moves = np.zeros((num_games, 9), np.int32)
    length = np.zeros(num_games, np.int32)
    rec = dict(obs=np.zeros((num_games, 9, 2, 18)), mask=np.zeros((num_games, 9, 2, 9)),
               reward=np.zeros((num_games, 9, 2)), term=np.zeros((num_games, 9, 2), bool),
               trunc=np.zeros((num_games, 9, 2), bool))
    obs0, mask0 = [], []

    def views():
        o = [env.observe(a) for a in names]
        return (np.stack([v["observation"].reshape(-1) for v in o]),
                np.stack([v["action_mask"] for v in o]))

    for g in range(num_games):
        env.reset(seed=int(g))
        o, m = views()
        obs0.append(o)
        mask0.append(m)
        for t in range(9):
            mask = env.observe(env.agent_selection)["action_mask"]
            occupied = np.flatnonzero(mask == 0)
            if occupied.size and rng.random() < illegal_prob:
                move = int(rng.choice(occupied))
            else:
                move = int(rng.choice(np.flatnonzero(mask)))
            moves[g, t] = move
            env.step(move)
            o, m = views()
            rec["obs"][g, t], rec["mask"][g, t] = o, m
            rec["reward"][g, t] = [env.rewards[a] for a in names]
            rec["term"][g, t] = [env.terminations[a] for a in names]
            rec["trunc"][g, t] = [env.truncations[a] for a in names]
            length[g] = t + 1
            if all(env.terminations.values()):
                break
    return moves, length, np.stack(obs0), np.stack(mask0), rec


def test_parity_with_pettingzoo_random_legal_and_illegal_games():
    moves, length, obs0, mask0, pz = _pz_games(NUM_GAMES, illegal_prob=0.08, seed=0)
    others = np.random.default_rng(1).integers(0, 9, size=moves.shape).astype(np.int32)
    j_obs0, j_mask0, out = jax.device_get(play_raw(ENV, moves, others))
    np.testing.assert_array_equal(j_obs0, obs0)
    np.testing.assert_array_equal(j_mask0, mask0)
    valid = np.arange(9)[None, :] < length[:, None]  # [G, 9] steps PettingZoo played
    live = valid & ~pz["term"][..., 0]  # steps after which the game goes on
    np.testing.assert_array_equal(out["obs"][valid], pz["obs"][valid])
    np.testing.assert_array_equal(out["reward"][valid], pz["reward"][valid])
    np.testing.assert_array_equal(out["term"][valid], pz["term"][valid])
    np.testing.assert_array_equal(out["mask"][live], pz["mask"][live])
    # PettingZoo's wrapper also flags an illegal-move end as truncated; here it is only a
    # termination (truncation means a time limit)
    assert not out["trunc"].any()
    final = pz["reward"][np.arange(NUM_GAMES), length - 1]
    illegal = pz["trunc"][np.arange(NUM_GAMES), length - 1, 0]
    assert np.all(final[illegal].min(-1) == -1) and np.all(final[illegal].max(-1) == 0)
    # the sample really covers every kind of ending
    legal_end = final[~illegal]
    outcomes = {"illegal": illegal.sum(), "p1 win": (legal_end[:, 0] == 1).sum(),
                "p2 win": (legal_end[:, 1] == 1).sum(), "draw": (legal_end == 0).all(-1).sum()}
    assert min(outcomes.values()) >= 10, outcomes


def test_symmetries_are_the_eight_distinct_line_preserving_maps():
    obs_perms, action_perms = ENV.symmetries()
    assert obs_perms.shape == (8, 18) and action_perms.shape == (8, 9)
    np.testing.assert_array_equal(action_perms[0], np.arange(9))
    assert len({tuple(p) for p in action_perms}) == 8
    lines = {frozenset(line) for line in LINES.tolist()}
    for obs_p, cells in zip(obs_perms, action_perms):
        assert {frozenset(cells[line].tolist()) for line in LINES} == lines
        np.testing.assert_array_equal(obs_p.reshape(9, 2), 2 * cells[:, None] + np.arange(2))


def test_state_from_obs_recovers_board_mover_and_done():
    """Random legal games, every position: the state the views show is the state."""
    rng = np.random.default_rng(0)
    step = jax.jit(ENV.step_env)
    recover = jax.jit(ENV.state_from_obs)
    seen_done = 0
    for g in range(6):
        obs, state = ENV.reset_env(jax.random.key(g))
        while True:
            got = recover(obs)
            np.testing.assert_array_equal(got.board, state.board)
            assert int(got.step) == int(state.step)
            assert bool(got.done) == bool(state.done)
            if bool(state.done):
                seen_done += 1
                break
            assert int(got.mover) == int(state.mover)
            cell = int(rng.choice(np.flatnonzero(np.asarray(state.board) == 0)))
            obs, state, *_ = step(jax.random.key(0), state, jnp.array([cell, cell]))
    assert seen_done == 6
