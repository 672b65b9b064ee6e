"""Bad input gets a clear error naming what was expected."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import checkify

import jaxmarl_lite as jl
from jaxmarl_lite.spaces import Box, Discrete, MultiDiscrete


def test_unknown_env_lists_valid_names_and_close_matches():
    with pytest.raises(ValueError) as err:
        jl.make("grid_meat")
    msg = str(err.value)
    assert "Did you mean 'grid_meet'" in msg
    for name in jl.registered_envs():
        assert name in msg


def test_unknown_kwarg_lists_valid_ones():
    with pytest.raises(ValueError, match=r"Did you mean 'size'.*max_steps"):
        jl.make("grid_meet", sise=3)


def test_wrong_action_shape_and_dtype_raise_at_trace_time():
    env = jl.make("grid_meet")
    _, state = env.reset(jax.random.key(0))
    with pytest.raises(ValueError, match=r"expected discrete actions of shape \(2,\)"):
        jax.jit(env.step)(jax.random.key(0), state, jnp.zeros((3,), jnp.int32))
    with pytest.raises(TypeError, match=r"discrete actions of shape \(2,\) with int dtype"):
        env.step(jax.random.key(0), state, jnp.zeros((2,), jnp.float32))
    vec = jl.VecEnv(env, num_envs=4)
    _, vstate = vec.reset(jax.random.key(0))
    with pytest.raises(ValueError, match="num_envs=4"):
        vec.step(jax.random.key(0), vstate, jnp.zeros((3, 2), jnp.int32))


def test_fast_path_clips_out_of_range_actions():
    env = jl.make("grid_meet")
    _, state = env.reset(jax.random.key(0))
    clipped = env.step(jax.random.key(0), state, jnp.array([7, -3]))
    explicit = env.step(jax.random.key(0), state, jnp.array([3, 0]))
    np.testing.assert_array_equal(clipped[1].pos, explicit[1].pos)


def test_checked_env_raises_on_out_of_range_actions():
    env = jl.CheckedEnv(jl.make("grid_meet"))
    obs, state = env.reset(jax.random.key(0))
    obs, state, *_ = env.step(jax.random.key(1), state, jnp.array([0, 1]))  # fine
    with pytest.raises(checkify.JaxRuntimeError, match=r"must lie in \[0, 3\]"):
        env.step(jax.random.key(2), state, jnp.array([0, 4]))
    err, _ = jax.jit(env.step_with_error)(jax.random.key(2), state, jnp.array([-1, 0]))
    assert err.get() is not None


def test_checked_env_raises_on_non_finite_observations():
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class BrokenMeet(jl.envs.GridMeet):
        def step_env(self, key, state, actions):
            obs, *rest = super().step_env(key, state, actions)
            return (obs.at[0, 0].set(jnp.nan), *rest)

    env = jl.CheckedEnv(jl.VecEnv(BrokenMeet(), num_envs=2))
    _, state = env.reset(jax.random.key(0))
    with pytest.raises(checkify.JaxRuntimeError, match="non-finite"):
        env.step(jax.random.key(1), state, jnp.zeros((2, 2), jnp.int32))


def test_spaces_sample_and_contains():
    keys = jax.random.split(jax.random.key(0), 256)
    d = Discrete(4)
    xs = jax.vmap(d.sample)(keys)
    assert xs.dtype == jnp.int32 and set(np.unique(xs).tolist()) == {0, 1, 2, 3}
    masked = jax.vmap(lambda k: d.sample(k, jnp.array([0, 1, 0, 1])))(keys)
    assert set(np.unique(masked).tolist()) == {1, 3}
    assert bool(d.contains(3)) and not bool(d.contains(4)) and not bool(d.contains(-1))
    b = Box(-1.0, 2.0, (3,))
    ys = jax.vmap(b.sample)(keys)
    assert ys.shape == (256, 3) and bool(jnp.all(jax.vmap(b.contains)(ys)))
    assert not bool(b.contains(jnp.array([0.0, 0.0, 2.5])))
    assert not bool(b.contains(jnp.zeros((2,))))
    m = MultiDiscrete((2, 5))
    zs = jax.vmap(m.sample)(keys)
    assert bool(jnp.all(jax.vmap(m.contains)(zs))) and int(zs[:, 1].max()) == 4
    with pytest.raises(ValueError, match="n >= 1"):
        Discrete(0)
    with pytest.raises(ValueError, match="low <= high"):
        Box(1.0, 0.0, (2,))


def test_vec_env_matches_single_envs():
    env = jl.make("grid_meet", random_starts=True)
    vec = jl.VecEnv(env, num_envs=3)
    key = jax.random.key(5)
    obs, state = vec.reset(key)
    assert obs.shape == (3, 2, 4)
    keys = jax.random.split(key, 3)
    for i in range(3):
        np.testing.assert_array_equal(obs[i], env.reset(keys[i])[0])
    actions = vec.sample_actions(jax.random.key(1), state)
    assert actions.shape == (3, 2)
    out = vec.step(jax.random.key(2), state, actions)
    assert out[2].shape == (3, 2) and vec.global_state(out[1]).shape == (3, env.state_dim)
    assert vec.action_mask(out[1]).shape == (3, 2, 4)
