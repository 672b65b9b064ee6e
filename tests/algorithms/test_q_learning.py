"""IQL / VDN / QMIX: hand-worked targets and losses, mixers, determinism, learning."""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmarl_lite as jl
from jaxmarl_lite.algorithms import get, iql, q_learning, qmix, vdn
from jaxmarl_lite.algorithms._common.evaluation import evaluate, random_policy
from jaxmarl_lite.algorithms._common.mixers import QMixer, vdn as vdn_mix
from jaxmarl_lite.algorithms._common.normalization import RunningMeanStd
from jaxmarl_lite.algorithms.q_learning import Episode, QParams, loss, td_lambda_targets

from .train_checks import assert_deterministic_and_vmappable


# --------------------------------------------------------------------------- targets
def test_td_lambda_targets_hand_worked():
    r = jnp.array([1.0, 2.0, 3.0])
    v = jnp.array([10.0, 20.0, 30.0])
    valid = jnp.array([True, True, True])
    g = td_lambda_targets(r, jnp.zeros(3, bool), valid, v, 0.5, 0.5)
    # truncated at the last step: bootstrap from V there, lambda-mix before
    np.testing.assert_allclose(g, [6.375, 11.5, 18.0])
    g = td_lambda_targets(r, jnp.array([False, False, True]), valid, v, 0.5, 0.5)
    np.testing.assert_allclose(g, [5.4375, 7.75, 3.0])  # no bootstrap through termination
    g = td_lambda_targets(r, jnp.zeros(3, bool), valid, v, 0.5, 0.0)
    np.testing.assert_allclose(g, r + 0.5 * v)  # lambda 0 = one-step
    # an invalid (post-episode) step never leaks into the targets before it
    g = td_lambda_targets(r, jnp.zeros(3, bool), jnp.array([True, True, False]),
                          jnp.array([10.0, 20.0, 1e6]), 0.5, 1.0)
    np.testing.assert_allclose(g[:2], [1 + 0.5 * (2 + 0.5 * 20), 2 + 0.5 * 20])


class _ObsAsQ:
    """Fake agent network: Q-values are the first two observation entries times a scale
    parameter, so a test controls online and target Q-values exactly."""

    def apply(self, params, hidden, obs, resets):
        return hidden, obs[..., :2] * params["s"]


def _tiny_batch():
    # [B=1, T+1=4, N=2, D=2]: Q-values per step/agent; the last step is past the episode end
    obs = jnp.array([[[1, 2], [0, 3]], [[4, 1], [2, 3]], [[5, 7], [1, 0]], [[9, 9], [9, 9]]],
                    jnp.float32)[None]
    mask = jnp.ones((1, 4, 2, 2)).at[0, 1, 0, 0].set(0.0)  # agent 0 may not pick 0 at t=1
    return q_learning.time_major(Episode(  # as sampled, then time-major as the loss takes it
        obs=obs, state=jnp.zeros((1, 4, 3)), mask=mask,
        actions=jnp.array([[[1, 0], [0, 1], [0, 0]]], jnp.int32),
        rewards=jnp.array([[[1.0, 1.0], [2.0, 0.0], [100.0, 100.0]]]),
        terminated=jnp.array([[[False, False], [True, True], [False, False]]]),
        valid=jnp.array([[True, True, False]])))


@pytest.mark.parametrize("double_q, expected", [(True, 3.875), (False, 3.8125)])
def test_iql_loss_hand_worked(double_q, expected):
    cfg = iql.Config(gamma=0.5, double_q=double_q, hidden_size=1)
    online, target = QParams({"s": 1.0}, None), QParams({"s": -1.0}, None)
    value, _ = loss(online, target, _tiny_batch(), RunningMeanStd.create((2,)), config=cfg,
                    network=_ObsAsQ(), mixer=None)
    # double: t0 targets 1 + .5 * (-1) (agent 0's greedy legal next action is 1), and
    # 1 + .5 * (-3); t1 terminated: targets = rewards; squared errors 2.25, .25, 4, 9
    np.testing.assert_allclose(value, expected, rtol=1e-6)


def test_vdn_loss_uses_team_reward_and_sum():
    cfg = vdn.Config(gamma=0.5, double_q=True, hidden_size=1)
    online, target = QParams({"s": 1.0}, None), QParams({"s": -1.0}, None)
    value, _ = loss(online, target, _tiny_batch(), RunningMeanStd.create((2,)), config=cfg,
                    network=_ObsAsQ(), mixer=q_learning.make_mixer(cfg))
    # Q_tot(t0) = 2 + 0 = 2, target 1 + .5 * (-1 - 3) = -1; Q_tot(t1) = 4 + 3 = 7, target 1
    np.testing.assert_allclose(value, ((2 + 1) ** 2 + (7 - 1) ** 2) / 2, rtol=1e-6)


@pytest.mark.parametrize("module", [iql, vdn], ids=["iql", "vdn"])
def test_shared_experience_assigns_networks_to_slots(module):
    """Per-agent scales 1 and 3; the permutation [1, 0] makes network 1 play slot 0 and
    network 0 slot 1: the loss equals the one of the swapped networks without it."""
    cfg = module.Config(gamma=0.5, hidden_size=1, parameter_sharing=False,
                        shared_experience=True)
    mixer = q_learning.make_mixer(cfg)
    args = dict(config=cfg, network=_ObsAsQ(), mixer=mixer)
    stats, batch = RunningMeanStd.create((2,)), _tiny_batch()
    online, target = QParams({"s": jnp.array([1.0, 3.0])}, None), QParams({"s": jnp.array([-1.0, 2.0])}, None)
    swap = lambda p: QParams({"s": p.agent["s"][::-1]}, None)  # noqa: E731
    shared, _ = loss(online, target, batch, stats, jnp.array([[1, 0]]), **args)
    swapped, _ = loss(swap(online), swap(target), batch, stats, **args)
    plain, _ = loss(online, target, batch, stats, **args)
    np.testing.assert_allclose(shared, swapped, rtol=1e-6)
    assert abs(float(shared) - float(plain)) > 1.0
    same, _ = loss(online, target, batch, stats, jnp.array([[0, 1]]), **args)
    np.testing.assert_allclose(same, plain, rtol=1e-6)  # the identity changes nothing
    perms = np.asarray(q_learning.slot_permutations(jax.random.key(0), 64, 3))
    assert (np.sort(perms, axis=1) == np.arange(3)).all() and len({tuple(p) for p in perms}) == 6


def test_shared_experience_trains_and_refuses_what_it_cannot_mean():
    env = jl.make("grid_goal")
    cfg = iql.Config(**TINY, parameter_sharing=False, shared_experience=True)
    out = jax.jit(iql.make_train(cfg, env))(jax.random.key(0))
    assert np.isfinite(np.asarray(out.metrics["loss"])).all()
    with pytest.raises(ValueError, match="shared_experience.*parameter_sharing"):
        iql.Config(shared_experience=True)
    with pytest.raises(ValueError, match="homogeneous agents"):
        iql.make_stages(cfg, jl.make("simple_speaker_listener"))


def test_mixers_vdn_is_sum_and_qmix_is_monotonic():
    qs = jax.random.normal(jax.random.key(0), (5, 3))
    np.testing.assert_allclose(vdn_mix(qs), qs.sum(-1), rtol=1e-6)
    mixer = QMixer(embed_dim=8, hypernet_hidden=16)
    state = jax.random.normal(jax.random.key(1), (64, 7))
    params = mixer.init(jax.random.key(2), jnp.zeros((64, 3)), state)
    qs = 5 * jax.random.normal(jax.random.key(3), (64, 3))
    grads = jax.vmap(jax.grad(lambda q, s: mixer.apply(params, q, s)))(qs, state)
    assert grads.shape == (64, 3) and bool((grads >= 0).all()) and float(grads.max()) > 0
    # JaxMARL's small init scale: Q_tot starts near zero, and stays monotonic
    small = QMixer(embed_dim=8, hypernet_hidden=16, init_scale=1e-3)
    small_params = small.init(jax.random.key(2), jnp.zeros((64, 3)), state)
    out_small, out_unit = small.apply(small_params, qs, state), mixer.apply(params, qs, state)
    assert float(jnp.abs(out_small).max()) < 1e-3 < float(jnp.abs(out_unit).max())
    grads = jax.vmap(jax.grad(lambda q, s: small.apply(small_params, q, s)))(qs, state)
    assert bool((grads >= 0).all())


def test_config_validation_and_registry():
    with pytest.raises(ValueError, match="Config.lr must be > 0"):
        qmix.Config(lr=0.0)
    with pytest.raises(ValueError, match="gamma must be in"):
        qmix.Config(gamma=1.5)
    with pytest.raises(ValueError, match="mixer_init_scale must be None or > 0"):
        qmix.Config(mixer_init_scale=0.0)
    with pytest.raises(TypeError, match="num_envs expects int"):
        qmix.Config(num_envs=2.5)
    with pytest.raises(ValueError, match="no field|Unknown"):
        qmix.Config().replace(lr_rate=1.0)
    with pytest.raises(TypeError, match="mixer"):
        qmix.Config(mixer="vdn")
    with pytest.raises(ValueError, match="Valid choices: .*qmix"):
        get("qmixx")
    with pytest.raises(ValueError, match="discrete"):
        qmix.make_stages(qmix.Config(), jl.make("simple", continuous_actions=True))
    assert get("qmix") is qmix


# ------------------------------------------------------------------- training loops
TINY = dict(total_timesteps=2 * 4 * 20, num_envs=4, buffer_size=16, batch_size=4,
            learning_starts=0, eval_every=1, eval_episodes=4, hidden_size=8,
            mixer_embed_dim=4, hypernet_hidden=8, target_update_interval=1)


@pytest.fixture(scope="module")
def tiny_qmix():
    env = jl.make("grid_meet")
    train = jax.jit(qmix.make_train(qmix.Config(**TINY, tau=0.5, td_lambda=0.5,
                                                standardise_rewards=True), env))
    return train


def test_same_key_bitwise_and_vmap_equals_single_runs(tiny_qmix):
    a = assert_deterministic_and_vmappable(tiny_qmix, jax.random.key(7))
    assert set(a.metrics) >= {"env_steps", "episode_return", "eval_return", "loss", "epsilon"}
    assert a.metrics["loss"].shape == (2,) and float(a.metrics["loss"][-1]) > 0


def test_no_sharing_ff_iql_runs_with_per_agent_params():
    env = jl.make("grid_meet")
    cfg = iql.Config(**TINY, parameter_sharing=False, recurrent=False)
    out = jax.jit(iql.make_train(cfg, env))(jax.random.key(0))
    kernel = jax.tree.leaves(out.carry.params.agent)[0]
    assert kernel.shape[0] == env.num_agents
    assert np.isfinite(np.asarray(out.metrics["loss"])).all()




@pytest.mark.parametrize("module", [iql, vdn, qmix], ids=["iql", "vdn", "qmix"])
def test_learns_grid_meet_beyond_random(module):
    env = jl.make("grid_meet")
    cfg = module.PRESETS["grid_quick"].replace(total_timesteps=40_000, eval_every=125)
    out = jax.jit(module.make_train(cfg, env))(jax.random.key(1))
    policy = module.make_policy(cfg, env)
    greedy = evaluate(env, policy, out.carry.params, jax.random.key(2), 32).team_return.mean()
    rand = evaluate(env, random_policy(env), None, jax.random.key(2), 256).team_return.mean()
    # random play meets rarely (about -15); the optimum is 7 (meet after 4 moves)
    assert float(rand) < -10
    assert float(greedy) >= 0.0, (float(greedy), float(rand))
    np.testing.assert_allclose(out.metrics["eval_return"][-1], greedy)


def test_epsilon_policy_explores_legal_actions_and_refuses_bad_epsilon():
    """``make_policy(cfg, env, epsilon)``: 0 is the greedy policy whatever the key, 1 draws
    uniformly among the legal actions (varies with the key, never a masked one)."""
    env = jl.make("tictactoe")  # turn-based: the idle seat has no legal action
    cfg = iql.Config(**TINY, recurrent=False)
    params = iql.init_params(cfg, env, jax.random.key(0))
    obs, state = jax.vmap(env.reset)(jax.random.split(jax.random.key(1), 64))
    mask = jax.vmap(env.action_mask)(state)
    first = jnp.ones((64,), bool)

    def acts(eps, seed):
        policy = iql.make_policy(cfg, env, epsilon=eps)
        return np.asarray(policy.act(params, policy.init_carry(64), obs, mask, first,
                                     jax.random.key(seed))[0])

    greedy = acts(0.0, 0)
    np.testing.assert_array_equal(greedy, acts(0.0, 1))
    a, b = acts(1.0, 0), acts(1.0, 1)
    legal = np.take_along_axis(np.asarray(mask), a[..., None], -1)[..., 0]
    assert (legal > 0).all(where=np.asarray(mask).any(-1))
    assert (a != b).any() and (a != greedy).any()
    for bad in (-0.1, 1.5, "0.1", True, None):
        with pytest.raises(ValueError, match="epsilon must be a number in \\[0, 1\\]"):
            iql.make_policy(cfg, env, epsilon=bad)


def test_presets_are_valid_configs():
    for module in (iql, vdn, qmix):
        assert module.PRESETS and all(isinstance(c, module.Config) for c in module.PRESETS.values())
        assert dataclasses.asdict(module.PRESETS["jaxmarl_ql_rnn_mpe"])["gamma"] == 0.9


# ------------------------------------------------------- leaves every seed shares
def test_scan_operand_counts_are_read_from_this_jax():
    """The seed-invariance analysis splits a scan's operands into consts, carry and xs
    (jax < 0.11 names the counts, 0.11 packs them in ``ft_in``); a JAX that describes them
    otherwise must give ``None`` (conservative), not wrong counts."""
    from jaxmarl_lite.algorithms._common.training import _scan_counts

    c = jnp.ones(4)

    def f(x, ys, w):
        def body(carry, y):
            a, b = carry
            return (a + y * w, b * 2), (a * c, y)
        return jax.lax.scan(body, (x, x), ys)

    jaxpr = jax.make_jaxpr(f)(jnp.ones(4), jnp.ones((3, 4)), 2.0)
    (eqn,) = [e for e in jaxpr.eqns if e.primitive.name == "scan"]
    assert _scan_counts(eqn) == (2, 2)  # consts: w and the closed-over c; carry: (a, b)


def test_seeds_vmap_keeps_shared_counters_unbatched(monkeypatch):
    """QMIX's update counter and replay-buffer position are the same for every seed, so the
    seeds vmap keeps them unbatched (a buffer write at one position, as ``jax.vmap(train)``
    does); parameters, keys and the env-step count (episode lengths differ) stay batched.
    Where the scans' operands cannot be read the analysis only shares fewer leaves."""
    from jaxmarl_lite.algorithms._common import training
    from jaxmarl_lite.algorithms._common.training import init_seeds, seed_invariant_and_update

    cfg = qmix.Config(num_envs=4, batch_size=4, buffer_size=16, hidden_size=8,
                      mixer_embed_dim=4, hypernet_hidden=8, learning_starts=0,
                      total_timesteps=100_000)
    stages = qmix.make_stages(cfg, jl.make("grid_meet"))
    carry = jax.eval_shape(lambda k: init_seeds(stages, k), jax.random.split(jax.random.key(0), 2))
    inv, _ = seed_invariant_and_update(stages, carry)
    assert inv.update_count and inv.buffer_state.current_index and inv.buffer_state.is_full
    assert not inv.env_steps and not any(jax.tree.leaves(inv.params))
    assert not any(jax.tree.leaves(inv.key))
    monkeypatch.setattr(training, "_scan_counts", lambda eqn: None)
    blind, _ = seed_invariant_and_update(stages, carry)
    assert not blind.env_steps and not any(jax.tree.leaves(blind.params))
    assert all(a or not b for a, b in zip(jax.tree.leaves(inv), jax.tree.leaves(blind)))


@pytest.mark.xla_default
def test_one_seed_runs_the_update_unbatched(tiny_qmix):
    """A seeds carry of one runs ``update`` without the vmap (no size-1 batch axis in the
    program): the same results as ``jax.jit(train)(key)`` (the ``tiny_qmix`` program),
    metrics still ``[1, updates]``. (``jax.vmap(train)`` agrees up to float rounding:
    ``test_same_key_bitwise_and_vmap_equals_single_runs``.)"""
    from jaxmarl_lite.algorithms._common.training import (init_seeds, run_updates_seeds,
                                                          vmapped_update)

    stages = qmix.make_stages(qmix.Config(**TINY, tau=0.5, td_lambda=0.5,
                                          standardise_rewards=True), jl.make("grid_meet"))
    key = jax.random.key(3)
    carry = init_seeds(stages, key[None])
    _, squeeze, _ = vmapped_update(stages, carry)
    assert jax.tree.leaves(squeeze(carry.params))[0].shape == \
        jax.tree.leaves(carry.params)[0].shape[1:]
    one = jax.jit(lambda c: run_updates_seeds(stages, c, stages.num_updates))(carry)
    plain = tiny_qmix(key)
    assert one.metrics["env_steps"].shape == (1, 2) and one.metrics["finite"].shape == (1, 2)
    np.testing.assert_array_equal(one.metrics["finite"], 1.0)
    for x, y in zip(jax.tree.leaves(one.carry.params), jax.tree.leaves(plain.carry.params)):
        assert x.shape[0] == 1
        np.testing.assert_array_equal(x[0], y)
    for name in ("env_steps", "loss", "eval_return"):
        np.testing.assert_array_equal(one.metrics[name][0], plain.metrics[name])
