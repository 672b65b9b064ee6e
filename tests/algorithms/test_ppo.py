"""MAPPO / IPPO: GAE, loss, masked sampling, determinism, learning."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmarl_lite as jl
from jaxmarl_lite.algorithms import get, ippo, mappo, ppo
from jaxmarl_lite.algorithms._common.distributions import masked_categorical
from jaxmarl_lite.algorithms._common.evaluation import evaluate, random_policy
from jaxmarl_lite.algorithms._common.gae import gae

from .train_checks import assert_deterministic_and_vmappable


def _gae_reference(r, v, nv, term, done, gamma, lam):
    adv, nxt = np.zeros_like(r), np.zeros_like(r[0])
    for t in reversed(range(len(r))):
        delta = r[t] + gamma * (1 - term[t]) * nv[t] - v[t]
        nxt = delta + gamma * lam * (1 - done[t]) * nxt
        adv[t] = nxt
    return adv, adv + v


def test_gae_matches_python_loop_with_terminations_and_truncations():
    rng = np.random.default_rng(0)
    t, b = 12, 5
    r, v, nv = (rng.normal(size=(t, b)).astype(np.float32) for _ in range(3))
    term = rng.random((t, b)) < 0.15
    trunc = rng.random((t, b)) < 0.15
    done = term | trunc
    assert term.any() and (trunc & ~term).any()
    adv, ret = gae(jnp.asarray(r), jnp.asarray(v), jnp.asarray(nv), jnp.asarray(term),
                   jnp.asarray(done), 0.9, 0.8)
    ref_adv, ref_ret = _gae_reference(r, v, nv, term.astype(np.float32), done.astype(np.float32),
                                      0.9, 0.8)
    np.testing.assert_allclose(adv, ref_adv, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ret, ref_ret, rtol=1e-5, atol=1e-5)
    # a truncated step bootstraps from V(final obs); a terminated one does not
    one, _ = gae(jnp.array([1.0]), jnp.array([0.5]), jnp.array([2.0]), jnp.array([False]),
                 jnp.array([True]), 0.9, 0.8)
    np.testing.assert_allclose(one, [1.0 + 0.9 * 2.0 - 0.5])
    one, _ = gae(jnp.array([1.0]), jnp.array([0.5]), jnp.array([2.0]), jnp.array([True]),
                 jnp.array([True]), 0.9, 0.8)
    np.testing.assert_allclose(one, [0.5])


def test_masked_categorical_never_samples_illegal_actions():
    logits = jnp.array([[5.0, 0.0, 1.0, 3.0]] * 2)
    mask = jnp.array([[0.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    dist = masked_categorical(logits, mask)
    samples = dist.sample(seed=jax.random.key(0), sample_shape=(5000,))
    assert bool((jnp.take_along_axis(jnp.broadcast_to(mask, (5000, 2, 4)), samples[..., None],
                                     -1) > 0).all())
    probs = dist.probs
    np.testing.assert_array_equal(np.asarray(probs)[mask == 0], 0.0)
    np.testing.assert_allclose(probs[1], [1, 0, 0, 0])
    np.testing.assert_allclose(dist.entropy()[1], 0.0, atol=1e-6)


class _ConstNets(ppo.Nets):
    """Actor logits and values given directly by the batch (to hand-work the loss)."""

    def dist(self, params, hidden, obs, mask, resets):
        return hidden, masked_categorical(obs * params.actor, mask)

    def value(self, params, hidden, critic_in, resets):
        return hidden, critic_in[..., 0] * params.critic


def test_ppo_loss_hand_worked():
    cfg = ppo.Config(clip_eps=0.2, value_clip_eps=0.2, ent_coef=0.1, vf_coef=0.5)
    nets = _ConstNets(None, None, cfg, True)
    # two samples, two actions with equal logits: pi(a) = 0.5, entropy ln 2
    obs = jnp.zeros((2, 1, 1, 2))
    batch = ppo.Batch(obs=obs, critic_in=jnp.array([1.0, 3.0]).reshape(2, 1, 1, 1),
                      mask=jnp.ones((2, 1, 1, 2)), actions=jnp.zeros((2, 1, 1), jnp.int32),
                      log_prob=jnp.log(jnp.array([0.25, 1.0])).reshape(2, 1, 1),
                      value=jnp.array([0.0, 3.0]).reshape(2, 1, 1),
                      advantages=jnp.array([1.0, -1.0]).reshape(2, 1, 1),
                      targets=jnp.array([2.0, 2.0]).reshape(2, 1, 1),
                      resets=jnp.zeros((2, 1), bool), h0=ppo.Hidden(None, None))
    params = ppo.Params(actor=1.0, critic=1.0, log_std=jnp.zeros(1))
    total, (v_loss, a_loss, ent) = ppo.loss(params, batch, nets=nets)
    # normalised advantages +1, -1 (std 1); ratios 2 and 0.5 -> clipped terms 1.2 and -0.8
    np.testing.assert_allclose(a_loss, -(1.2 + (-0.8)) / 2, rtol=1e-5)
    # values 1 and 3 vs targets 2: clipped values 0.2 and 3 -> max errors 3.24, 1
    np.testing.assert_allclose(v_loss, 0.5 * (3.24 + 1.0) / 2, rtol=1e-5)
    np.testing.assert_allclose(ent, np.log(2), rtol=1e-5)
    np.testing.assert_allclose(total, a_loss + 0.5 * v_loss - 0.1 * ent, rtol=1e-5)
    # an annealed entropy weight replaces config.ent_coef
    total_annealed, _ = ppo.loss(params, batch, nets=nets, ent_coef=jnp.float32(0.03))
    np.testing.assert_allclose(total_annealed, a_loss + 0.5 * v_loss - 0.03 * ent, rtol=1e-5)


def test_entropy_weight_schedule():
    assert ppo.entropy_weight(ppo.Config(ent_coef=0.05), jnp.int32(3), 11) is None
    cfg = ppo.Config(ent_coef=0.05, ent_coef_final=0.01)
    weights = [float(ppo.entropy_weight(cfg, jnp.int32(u), 11)) for u in (0, 5, 10)]
    np.testing.assert_allclose(weights, [0.05, 0.03, 0.01], rtol=1e-5)
    with pytest.raises(ValueError, match="ent_coef_final must be None or >= 0"):
        ppo.Config(ent_coef_final=-0.1)


def test_config_validation():
    with pytest.raises(ValueError, match="num_minibatches must be a divisor"):
        mappo.Config(num_envs=6, num_minibatches=4)
    with pytest.raises(TypeError, match="critic"):
        mappo.Config(critic="global")
    with pytest.raises(ValueError, match="Unknown activation"):
        mappo.Config(activation="swish2")
    assert ippo.Config().critic == "local" and mappo.Config().critic == "agent_specific"
    assert get("mappo") is mappo


TINY = dict(num_envs=4, num_steps=8, total_timesteps=2 * 32, num_minibatches=2, update_epochs=2,
            hidden_size=8, eval_every=1, eval_episodes=4)


@pytest.fixture(scope="module")
def tiny_rnn_mappo():
    env = jl.make("grid_meet")
    return jax.jit(mappo.make_train(mappo.Config(**TINY, recurrent=True), env))


def test_determinism_and_vmap(tiny_rnn_mappo):
    a = assert_deterministic_and_vmappable(tiny_rnn_mappo, jax.random.key(3), check_metrics=False)
    assert {"value_loss", "actor_loss", "entropy", "eval_return"} <= set(a.metrics)


@pytest.mark.parametrize("critic, sharing", [("centralised", True), ("local", False)])
def test_other_critics_and_no_sharing_run(critic, sharing):
    env = jl.make("simple_spread", N=2)
    out = jax.jit(ppo.make_train(ppo.Config(**TINY, critic=critic, parameter_sharing=sharing),
                                 env))(jax.random.key(0))
    assert np.isfinite(np.asarray(out.metrics["value_loss"])).all()
    if not sharing:
        assert jax.tree.leaves(out.carry.params.actor)[0].shape[0] == 2


def test_cnn_torso_reads_the_image_part_of_observations():
    from jaxmarl_lite.algorithms._common.networks import ConvTorso
    torso = ConvTorso((4, 2, 2), (3,), "relu")
    x = jnp.sin(jnp.arange(2 * 18, dtype=jnp.float32)).reshape(2, 18)  # 16 image features + 2
    params = torso.init(jax.random.key(0), x)
    y = torso.apply(params, x)
    assert y.shape == (2, 2 * 1 * 3 + 2)  # [4, 2] -> stride 2 -> [2, 1] x 3 channels
    np.testing.assert_array_equal(y[:, -2:], x[:, 16:])
    expected = torso.apply(params, x[:1])  # rows are independent images
    np.testing.assert_allclose(y[:1], expected, rtol=1e-6)
    kernel = params["params"]["kernel_0"]  # the patches-and-matmul form equals lax.conv
    image = x[0, :16].reshape(1, 4, 2, 2)
    conv = jax.lax.conv_general_dilated(image, kernel, (2, 2), "SAME",
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))
    conv = jax.nn.relu(conv + params["params"]["bias_0"])
    np.testing.assert_allclose(y[0, :6], conv.reshape(-1), rtol=1e-5)

    env = jl.make("grid_meet")  # obs [2 agents, 4]: a 2x2 one-channel "image"
    cfg = ppo.Config(**TINY, critic="local", obs_image_shape=(2, 2, 1), cnn_channels=(4,))
    out = jax.jit(ppo.make_train(cfg, env))(jax.random.key(0))
    assert np.isfinite(np.asarray(out.metrics["value_loss"])).all()
    for net in (out.carry.params.actor, out.carry.params.critic):
        assert net["params"]["ConvTorso_0"]["kernel_0"].shape == (3, 3, 1, 4)
    mappo_params = mappo.make_stages(cfg.replace(critic="agent_specific"), env).init(
        jax.random.key(0)).params  # the critic reads the global state: no CNN there
    assert "ConvTorso_0" not in mappo_params.critic["params"]

    with pytest.raises(ValueError, match="needs 9 observation features.*have 4"):
        ppo.make_nets(cfg.replace(obs_image_shape=(3, 3, 1)), env)
    for bad in ((2, 2), (2, 0, 1)):
        with pytest.raises((ValueError, TypeError), match="obs_image_shape"):
            ppo.Config(obs_image_shape=bad)
    with pytest.raises(ValueError, match="cnn_channels"):
        ppo.Config(cnn_channels=())
    assert ppo.Config.from_dict({"obs_image_shape": [2, 2, 1]}).obs_image_shape == (2, 2, 1)


@pytest.mark.parametrize("module, env_name, env_kwargs, overrides", [
    (mappo, "grid_meet", {}, dict(total_timesteps=40_960)),
    (mappo, "simple", {"continuous_actions": True},
     dict(total_timesteps=61_440, num_steps=64, ent_coef=0.0)),
], ids=["mappo-grid_meet", "mappo-simple-continuous"])
def test_learns_beyond_random(module, env_name, env_kwargs, overrides):
    env = jl.make(env_name, **env_kwargs)
    cfg = module.PRESETS["grid_quick"].replace(**overrides)
    out = jax.jit(module.make_train(cfg, env))(jax.random.key(0))
    trained = evaluate(env, module.make_policy(cfg, env), out.carry.params, jax.random.key(1),
                       128).team_return.mean()
    rand = evaluate(env, random_policy(env), None, jax.random.key(1), 256).team_return.mean()
    # grid_meet: random about -15, optimum 7; simple (continuous): random about -39
    margin = 10.0 if env_name == "grid_meet" else 15.0
    assert float(trained) > float(rand) + margin, (float(trained), float(rand))


@pytest.mark.parametrize("strata", [1, 2, 4])
def test_minibatch_envs_partition_every_env_and_stratify(strata):
    """Every epoch's minibatches partition the envs; stratified ones take the same number of
    envs from each contiguous group; the uniform shuffle is the old permutation."""
    num_envs, m = 16, 2
    idx = np.asarray(ppo.minibatch_envs(jax.random.key(3), num_envs, m, strata))
    assert idx.shape == (m, num_envs // m)
    assert sorted(idx.ravel().tolist()) == list(range(num_envs))
    groups = idx // (num_envs // strata)
    for row in groups:
        assert np.bincount(row, minlength=strata).tolist() == [num_envs // m // strata] * strata
    if strata == 1:
        np.testing.assert_array_equal(
            idx, np.asarray(jax.random.permutation(jax.random.key(3), num_envs)).reshape(m, -1))
    else:  # shuffled within groups, not a fixed order
        assert not np.array_equal(np.sort(idx, axis=1), idx) or strata == num_envs // m


def test_minibatch_strata_validation():
    with pytest.raises(ValueError, match="minibatch_strata must be such that num_minibatches"):
        ppo.Config(num_envs=16, num_minibatches=4, minibatch_strata=8)
    with pytest.raises(ValueError, match="minibatch_strata must be > 0"):
        ppo.Config(minibatch_strata=0)


def test_sampled_policy_draws_legal_actions_from_the_key_and_greedy_ignores_it():
    env = jl.make("grid_goal")
    cfg = mappo.Config(hidden_size=8, num_envs=4, num_steps=4, total_timesteps=16)
    params = mappo.init_params(cfg, env, jax.random.key(0))
    obs, _ = jax.vmap(env.reset)(jax.random.split(jax.random.key(1), 64))
    mask = jnp.zeros((64, env.num_agents, env.num_actions)).at[..., 1:3].set(1.0)
    first = jnp.ones((64,), bool)
    acts = {}
    for sample in (False, True):
        policy = mappo.make_policy(cfg, env, sample=sample)
        act = jax.jit(lambda k, p=policy: p.act(params, p.init_carry(64), obs, mask, first, k)[0])
        acts[sample] = [np.asarray(act(jax.random.key(i))) for i in range(2)]
    greedy, sampled = acts[False], acts[True]
    np.testing.assert_array_equal(greedy[0], greedy[1])
    assert set(np.unique(np.concatenate(sampled))) == {1, 2}  # both legal, never an illegal one
    assert (sampled[0] != sampled[1]).any()
    with pytest.raises(TypeError, match="sample must be a bool"):
        mappo.make_policy(cfg, env, sample="yes")
