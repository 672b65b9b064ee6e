"""MPE suite: registry, sizes/padding, resets, auto-reset and truncation, rendering.

(Semantics against mpe2 are in ``test_mpe_parity.py``.)
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

import jaxmarl_lite as jl
import jaxmarl_lite.envs.mpe  # noqa: F401  (registers the tasks)
from jaxmarl_lite.envs.mpe import TASKS
from jaxmarl_lite.envs.mpe.core import uniform_from_key
from jaxmarl_lite.render import save_gif
from jaxmarl_lite.wrappers import VecEnv

# true per-agent sizes, as mpe2 1.1.1 declares them (discrete actions, continuous dims)
EXPECTED = {
    "simple": ((4,), (5,), (5,)),
    "simple_spread": ((18,) * 3, (5,) * 3, (5,) * 3),
    "simple_reference": ((21, 21), (50, 50), (15, 15)),
    "simple_speaker_listener": ((3, 11), (3, 5), (3, 5)),
    "simple_tag": ((16, 16, 16, 14), (5,) * 4, (5,) * 4),
    "simple_adversary": ((8, 10, 10), (5,) * 3, (5,) * 3),
    "simple_push": ((8, 19), (5, 5), (5, 5)),
    "simple_crypto": ((4, 8, 8), (4, 4, 4), (4, 4, 4)),
    "simple_world_comm": ((34,) * 4 + (28,) * 2, (20,) + (5,) * 5, (9,) + (5,) * 5),
}


@pytest.mark.parametrize("name", list(TASKS))
def test_registry_sizes_and_padding(name):
    obs_sizes, disc, cont = EXPECTED[name]
    env = jl.make(TASKS[name][1])  # the versioned alias
    assert type(env) is TASKS[name][0]
    assert env.obs_sizes == obs_sizes and env.obs_dim == max(obs_sizes)
    assert env.action_sizes == disc and env.num_actions == max(disc)
    mask = np.asarray(env.action_mask_static())
    np.testing.assert_array_equal(mask.sum(1), disc)  # padded discrete actions are masked
    cont_env = jl.make(name, continuous_actions=True)
    assert cont_env.action_sizes == cont and cont_env.action_space.shape == (max(cont),)
    assert (cont_env.action_space.low, cont_env.action_space.high) == (0.0, 1.0)
    assert env.state_dim == sum(obs_sizes)  # global_state = all true observations
    assert len(env.agents) == env.num_agents


def test_parameters_and_validation():
    assert jl.make("simple_spread", N=5).obs_sizes == (4 + 10 + 8 + 8,) * 5
    tag = jl.make("simple_tag", num_good=2, num_adversaries=2, num_obstacles=1)
    assert tag.agents == ("adversary_0", "adversary_1", "agent_0", "agent_1")
    assert tag.obs_sizes == (4 + 2 + 6 + 4,) * 2 + (4 + 2 + 6 + 2,) * 2
    with pytest.raises(ValueError, match="local_ratio"):
        jl.make("simple_spread", local_ratio=1.5)
    with pytest.raises(ValueError, match="max_cycles"):
        jl.make("simple", max_cycles=0)
    with pytest.raises(ValueError, match="num_good"):
        jl.make("simple_world_comm", num_good=0)
    with pytest.raises(TypeError, match="N"):
        jl.make("simple_adversary", N=2.5)
    with pytest.raises(ValueError, match="num_forest"):
        jl.make("simple_world_comm", num_forest=1)  # typo -> helpful error


def test_reset_distribution():
    env = jl.make("simple_tag")  # agents in [-1, 1], obstacles in [-0.9, 0.9]
    _, state = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.key(0), 2000))
    pos = np.asarray(state.p_pos)
    assert np.abs(pos[:, :4]).max() <= 1.0 and np.abs(pos[:, 4:]).max() <= 0.9
    assert np.abs(pos[:, :4]).max() > 0.99 and abs(pos.mean()) < 0.02
    assert np.all(np.asarray(state.p_vel) == 0) and np.all(np.asarray(state.step) == 0)
    ref = jl.make("simple_reference")
    _, state = jax.jit(jax.vmap(ref.reset))(jax.random.split(jax.random.key(1), 3000))
    counts = np.bincount(np.asarray(state.goal).ravel(), minlength=3)
    assert counts.min() > 1800  # ~2000 each of the 3 landmarks
    u = np.asarray(uniform_from_key(jax.random.key(3), (100_000,)))
    assert 0.0 <= u.min() and u.max() < 1.0 and abs(u.mean() - 0.5) < 0.005
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.02


@functools.partial(jax.jit, static_argnums=0)
def _run(env, key):
    venv = VecEnv(env, 2)
    obs, state = venv.reset(key)

    def body(state, key):
        k1, k2 = jax.random.split(key)
        out = venv.step(k2, state, venv.sample_actions(k1, state))
        return out[1], (out[0], out[2], out[3], out[4], out[5]["final_obs"], out[1].step)

    return jax.lax.scan(body, state, jax.random.split(key, 7))[1]


def test_truncation_and_auto_reset_through_public_step():
    env = jl.make("simple_world_comm", max_cycles=3, continuous_actions=True)
    obs, reward, term, trunc, final_obs, step = _run(env, jax.random.key(0))
    assert obs.shape == (7, 2, 6, 34) and reward.shape == (7, 2, 6)
    assert not np.asarray(term).any()
    np.testing.assert_array_equal(np.asarray(trunc)[:, 0, 0], [0, 0, 1, 0, 0, 1, 0])
    np.testing.assert_array_equal(np.asarray(step)[:, 0], [1, 2, 0, 1, 2, 0, 1])
    # prey observations are zero-padded from 28 to 34
    assert np.all(np.asarray(obs)[..., 4:, 28:] == 0) and np.all(np.asarray(final_obs)[..., 4:, 28:] == 0)
    assert np.all(np.isfinite(np.asarray(obs)))


def test_render_and_gif(tmp_path):
    env = jl.make("simple_tag")
    _, state = env.reset(jax.random.key(0))
    step = jax.jit(env.step)
    frames = [env.render(state)]
    for t in range(3):
        _, state, *_ = step(jax.random.key(t), state, jnp.array([1, 2, 3, 4], jnp.int32))
        frames.append(env.render(state))
    frame = frames[0]
    assert frame.shape == (400, 400, 3) and frame.dtype == np.uint8
    # the prey's colour (0.35, 0.85, 0.35) * 200 is drawn where the prey is
    x, y = np.asarray(state.p_pos)[3]
    px = int(round(200 + x * 180 / max(1.0, float(np.abs(np.asarray(state.p_pos)).max()))))
    py = int(round(200 - y * 180 / max(1.0, float(np.abs(np.asarray(state.p_pos)).max()))))
    np.testing.assert_array_equal(frames[-1][py, px], [70, 170, 70])
    assert not np.array_equal(frames[0], frames[-1])
    path = save_gif(frames, tmp_path / "tag.gif", fps=5)
    with Image.open(path) as gif:  # identical consecutive frames may be merged: sum durations
        total = 0
        for i in range(gif.n_frames):
            gif.seek(i)
            total += gif.info["duration"]
        assert gif.n_frames >= 2 and total == 4 * 200
    with pytest.raises(ValueError, match="at least one frame"):
        save_gif([], tmp_path / "empty.gif")
