"""The env contract, checked for every registered environment."""
from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmarl_lite as jl
from jaxmarl_lite.wrappers import EpisodeStats

NUM_ENVS = 3


def _horizon(env) -> int:
    for name in ("max_steps", "max_cycles", "num_steps", "max_episode_steps"):
        if hasattr(env, name):
            return int(getattr(env, name))
    return 30


@functools.partial(jax.jit, static_argnums=(0, 2))
def rollout(env, key, num_steps):
    """Random legal actions in ``NUM_ENVS`` vmapped copies; returns the whole trajectory."""
    key, reset_key = jax.random.split(key)
    obs, state = jax.vmap(env.reset)(jax.random.split(reset_key, NUM_ENVS))

    def body(carry, key):
        obs, state = carry
        act_key, step_key = jax.random.split(key)
        actions = jax.vmap(env.sample_actions)(jax.random.split(act_key, NUM_ENVS), state)
        step_keys = jax.random.split(step_key, NUM_ENVS)
        out = jax.vmap(env.step)(step_keys, state, actions)
        n_obs, n_state, reward, term, trunc, info = out
        record = dict(
            prev_state=state,
            actions=actions,
            step_keys=jax.random.key_data(step_keys),
            obs=n_obs,
            state=n_state,
            reward=reward,
            terminated=term,
            truncated=trunc,
            info=info,
            mask=jax.vmap(env.action_mask)(state),
            global_state=jax.vmap(env.global_state)(state),
        )
        return (n_obs, n_state), record

    _, traj = jax.lax.scan(body, (obs, state), jax.random.split(key, num_steps))
    return obs, traj


@functools.partial(jax.jit, static_argnums=0)
def replay(env, traj):
    """Recompute every transition without auto-reset, and the reset each step would do."""

    def one(key, state, actions):
        key_step, key_reset = jax.random.split(key)
        obs_step = env.step_env(key_step, state, env.check_actions(actions))[0]
        obs_reset = env.reset_env(key_reset)[0]
        return obs_step, obs_reset

    keys = jax.random.wrap_key_data(traj["step_keys"])
    return jax.vmap(jax.vmap(one))(keys, traj["prev_state"], traj["actions"])


ENV_NAMES = jl.registered_envs()


@pytest.fixture(scope="module", params=ENV_NAMES)
def env_run(request):
    env = jl.make(request.param)
    steps = 2 * _horizon(env) + 3
    key = jax.random.key(7)
    obs0, traj = rollout(env, key, steps)
    return env, key, steps, obs0, jax.device_get(traj)


def test_static_facts(env_run):
    env, *_ = env_run
    twin = type(env)(**{f.name: getattr(env, f.name) for f in dataclasses.fields(env)})
    assert twin == env and hash(twin) == hash(env)
    assert len(env.agents) == env.num_agents
    assert len(env.obs_sizes) == env.num_agents and max(env.obs_sizes) == env.obs_dim
    assert len(env.action_sizes) == env.num_agents and max(env.action_sizes) == env.num_actions
    with pytest.raises(dataclasses.FrozenInstanceError):
        env.num_agents = 99


def test_shapes_dtypes_and_spaces(env_run):
    env, _, steps, obs0, traj = env_run
    n = env.num_agents
    assert obs0.shape == (NUM_ENVS, n, env.obs_dim) and obs0.dtype == jnp.float32
    assert traj["obs"].shape == (steps, NUM_ENVS, n, env.obs_dim)
    assert traj["obs"].dtype == np.float32
    assert traj["reward"].shape == (steps, NUM_ENVS, n) and traj["reward"].dtype == np.float32
    for flag in ("terminated", "truncated"):
        assert traj[flag].shape == (steps, NUM_ENVS, n) and traj[flag].dtype == np.bool_
    assert traj["mask"].shape == (steps, NUM_ENVS, n, env.num_actions)
    assert traj["global_state"].shape == (steps, NUM_ENVS, env.state_dim)
    assert traj["info"]["final_obs"].shape == traj["obs"].shape
    assert traj["info"]["final_global_state"].shape == traj["global_state"].shape
    if env.is_discrete:
        assert traj["actions"].shape == (steps, NUM_ENVS, n)
    else:
        assert traj["actions"].shape == (steps, NUM_ENVS, n, env.num_actions)
    space = env.observation_space
    flat_obs = traj["obs"].reshape(-1, env.obs_dim)
    assert bool(jnp.all(jax.vmap(space.contains)(flat_obs)))
    flat_act = traj["actions"].reshape((-1,) + env.action_space.shape)
    assert bool(jnp.all(jax.vmap(env.action_space.contains)(flat_act)))
    # padded observation entries stay zero
    for i, size in enumerate(env.obs_sizes):
        assert np.all(traj["obs"][..., i, size:] == 0)


def test_finite_over_long_rollout(env_run):
    _, _, _, _, traj = env_run
    for name in ("obs", "reward", "global_state"):
        assert np.all(np.isfinite(traj[name])), name


def test_same_key_same_rollout_different_key_differs(env_run):
    env, key, steps, _, traj = env_run
    _, again = rollout(env, key, steps)
    for a, b in zip(jax.tree.leaves(traj), jax.tree.leaves(jax.device_get(again))):
        np.testing.assert_array_equal(a, b)
    _, other = rollout(env, jax.random.key(8), steps)
    assert not np.array_equal(traj["actions"], np.asarray(other["actions"]))
    assert not np.array_equal(traj["obs"], np.asarray(other["obs"])) or env.num_actions == 1


def test_autoreset_exactly_at_episode_end(env_run):
    env, _, _, _, traj = env_run
    obs_step, obs_reset = jax.device_get(replay(env, traj))
    done = np.all(traj["terminated"] | traj["truncated"], axis=-1)  # [T, B]
    assert done.any(), "rollout is long enough to finish at least one episode"
    # final_obs is the transition's own observation, before any reset
    np.testing.assert_allclose(traj["info"]["final_obs"], obs_step, rtol=1e-6, atol=1e-6)
    # the returned obs is the reset obs exactly where the episode ended, else the step obs
    np.testing.assert_array_equal(traj["obs"][done], obs_reset[done])
    np.testing.assert_array_equal(traj["obs"][~done], obs_step[~done])
    # episodes end jointly: the flags agree across agents
    ended = traj["terminated"] | traj["truncated"]
    assert np.all(ended.all(-1) == ended.any(-1))


def test_episode_lengths_respect_horizon(env_run):
    env, _, _, _, traj = env_run
    horizon = _horizon(env)
    done = np.all(traj["terminated"] | traj["truncated"], axis=-1)
    for b in range(NUM_ENVS):
        ends = np.flatnonzero(done[:, b])
        lengths = np.diff(np.concatenate([[-1], ends]))
        assert lengths.max() <= horizon
        trunc = traj["truncated"][ends, b].all(-1)
        assert np.all(lengths[trunc] == horizon), "truncation happens exactly at the horizon"


@pytest.mark.parametrize("name", ENV_NAMES[:1])
def test_raw_and_typed_keys_agree(name):
    env = jl.make(name)
    raw = jax.random.PRNGKey(3)
    typed = jax.random.wrap_key_data(raw)
    obs_a, s_a = jax.jit(env.reset)(raw)
    obs_b, s_b = jax.jit(env.reset)(typed)
    np.testing.assert_array_equal(obs_a, obs_b)
    act = env.sample_actions(jax.random.PRNGKey(1), s_a)
    out_a = jax.jit(env.step)(raw, s_a, act)
    out_b = jax.jit(env.step)(typed, s_b, act)
    for a, b in zip(jax.tree.leaves(out_a), jax.tree.leaves(out_b)):
        np.testing.assert_array_equal(a, b)


def test_episode_stats_wrapper_counts_returns():
    env = EpisodeStats(jl.make("grid_meet"))
    obs, state = env.reset(jax.random.key(0))
    step = jax.jit(env.step)
    for t, a in enumerate([[0, 1], [2, 3], [0, 1], [2, 3]]):
        obs, state, reward, term, trunc, info = step(jax.random.key(t), state, jnp.array(a))
    assert bool(info["returned_episode"])
    np.testing.assert_allclose(info["returned_episode_returns"], [7.0, 7.0])
    assert float(info["returned_team_return"]) == 7.0
    assert int(info["returned_episode_lengths"]) == 4
    assert int(state.episode_length) == 0 and float(state.episode_return.sum()) == 0.0


def test_random_legal_is_uniform_over_legal_actions_per_row():
    from jaxmarl_lite.spaces import Discrete, random_legal

    mask = jnp.array([[0, 1, 0, 1, 1], [1, 0, 0, 0, 0], [True, True, True, True, True]])
    draws = jax.vmap(lambda k: random_legal(k, mask))(jax.random.split(jax.random.key(0), 3000))
    assert draws.shape == (3000, 3) and draws.dtype == jnp.int32
    counts = np.stack([np.bincount(np.asarray(draws[:, r]), minlength=5) for r in range(3)])
    assert np.all(counts[np.asarray(mask) == 0] == 0)  # never an illegal action
    np.testing.assert_allclose(counts[0, [1, 3, 4]] / 3000, 1 / 3, atol=0.04)
    np.testing.assert_allclose(counts[2] / 3000, 1 / 5, atol=0.04)
    assert Discrete(5).sample(jax.random.key(1), mask[0]) in (1, 3, 4)
