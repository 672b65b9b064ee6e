"""PQN: Q(lambda) targets by hand (termination vs truncation), determinism, vmap over seeds,
masks respected, learning grid_meet to the optimum on every seed, bad input."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmarl_lite as jl
from jaxmarl_lite.algorithms import get, pqn
from jaxmarl_lite.algorithms._common.evaluation import evaluate, random_policy

from .test_coma import IllegalCounter
from .train_checks import assert_deterministic_and_vmappable

TINY = dict(num_envs=4, num_steps=4, num_minibatches=2, total_timesteps=3 * 16, hidden_size=8,
            mixer_embed_dim=4, hypernet_hidden=8, eval_every=1, eval_episodes=4)

R = jnp.array([1.0, 2.0, 3.0])[:, None]  # [T, E=1]
V = jnp.array([10.0, 20.0, 30.0])[:, None]  # max_a Q of each transition's next observation
NO = jnp.zeros((3, 1), bool)
AT_1 = NO.at[1].set(True)


@pytest.mark.parametrize("term, done, lam, expected", [
    # G_2 = 3 + .5 * 30 = 18; G_1 = 2 + .5 (.5 * 20 + .5 * 18); G_0 = 1 + .5 (.5 * 10 + .5 G_1)
    (NO, NO, 0.5, [6.375, 11.5, 18.0]),
    # terminated at step 1: G_1 = 2 (no bootstrap), G_0 = 1 + .5 (.5 * 10 + .5 * 2)
    (AT_1, AT_1, 0.5, [4.0, 2.0, 18.0]),
    # truncated at step 1: G_1 = 2 + .5 * 20 (its final observation), G_0 = 1 + .5 (5 + 6)
    (NO, AT_1, 0.5, [6.5, 12.0, 18.0]),
    (NO, NO, 0.0, [6.0, 12.0, 18.0]),  # one-step targets
    # lambda 1: the discounted return to the rollout's end, bootstrapped there
    (NO, NO, 1.0, [1 + .5 * 2 + .25 * 3 + .125 * 30, 2 + .5 * 3 + .25 * 30, 18.0]),
])
def test_q_lambda_targets_by_hand(term, done, lam, expected):
    g = pqn.q_lambda_targets(R, term, done, V, 0.5, lam)
    np.testing.assert_allclose(np.asarray(g)[:, 0], expected, rtol=1e-6)
    # per-agent rewards (IQL) [T, E, N] with team done [T, E]: every agent the same here
    g3 = pqn.q_lambda_targets(jnp.repeat(R[..., None], 2, -1), jnp.repeat(term[..., None], 2, -1),
                              done, jnp.repeat(V[..., None], 2, -1), 0.5, lam)
    np.testing.assert_allclose(np.asarray(g3)[:, 0, 1], expected, rtol=1e-6)


def test_loss_is_zero_at_its_targets_and_mixes_the_taken_actions():
    env = jl.make("grid_meet")
    cfg = pqn.Config(**TINY)
    params = pqn.init_params(cfg, env, jax.random.key(0))
    network = pqn.make_network(cfg, env)
    obs = jax.random.normal(jax.random.key(1), (2, 3, env.num_agents, env.obs_dim))
    actions = jnp.zeros((2, 3, env.num_agents), jnp.int32).at[..., 1].set(3)
    from jaxmarl_lite.algorithms._common.networks import apply_agents
    _, q = apply_agents(network, True, params.agent, jnp.zeros((3, 2, 8)), obs,
                        jnp.zeros((2, 3), bool))
    q_tot = q[..., 0, 0] + q[..., 1, 3]  # VDN: the sum of the taken actions' values
    batch = pqn.Batch(obs, jnp.zeros((2, 3, env.state_dim)), actions, q_tot,
                      jnp.zeros((2, 3), bool), jnp.zeros((3, 2, 8)))
    value, q_mean = pqn.loss(params, batch, config=cfg, network=network,
                             mixer=pqn.make_mixer(cfg))
    assert float(value) < 1e-10 and np.isclose(float(q_mean), float(q_tot.mean()), rtol=1e-5)
    off, _ = pqn.loss(params, batch._replace(targets=q_tot + 2.0), config=cfg, network=network,
                      mixer=pqn.make_mixer(cfg))
    np.testing.assert_allclose(float(off), 4.0, rtol=1e-5)


@pytest.mark.parametrize("overrides", [
    dict(),  # feed-forward VDN with LayerNorm (the JaxMARL preset's kind)
    dict(mixer="qmix", recurrent=True, optimizer="adam", num_minibatches=2),
    dict(mixer="none", parameter_sharing=False, layer_norm=False),
], ids=["vdn_ff", "qmix_rnn", "iql_per_agent"])
def test_determinism_and_vmap(overrides):
    env = jl.make("grid_meet")
    train = jax.jit(pqn.make_train(pqn.Config(**dict(TINY, **overrides)), env))
    a = assert_deterministic_and_vmappable(train, jax.random.key(3))
    assert {"loss", "q_mean", "epsilon", "eval_return", "env_steps"} <= set(a.metrics)
    assert np.all(np.isfinite(np.asarray(a.metrics["loss"])))
    assert get("pqn") is pqn


def test_masked_actions_are_never_taken():
    env = IllegalCounter()
    cfg = pqn.Config(**dict(TINY, total_timesteps=10 * 16), eps_start=1.0, eps_finish=1.0)
    out = jax.jit(pqn.make_train(cfg, env))(jax.random.key(0))
    returns = np.asarray(out.metrics["episode_return"])
    assert np.isfinite(returns).any() and np.nan_to_num(returns).min() == 0.0


def test_learns_grid_meet_to_the_optimum_on_every_seed():
    """PQN-VDN, 8 seeds (keys split(key(0), 8), fixed before the run), 65k env steps each:
    every seed's greedy policy meets in the optimal 7 (random policy about -16)."""
    env = jl.make("grid_meet")
    cfg = pqn.PRESETS["grid_quick"].replace(total_timesteps=65_536)
    out = jax.jit(jax.vmap(pqn.make_train(cfg, env)))(jax.random.split(jax.random.key(0), 8))
    final = np.asarray(out.metrics["eval_return"])[:, -1]
    rand = evaluate(env, random_policy(env), None, jax.random.key(1), 256).team_return.mean()
    assert float(rand) < -10.0
    np.testing.assert_array_equal(final, 7.0)


def test_bad_inputs():
    with pytest.raises(ValueError, match="discrete actions"):
        pqn.make_stages(pqn.Config(**TINY), jl.make("simple", continuous_actions=True))
    with pytest.raises(ValueError, match="less than one update"):
        pqn.make_stages(pqn.Config(**dict(TINY, total_timesteps=8)), jl.make("grid_meet"))
    with pytest.raises(ValueError, match="num_minibatches must be a divisor of num_envs \\* "
                                         "num_steps = 16"):
        pqn.Config(**dict(TINY, num_minibatches=3))
    with pytest.raises(ValueError, match="num_minibatches must be a divisor of num_envs=4"):
        pqn.Config(**dict(TINY, num_minibatches=8, recurrent=True))
    for field, value in (("q_lambda", 1.5), ("update_epochs", 0), ("eps_finish", -0.1),
                         ("hypernet_layers", 3), ("optimizer", "sgd")):
        with pytest.raises((ValueError, TypeError), match=field):
            pqn.Config(**{field: value})
    with pytest.raises(ValueError, match="parameter_sharing"):
        pqn.Config(comm="mean", parameter_sharing=False)
    with pytest.raises(ValueError, match="structural"):
        pqn.make_stages(pqn.Config(**TINY), jl.make("grid_meet"), hyper=("num_steps",))
