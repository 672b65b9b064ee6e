"""SEAC: importance weights by hand, every network on every agent's data, determinism, vmap,
learning, bad input."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmarl_lite as jl
from jaxmarl_lite.algorithms import get, seac
from jaxmarl_lite.algorithms._common.evaluation import evaluate, random_policy

from .train_checks import assert_deterministic_and_vmappable

TINY = dict(num_envs=4, num_steps=4, total_timesteps=3 * 16, hidden_size=8, eval_every=1,
            eval_episodes=4)


def test_importance_weights_hand_checked():
    # pi_i(a_k | o_k): rows i, columns k; behaviour pi_k(a_k | o_k) = the diagonal
    probs = jnp.array([[0.5, 0.2], [0.25, 0.8]])
    w = seac.importance_weights(jnp.log(probs), jnp.log(jnp.diagonal(probs)), 0.5)
    # w_01 = lambda * pi_0(a_1|o_1) / pi_1(a_1|o_1) = 0.5 * 0.2 / 0.8; w_10 = 0.5 * 0.25 / 0.5
    np.testing.assert_allclose(w, [[1.0, 0.125], [0.25, 1.0]], rtol=1e-6)
    np.testing.assert_allclose(seac.importance_weights(jnp.log(probs),
                                                       jnp.log(jnp.diagonal(probs)), 0.0),
                               np.eye(2))  # lambda 0: independent actor-critic


def test_cross_apply_runs_every_network_on_every_agents_data():
    env = jl.make("grid_goal")
    cfg = seac.Config(**TINY)
    params = seac.init_params(cfg, env, jax.random.key(0))
    nets = seac.make_nets(cfg, env)
    obs = jax.random.normal(jax.random.key(1), (3, 2, env.num_agents, env.obs_dim))
    out = seac.cross_apply(nets.critic, params.critic, obs)  # [T, E, N_net, N_data, 1]
    assert out.shape == (3, 2, 2, 2, 1)
    for i in range(2):
        p_i = jax.tree.map(lambda x: x[i], params.critic)
        for k in range(2):
            _, expected = nets.critic.apply(p_i, jnp.zeros((2, 8)), obs[:, :, k],
                                            jnp.zeros((3, 2), bool))
            np.testing.assert_allclose(out[:, :, i, k], expected, rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def tiny_seac():
    return jax.jit(seac.make_train(seac.Config(**TINY), jl.make("grid_goal")))


def test_determinism_and_vmap(tiny_seac):
    a = assert_deterministic_and_vmappable(tiny_seac, jax.random.key(3), check_metrics=False)
    assert {"actor_loss", "critic_loss", "importance_weight", "eval_return"} <= set(a.metrics)
    assert jax.tree.leaves(a.carry.params.actor)[0].shape[0] == 2  # per-agent actors
    assert get("seac") is seac


def test_learns_grid_goal_beyond_random():
    env = jl.make("grid_goal", size=6, goal=(5, 5), random_starts=True)
    cfg = seac.PRESETS["grid_quick"].replace(total_timesteps=20_480)
    out = jax.jit(seac.make_train(cfg, env))(jax.random.key(0))
    trained = evaluate(env, seac.make_policy(cfg, env), out.carry.params, jax.random.key(1),
                       128).team_return.mean()
    rand = evaluate(env, random_policy(env), None, jax.random.key(1), 256).team_return.mean()
    assert float(trained) > float(rand) + 0.3, (float(trained), float(rand))


def test_bad_inputs():
    with pytest.raises(ValueError, match="discrete actions"):
        seac.make_stages(seac.Config(**TINY), jl.make("simple", continuous_actions=True))
    with pytest.raises(ValueError, match="homogeneous agents"):
        seac.make_stages(seac.Config(**TINY), jl.make("simple_speaker_listener"))
    with pytest.raises(ValueError, match="less than one update"):
        seac.make_stages(seac.Config(**dict(TINY, total_timesteps=8)), jl.make("grid_goal"))
    for field, value in (("seac_lambda", -1.0), ("gae_lambda", 2.0), ("num_steps", 0)):
        with pytest.raises(ValueError, match=field):
            seac.Config(**{field: value})
    with pytest.raises(ValueError, match="structural"):
        seac.make_stages(seac.Config(**TINY), jl.make("grid_goal"), hyper=("num_steps",))
