"""Grid-world rules against hand-computed trajectories."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmarl_lite as jl

R, L, D, U, STAY = 0, 1, 2, 3, 4


def play(env, actions, key=0):
    """Step through ``actions`` (list of joint actions) from reset; return per-step outputs."""
    obs, state = env.reset(jax.random.key(key))
    step = jax.jit(env.step)
    out = []
    for t, a in enumerate(actions):
        obs, state, reward, term, trunc, info = step(jax.random.key(100 + t), state, jnp.array(a))
        out.append(dict(obs=obs, state=state, reward=reward, term=term, trunc=trunc, info=info))
    return out


def test_meet_optimal_path_returns_seven():
    env = jl.make("grid_meet")
    out = play(env, [[R, L], [D, U], [R, L], [D, U]])
    rewards = [o["reward"].tolist() for o in out]
    assert rewards == [[-1, -1], [-1, -1], [-1, -1], [10, 10]]
    assert [bool(o["term"].all()) for o in out] == [False, False, False, True]
    assert not any(bool(o["trunc"].any()) for o in out)
    # the final observation shows both agents on (2, 2); the returned obs is a fresh reset
    np.testing.assert_allclose(out[-1]["info"]["final_obs"], np.full((2, 4), 0.5))
    np.testing.assert_array_equal(out[-1]["state"].pos, [[0, 0], [4, 4]])
    assert int(out[-1]["state"].step) == 0


def test_walls_clip_moves():
    env = jl.make("grid_meet")
    out = play(env, [[U, D], [L, R]])  # both push into their corners' walls
    for o in out:
        np.testing.assert_array_equal(o["state"].pos, [[0, 0], [4, 4]])
        assert o["reward"].tolist() == [-1.0, -1.0]


def test_truncation_at_horizon_and_reset():
    env = jl.make("grid_meet", max_steps=6)
    out = play(env, [[U, D]] * 7)
    trunc = [bool(o["trunc"].all()) for o in out]
    assert trunc == [False] * 5 + [True, False]
    assert not any(bool(o["term"].any()) for o in out)
    assert int(out[5]["state"].step) == 0  # auto-reset after truncation
    assert int(out[6]["state"].step) == 1


def test_meeting_at_horizon_is_termination_not_truncation():
    env = jl.make("grid_meet", max_steps=4)
    out = play(env, [[R, L], [D, U], [R, L], [D, U]])
    assert bool(out[-1]["term"].all()) and not bool(out[-1]["trunc"].any())


def test_observation_layout_and_agent_id():
    env = jl.make("grid_meet", num_agents=3, agent_id=True, allow_stay=True)
    obs, state = env.reset(jax.random.key(0))
    # starts: (0,0), (4,4), (0,4); own position first, then the others in index order
    expected = np.array(
        [
            [0, 0, 1, 1, 0, 1, 1, 0, 0],
            [1, 1, 0, 0, 0, 1, 0, 1, 0],
            [0, 1, 0, 0, 1, 1, 0, 0, 1],
        ],
        np.float32,
    )
    np.testing.assert_array_equal(obs, expected)
    assert env.num_actions == 5
    out = play(env, [[STAY, STAY, STAY]])
    np.testing.assert_array_equal(out[0]["state"].pos, [[0, 0], [4, 4], [0, 4]])
    np.testing.assert_allclose(env.global_state(out[0]["state"]), [0, 0, 1, 1, 0, 1, 1 / 20], rtol=1e-6)


def test_random_starts_are_distinct_and_vary():
    env = jl.make("grid_meet", num_agents=4, size=3, random_starts=True)
    positions = jax.vmap(lambda k: env.reset(k)[1].pos)(jax.random.split(jax.random.key(0), 64))
    flat = np.asarray(positions[..., 0] * 3 + positions[..., 1])
    assert all(len(set(row)) == 4 for row in flat.tolist())
    assert len({tuple(row) for row in flat.tolist()}) > 10


def test_goal_rewards_once_and_freezes_arrived_agents():
    env = jl.make("grid_goal", starts=((3, 2), (0, 0)), max_steps=10)
    out = play(env, [[R, R], [L, D], [L, D]])
    assert out[0]["reward"].tolist() == [1.0, 0.0]
    np.testing.assert_array_equal(out[1]["state"].pos, [[3, 3], [1, 1]])  # agent 0 frozen
    assert out[1]["reward"].tolist() == [0.0, 0.0]
    assert not bool(out[2]["term"].any())


def test_goal_terminates_when_all_or_any_arrive():
    all_env = jl.make("grid_goal", starts=((3, 2), (2, 3)))
    out = play(all_env, [[R, R], [L, D]])
    # agent 0 arrives at step 1; agent 1 bumps the east wall, then steps down onto the goal
    assert out[0]["reward"].tolist() == [1.0, 0.0] and not bool(out[0]["term"].any())
    assert out[1]["reward"].tolist() == [0.0, 1.0] and bool(out[1]["term"].all())
    any_env = jl.make("grid_goal", starts=((3, 2), (2, 3)), terminate_when="any")
    out = play(any_env, [[R, U]])
    assert bool(out[0]["term"].all())


@pytest.mark.parametrize(
    "name, kwargs, match",
    [
        ("grid_meet", dict(size=1), "size must be >= 2"),
        ("grid_meet", dict(num_agents=5), "default starts"),
        ("grid_meet", dict(starts=((0, 0),)), "one \\(row, col\\) per agent"),
        ("grid_meet", dict(starts=((0, 0), (5, 5))), "outside the 5x5 grid"),
        ("grid_goal", dict(terminate_when="some"), "terminate_when"),
        ("grid_goal", dict(goal=(9, 9)), "outside"),
        ("grid_goal", dict(starts=((3, 3), (0, 0))), "equals the goal"),
    ],
)
def test_invalid_config_values(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        jl.make(name, **kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(size="big"), r"GridMeet.size expects int, got 'big'"),
        (dict(random_starts=1), r"random_starts expects bool"),
        (dict(meet_reward="ten"), r"meet_reward expects float"),
    ],
)
def test_wrong_config_types(kwargs, match):
    with pytest.raises(TypeError, match=match):
        jl.make("grid_meet", **kwargs)


def test_render_shows_agents():
    env = jl.make("grid_goal")
    _, state = env.reset(jax.random.key(0))
    img = env.render(state)
    assert img.shape == (128, 128, 3) and img.dtype == np.uint8
    assert tuple(img[126, 126]) == (170, 225, 170)  # goal cell tint at (3, 3)
    assert tuple(img[16, 16]) != (245, 245, 245)  # an agent drawn on (0, 0)
