"""MADDPG: hand-worked critic targets and actor loss, straight-through Gumbel-softmax,
polyak arithmetic, parameter groups, determinism, vmap, learning."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmarl_lite as jl
from jaxmarl_lite.algorithms import get, maddpg
from jaxmarl_lite.algorithms._common.evaluation import evaluate, random_policy
from jaxmarl_lite.algorithms._common.networks import MLP

from .train_checks import assert_deterministic_and_vmappable

N, D, A, B = 2, 3, 2, 4  # agents, obs dim, action dim, batch


def _linear_nets(discrete: bool, groups=(0, 1), joint_obs=True):
    """Linear actor and critic (``MLP`` without hidden layers), per-agent parameters."""
    return maddpg.Nets(MLP((), A), MLP((), 1), groups, discrete, -1.0, 3.0,
                       np.ones((N, A), np.float32), joint_obs)


def _dense(kernel, bias):
    return {"params": {"Dense_0": {"kernel": jnp.asarray(kernel, jnp.float32),
                                   "bias": jnp.asarray(bias, jnp.float32)}}}


def _batch(rng, discrete: bool):
    acts = (np.eye(A)[rng.integers(0, A, (B, N))] if discrete
            else rng.uniform(-1, 3, (B, N, A)))
    return maddpg.Transition(
        obs=jnp.asarray(rng.normal(size=(B, N, D)), jnp.float32),
        state=jnp.asarray(rng.normal(size=(B, 5)), jnp.float32),
        mask=jnp.ones((B, N, A)), actions=jnp.asarray(acts, jnp.float32),
        rewards=jnp.asarray(rng.normal(size=(B, N)), jnp.float32),
        terminated=jnp.asarray(rng.random((B, N)) < 0.5),
        next_obs=jnp.asarray(rng.normal(size=(B, N, D)), jnp.float32),
        next_state=jnp.asarray(rng.normal(size=(B, 5)), jnp.float32),
        next_mask=jnp.ones((B, N, A)))


def _scale(out):
    return -1.0 + 0.5 * (np.tanh(out) + 1.0) * 4.0


def test_critic_targets_and_loss_hand_worked():
    rng = np.random.default_rng(0)
    batch = _batch(rng, discrete=False)
    nets = _linear_nets(discrete=False)
    wa, ba = rng.normal(size=(N, D, A)), rng.normal(size=(N, A))
    z_dim = N * D + N * A
    wc, bc = rng.normal(size=(N, z_dim, 1)), rng.normal(size=(N, 1))
    target = maddpg.Params(_dense(wa, ba), _dense(wc, bc))
    y = maddpg.critic_targets(target, batch, jax.random.key(0), nets=nets, gamma=0.9,
                              temperature=1.0)
    obs2 = np.asarray(batch.next_obs)
    next_a = _scale(np.einsum("bnd,nda->bna", obs2, wa) + ba)  # target actors
    z = np.concatenate([obs2.reshape(B, -1), next_a.reshape(B, -1)], -1)
    q_next = np.einsum("bz,nz->bn", z, wc[..., 0]) + bc[:, 0]
    term = np.asarray(batch.terminated, np.float32)
    expected = np.asarray(batch.rewards) + 0.9 * (1 - term) * q_next
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    # the loss is the per-agent mean squared error summed over agents
    z_now = np.concatenate([np.asarray(batch.obs).reshape(B, -1),
                            np.asarray(batch.actions).reshape(B, -1)], -1)
    q = np.einsum("bz,nz->bn", z_now, wc[..., 0]) + bc[:, 0]
    value, q_mean = maddpg.critic_loss(target.critic, batch, jnp.asarray(expected), nets=nets)
    np.testing.assert_allclose(value, ((q - expected) ** 2).mean(0).sum(), rtol=1e-5)
    np.testing.assert_allclose(q_mean, q.mean(), rtol=1e-5, atol=1e-6)


def test_critic_can_use_global_state():
    rng = np.random.default_rng(1)
    batch = _batch(rng, discrete=True)
    nets = _linear_nets(discrete=True, joint_obs=False)
    wc = np.zeros((N, 5 + N * A, 1))
    wc[:, :5, 0] = 1.0  # Q_i = sum of the next global state
    critic = _dense(wc, np.zeros((N, 1)))
    actor = _dense(np.zeros((N, D, A)), np.zeros((N, A)))
    y = maddpg.critic_targets(maddpg.Params(actor, critic), batch, jax.random.key(0), nets=nets,
                              gamma=0.5, temperature=1.0)
    s = np.asarray(batch.next_state).sum(-1, keepdims=True)
    term = np.asarray(batch.terminated, np.float32)
    np.testing.assert_allclose(y, np.asarray(batch.rewards) + 0.5 * (1 - term) * s, rtol=1e-5)


def test_actor_loss_hand_worked_and_gradients_reach_only_own_actor():
    rng = np.random.default_rng(2)
    batch = _batch(rng, discrete=False)
    nets = _linear_nets(discrete=False)
    wa, ba = rng.normal(size=(N, D, A)), rng.normal(size=(N, A))
    wc, bc = rng.normal(size=(N, N * D + N * A, 1)), rng.normal(size=(N, 1))
    actor, critic = _dense(wa, ba), _dense(wc, bc)
    value, _ = maddpg.actor_loss(actor, critic, batch, jax.random.key(0), nets=nets,
                                 temperature=1.0, reg=0.1)
    obs, buf = np.asarray(batch.obs), np.asarray(batch.actions)
    out = np.einsum("bnd,nda->bna", obs, wa) + ba
    own = _scale(out)
    expected = 0.0
    for i in range(N):
        joint = buf.copy()
        joint[:, i] = own[:, i]  # critic i sees agent i's actor action, the others' buffer ones
        z = np.concatenate([obs.reshape(B, -1), joint.reshape(B, -1)], -1)
        expected -= (z @ wc[i, :, 0] + bc[i, 0]).mean()
    expected += 0.1 * (out**2).mean()
    np.testing.assert_allclose(value, expected, rtol=1e-5)
    # agent j's actor gets gradient only through critic j: a critic 1 that depends on agent
    # 0's action alone (which it sees from the buffer) gives no actor any gradient
    grad = jax.grad(lambda a, c: maddpg.actor_loss(a, c, batch, jax.random.key(0), nets=nets,
                                                   temperature=1.0, reg=0.0)[0])
    agent0_action = slice(N * D, N * D + A)
    w_other = np.zeros_like(wc)
    w_other[1, agent0_action, 0] = 1.0
    g = np.asarray(grad(actor, _dense(w_other, bc))["params"]["Dense_0"]["kernel"])
    np.testing.assert_array_equal(g, 0.0)
    w_own = np.zeros_like(wc)
    w_own[0, agent0_action, 0] = 1.0  # critic 0 values agent 0's own action
    g = np.asarray(grad(actor, _dense(w_own, bc))["params"]["Dense_0"]["kernel"])
    assert np.abs(g[0]).sum() > 0 and np.abs(g[1]).sum() == 0


def test_gumbel_softmax_straight_through():
    logits = jnp.array([[0.3, -1.0, 2.0, 0.5]] * 64)
    mask = jnp.array([[1.0, 1.0, 1.0, 0.0]] * 64)
    y = maddpg.gumbel_softmax_st(jax.random.key(0), logits, mask, 1.0)
    y = np.asarray(y)
    np.testing.assert_array_equal(y.sum(-1), 1.0)  # exactly one-hot forward
    assert set(np.unique(y)) == {0.0, 1.0}
    assert (y[:, 3] == 0).all() and len(set(y.argmax(-1))) > 1  # legal, and sampled
    # the gradient is that of the softmax relaxation: non-zero for legal logits
    w = jnp.arange(4.0)
    g = jax.grad(lambda l: (maddpg.gumbel_softmax_st(jax.random.key(1), l, mask, 0.5) * w).sum())(
        logits)
    assert np.abs(np.asarray(g[:, :3])).sum() > 0
    np.testing.assert_allclose(g[:, 3], 0.0, atol=1e-12)


def test_polyak_arithmetic():
    target = {"w": jnp.array([1.0, 2.0])}
    online = {"w": jnp.array([3.0, -2.0])}
    np.testing.assert_allclose(maddpg.polyak(target, online, 0.25)["w"], [1.5, 1.0])
    np.testing.assert_allclose(maddpg.polyak(target, online, 1.0)["w"], [3.0, -2.0])


def test_parameter_groups_and_config_validation():
    tag = jl.make("simple_tag")  # 3 adversaries then 1 good agent
    assert maddpg.parameter_groups(tag, "none") == (0, 1, 2, 3)
    assert maddpg.parameter_groups(tag, "all") == (0, 0, 0, 0)
    assert maddpg.parameter_groups(tag, "team") == (0, 0, 0, 1)
    with pytest.raises(ValueError, match="batch_size"):
        maddpg.Config(batch_size=10, buffer_size=5)
    with pytest.raises(ValueError, match="tau"):
        maddpg.Config(tau=0.0)
    with pytest.raises(TypeError, match="sharing"):
        maddpg.Config(sharing="teams")
    with pytest.raises(ValueError, match="Unknown activation"):
        maddpg.Config(activation="swish2")
    with pytest.raises(ValueError, match="less than one update"):
        maddpg.make_stages(maddpg.Config(total_timesteps=10, learning_starts=0), tag)
    with pytest.raises(ValueError, match="noise_start would be ignored"):  # swept, too
        maddpg.make_stages(maddpg.Config(learning_starts=0), tag, hyper=("noise_start",))
    assert get("maddpg") is maddpg


TINY = dict(total_timesteps=3 * 4 * 5, num_envs=4, num_steps=5, num_sgd_steps=2,
            buffer_size=64, batch_size=8, learning_starts=0, hidden_size=8, eval_every=2,
            eval_episodes=4)


def test_determinism_and_vmap_discrete_team_sharing():
    env = jl.make("simple_adversary", N=2)
    train = jax.jit(maddpg.make_train(maddpg.Config(**TINY, sharing="team"), env))
    a = assert_deterministic_and_vmappable(train, jax.random.key(3), check_metrics=False)
    assert jax.tree.leaves(a.carry.params.actor)[0].shape[0] == 2  # two teams
    assert np.isfinite(np.asarray(a.metrics["critic_loss"])).all()
    assert float(a.metrics["critic_loss"][-1]) > 0


def test_heterogeneous_continuous_runs():
    env = jl.make("simple_speaker_listener", continuous_actions=True)
    cfg = maddpg.Config(**TINY, critic_input="state", team_reward=True)
    out = jax.jit(maddpg.make_train(cfg, env))(jax.random.key(0))
    stored = out.carry.buffer_state.experience.actions  # padded dims stay zero
    sizes = env.action_sizes
    for i, size in enumerate(sizes):
        np.testing.assert_array_equal(np.asarray(stored[:, i, size:]), 0.0)
    assert np.isfinite(np.asarray(out.metrics["actor_loss"])).all()


def test_learns_beyond_random_continuous_simple():
    env = jl.make("simple", continuous_actions=True)
    cfg = maddpg.PRESETS["quick"].replace(total_timesteps=30_000)
    out = jax.jit(maddpg.make_train(cfg, env))(jax.random.key(0))
    trained = evaluate(env, maddpg.make_policy(cfg, env), out.carry.params, jax.random.key(1),
                       128).team_return.mean()
    rand = evaluate(env, random_policy(env), None, jax.random.key(1), 256).team_return.mean()
    assert float(trained) > float(rand) + 10.0, (float(trained), float(rand))
