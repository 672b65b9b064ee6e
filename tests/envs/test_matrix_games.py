"""Matrix-game envs: payoffs, repeated play, observations, validation, rendering."""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmarl_lite.envs import matrix_games as mg
from jaxmarl_lite.envs.matrix_games import GAMES, MatrixGame


def play(env, joint_actions):
    obs, state = env.reset(jax.random.key(0))
    step = jax.jit(env.step)
    out = []
    for t, a in enumerate(joint_actions):
        obs, state, reward, term, trunc, info = step(jax.random.key(t), state, jnp.array(a))
        out.append(dict(obs=np.asarray(obs), reward=np.asarray(reward), term=np.asarray(term),
                        trunc=np.asarray(trunc), final_obs=np.asarray(info["final_obs"]),
                        state=state))
    return out


def test_prisoners_dilemma_payoffs_every_joint_action():
    env = MatrixGame(game="prisoners_dilemma", num_steps=4)
    out = play(env, [[0, 0], [0, 1], [1, 0], [1, 1]])
    assert [o["reward"].tolist() for o in out] == [[3, 3], [0, 5], [5, 0], [1, 1]]
    assert env.action_names[0] == ("cooperate", "defect")


@pytest.mark.parametrize(
    "game, joint, expected",
    [
        ("stag_hunt", (0, 1), (0, 3)),
        ("matching_pennies", (1, 1), (1, -1)),
        ("matching_pennies", (0, 1), (-1, 1)),
        ("rock_paper_scissors", (1, 0), (1, -1)),  # paper beats rock
        ("rock_paper_scissors", (2, 1), (1, -1)),  # scissors beat paper
        ("chicken", (1, 1), (-10, -10)),
        ("climbing_game", (0, 0), (11, 11)),
        ("climbing_game", (1, 2), (6, 6)),
        ("penalty_game", (0, 0), (-10, -10)),
        ("penalty_game", (2, 0), (10, 10)),
    ],
)
def test_builtin_payoff_entries(game, joint, expected):
    p = mg.payoff_table(game)
    assert tuple(p[(slice(None),) + joint].tolist()) == expected


def test_penalty_k_is_configurable_and_validated():
    p = mg.penalty_game(penalty_k=-50.0).payoff_array
    assert p[0, 0, 0] == -50 and p[1, 2, 2] == -50 and p[0, 1, 1] == 2
    with pytest.raises(ValueError, match="<= 0"):
        mg.penalty_game(penalty_k=1.0)
    with pytest.raises(ValueError, match="only applies"):
        MatrixGame(game="stag_hunt", penalty_k=-3.0)


def test_repeated_game_observes_previous_joint_action_and_terminates():
    env = mg.rock_paper_scissors(num_steps=3)
    out = play(env, [[0, 2], [1, 1], [2, 0], [0, 0]])
    # obs: one-hot of agent 0's last action (3), agent 1's (3), then round / num_steps
    np.testing.assert_allclose(out[0]["obs"][0], [1, 0, 0, 0, 0, 1, 1 / 3])
    np.testing.assert_allclose(out[1]["obs"][1], [0, 1, 0, 0, 1, 0, 2 / 3])
    assert np.array_equal(out[0]["obs"][0], out[0]["obs"][1])  # same view for both agents
    assert [bool(o["term"].all()) for o in out] == [False, False, True, False]
    assert not any(o["trunc"].any() for o in out)
    # round 3 ends the episode: final_obs shows it, the returned obs is the fresh reset
    np.testing.assert_allclose(out[2]["final_obs"][0], [0, 0, 1, 1, 0, 0, 1.0])
    np.testing.assert_allclose(out[2]["obs"], np.zeros((2, 7)))
    assert out[2]["reward"].tolist() == [-1, 1]
    assert int(out[3]["state"].step) == 1


def test_one_shot_game_ends_every_step():
    env = mg.climbing_game(num_steps=1)
    out = play(env, [[0, 0], [1, 1]])
    assert all(bool(o["term"].all()) for o in out)
    assert [o["reward"][0] for o in out] == [11, 7]
    np.testing.assert_allclose(out[0]["obs"], 0.0)  # a one-shot game has nothing to observe


def test_custom_heterogeneous_game_pads_and_masks_actions():
    rng = np.random.default_rng(0)
    table = rng.normal(size=(2, 2, 3))
    env = MatrixGame(payoffs=table, num_steps=2)
    assert env.game_name == "custom" and env.action_sizes == (2, 3) and env.num_actions == 3
    assert isinstance(env.payoffs, tuple)
    assert hash(env) == hash(MatrixGame(payoffs=table.tolist(), num_steps=2))
    obs, state = env.reset(jax.random.key(0))
    np.testing.assert_array_equal(env.action_mask(state), [[1, 1, 0], [1, 1, 1]])
    assert obs.shape == (2, 2 + 3 + 1)
    out = play(env, [[2, 2]])  # agent 0's padded action 2 is clipped to its last action, 1
    np.testing.assert_allclose(out[0]["reward"], table[:, 1, 2], rtol=1e-6)
    np.testing.assert_allclose(out[0]["obs"][0], [0, 1, 0, 0, 1, 0.5])


def test_three_player_custom_game():
    table = np.arange(3 * 2 * 2 * 2, dtype=float).reshape(3, 2, 2, 2)
    env = MatrixGame(payoffs=table.tolist(), num_steps=1)
    assert env.num_agents == 3 and env.agents == ("agent_0", "agent_1", "agent_2")
    out = play(env, [[1, 0, 1]])
    np.testing.assert_allclose(out[0]["reward"], table[:, 1, 0, 1])
    assert env.render(out[0]["state"]).shape == (64, 64, 3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(payoffs=[[1, 2], [3]]), "rectangular"),
        (dict(payoffs=[[1, 2], [3, 4]]), "number of players"),
        (dict(payoffs=np.ones((3, 2, 2))), "number of players"),
        (dict(payoffs=[[[1, float("inf")], [0, 0]], [[0, 0], [0, 0]]]), "finite"),
        (dict(payoffs=np.ones((2, 0, 3))), "at least one action"),
        (dict(payoffs=[1.0, 2.0]), "at least 2 dims"),
        (dict(game="stag_hunt", payoffs=np.ones((2, 2, 2))), "not both"),
        (dict(game="poker"), "unknown game"),
        (dict(game="custom"), "payoffs="),
        (dict(num_steps=0), "num_steps"),
    ],
)
def test_invalid_configs_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MatrixGame(**kwargs)


def test_env_is_hashable_frozen_and_factories_match():
    for name in GAMES:
        env = getattr(mg, name)()
        assert env == MatrixGame(game=name) and hash(env) == hash(MatrixGame(game=name))
        assert env.max_episode_steps == env.num_steps == 10
        twin = MatrixGame(**{f.name: getattr(env, f.name) for f in dataclasses.fields(env)})
        assert twin == env
    with pytest.raises(dataclasses.FrozenInstanceError):
        MatrixGame().num_steps = 3
    assert MatrixGame().game_name == "prisoners_dilemma"


def test_vmapped_rollout_rewards_match_table():
    env = mg.chicken(num_steps=5)
    keys = jax.random.split(jax.random.key(1), 8)

    @jax.jit
    def run(keys):
        def one(key):
            obs, state = env.reset(key)

            def body(state, k):
                a = env.sample_actions(k, state)
                _, state, r, *_ = env.step(k, state, a)
                return state, (a, r)

            return jax.lax.scan(body, state, jax.random.split(key, 5))[1]

        return jax.vmap(one)(keys)

    actions, rewards = jax.device_get(run(keys))
    p = env.payoff_array
    np.testing.assert_allclose(rewards, np.moveaxis(p[:, actions[..., 0], actions[..., 1]], 0, -1))


def test_render_highlights_last_joint_action():
    env = mg.stag_hunt()
    _, state = env.reset(jax.random.key(0))
    blank = env.render(state)
    assert blank.shape == (64, 64, 3) and blank.dtype == np.uint8
    assert not np.any(np.all(blank == 0, axis=-1))  # no frame before any round
    state = play(env, [[1, 0]])[0]["state"]
    img = env.render(state)
    black = np.all(img == 0, axis=-1)
    rows, cols = np.nonzero(black)
    assert rows.min() >= 32 and cols.max() < 32  # the frame is on cell (hare, stag)
    # agent 0 gets 3 > 0 there (green left half), agent 1 gets 0 (white right half)
    assert tuple(img[48, 8]) == (63, 255, 63) and tuple(img[48, 24]) == (255, 255, 255)
