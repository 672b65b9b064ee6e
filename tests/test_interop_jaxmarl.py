"""JaxMARL adapters both ways: round trips against our native envs, JaxMARL's own envs
(MPE, SMAX, Overcooked) under our contract, a JaxMARL baseline-style loop on ours."""
from __future__ import annotations

import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

jaxmarl = pytest.importorskip("jaxmarl")

from jaxmarl.environments.multi_agent_env import MultiAgentEnv as JaxMARLEnv  # noqa: E402
from jaxmarl.environments.overcooked import overcooked_layouts  # noqa: E402
from jaxmarl.environments.smax import map_name_to_scenario  # noqa: E402
from jaxmarl.environments.spaces import Discrete as JDiscrete, MultiDiscrete  # noqa: E402
from jaxmarl.wrappers.baselines import CTRolloutManager, LogWrapper  # noqa: E402

import jaxmarl_lite.envs  # noqa: E402,F401  (registers the envs)
from jaxmarl_lite.interop.jaxmarl import from_jaxmarl, to_jaxmarl  # noqa: E402
from jaxmarl_lite.registry import make  # noqa: E402
from jaxmarl_lite.spaces import Box, Discrete  # noqa: E402

NUM_ENVS = 2
# LLVM optimisation off on CPU: same semantics, much faster compiles (compiling is the cost)
FAST = {"xla_backend_optimization_level": 0} if jax.default_backend() == "cpu" else None


@functools.partial(jax.jit, static_argnums=(0, 1), compiler_options=FAST)
def rollout(env, num_steps, key):
    """``NUM_ENVS`` vmapped copies, random legal actions; the whole trajectory."""
    obs, state = jax.vmap(env.reset)(jax.random.split(key, NUM_ENVS))

    def body(carry, key):
        obs, state = carry
        act_key, step_key = jax.random.split(key)
        mask = jax.vmap(env.action_mask)(state)
        actions = jax.vmap(env.sample_actions)(jax.random.split(act_key, NUM_ENVS), state)
        obs2, state2, reward, term, trunc, info = jax.vmap(env.step)(
            jax.random.split(step_key, NUM_ENVS), state, actions)
        return (obs2, state2), dict(obs=obs, mask=mask, actions=actions, reward=reward,
                                    term=term, trunc=trunc, final_obs=info["final_obs"],
                                    final_gs=info["final_global_state"])

    return jax.lax.scan(body, (obs, state), jax.random.split(key, num_steps))[1]


# ------------------------------------------------------------------- round trips
@functools.partial(jax.jit, static_argnums=(0, 1), compiler_options=FAST)
def paired_rollout(native, other, keys, actions):
    """The same keys and actions through two envs."""
    def run(env):
        def body(state, xs):
            key, act = xs
            obs, state, reward, term, trunc, info = env.step(key, state, act)
            return state, (obs, reward, term, trunc, info["final_obs"],
                           info["final_global_state"], env.action_mask(state))
        obs0, state = env.reset(keys[0])
        return obs0, jax.lax.scan(body, state, (keys[1:], actions))[1]
    return run(native), run(other)


@pytest.mark.parametrize("name,kwargs,steps", [
    ("grid_meet", dict(random_starts=True), 45),
    ("simple_spread", {}, 30),
    ("simple_speaker_listener", {}, 27),  # heterogeneous: padded obs and actions
])
def test_round_trip_equals_native(name, kwargs, steps):
    native = make(name, **kwargs)
    rt = from_jaxmarl(to_jaxmarl(native))
    assert (rt.agents, rt.obs_sizes, rt.action_sizes, rt.max_episode_steps) == (
        native.agents, native.obs_sizes, native.action_sizes, native.max_episode_steps)
    assert rt.observation_space.shape == native.observation_space.shape
    assert rt.action_space == native.action_space
    keys = jax.random.split(jax.random.PRNGKey(3), steps + 1)
    actions = jax.vmap(lambda k: native.sample_actions(k))(jax.random.split(keys[0], steps))
    (obs_a, traj_a), (obs_b, traj_b) = paired_rollout(native, rt, keys, actions)
    np.testing.assert_array_equal(obs_a, obs_b)
    for a, b in zip(traj_a, traj_b):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-6)
    term, trunc = np.asarray(traj_a[2]), np.asarray(traj_a[3])
    assert trunc.any()  # the horizon was crossed (and auto-reset) inside the rollout
    if name == "grid_meet":
        assert term.any()


def test_jaxmarl_log_wrapper_loop_matches_native():
    """A JaxMARL baseline-style loop (LogWrapper, dict actions, jitted scan) on our env
    sees the same transitions, auto-resets included, as our own ``step``."""
    native = make("grid_meet", random_starts=True)
    jenv = to_jaxmarl(native, world_state=True)
    assert isinstance(jenv, JaxMARLEnv) and jenv.num_agents == 2
    assert jenv.agents == list(native.agents) and jenv.max_steps == 20
    assert isinstance(jenv.action_space("agent_0"), JDiscrete)
    assert jenv.observation_space("agent_1").shape == (4,)
    env = LogWrapper(jenv)
    steps = 45

    @jax.jit
    def loop(key):
        k0, key = jax.random.split(key)
        obs, state = env.reset(k0)
        nobs, nstate = native.reset(k0)

        def body(carry, key):
            state, nstate = carry
            ka, ks = jax.random.split(key)
            avail = jenv.get_avail_actions(state.env_state)
            acts = {a: jenv.action_space(a).sample(k) for a, k
                    in zip(jenv.agents, jax.random.split(ka, jenv.num_agents))}
            obs, state, rew, dones, info = env.step(ks, state, acts)
            arr = jnp.stack([acts[a] for a in jenv.agents])
            nobs, nstate, nrew, term, trunc, _ = native.step(ks, nstate, arr)
            return (state, nstate), (obs, rew, dones, info, nobs, nrew, term | trunc,
                                     native.global_state(nstate), avail)
        return obs, nobs, jax.lax.scan(body, (state, nstate), jax.random.split(key, steps))[1]

    obs0, nobs0, (obs, rew, dones, info, nobs, nrew, ndone, ngs, avail) = loop(
        jax.random.PRNGKey(5))
    for i, a in enumerate(jenv.agents):
        np.testing.assert_array_equal(obs0[a], nobs0[i])
        np.testing.assert_array_equal(obs[a], nobs[:, i])
        np.testing.assert_array_equal(rew[a], nrew[:, i])
        np.testing.assert_array_equal(dones[a], ndone[:, i])
        assert avail[a].shape == (steps, 4) and bool(avail[a].all())
    np.testing.assert_array_equal(obs["world_state"], ngs)
    ended = np.asarray(dones["__all__"])
    assert ended.sum() >= 2
    lengths = np.asarray(info["returned_episode_lengths"])[ended, 0]
    assert (lengths <= 20).all() and (lengths >= 1).all()
    first = int(np.argmax(ended))
    np.testing.assert_allclose(info["returned_episode_returns"][first],
                               np.asarray(nrew)[: first + 1].sum(0))


def test_jaxmarl_ct_rollout_manager_runs_on_ours():
    jenv = to_jaxmarl(make("grid_meet"))
    manager = CTRolloutManager(jenv, batch_size=NUM_ENVS)
    key = jax.random.PRNGKey(0)
    obs, state = manager.batch_reset(key)
    actions = {a: manager.batch_sample(jax.random.fold_in(key, i), a)
               for i, a in enumerate(jenv.agents)}
    obs, state, reward, dones, _ = manager.batch_step(key, state, actions)
    assert obs["agent_0"].shape == (NUM_ENVS, 4 + 2)  # obs + agent one-hot
    assert obs["__all__"].shape == (NUM_ENVS, 8)
    assert reward["__all__"].shape == dones["__all__"].shape == (NUM_ENVS,)


def test_to_jaxmarl_continuous_spaces():
    env = make("simple_speaker_listener", continuous_actions=True)
    jenv = to_jaxmarl(env)
    sizes = [jenv.action_space(a).shape[0] for a in jenv.agents]
    assert sizes == list(env.action_sizes) and sizes[0] != sizes[1]
    assert [jenv.observation_space(a).shape[0] for a in jenv.agents] == list(env.obs_sizes)


# ------------------------------------------------------- JaxMARL's envs under ours
HORIZON = 6
JAXMARL_ENVS = {
    # name: (builder, expected horizon, rollout steps)
    "mpe_spread": (lambda: from_jaxmarl(jaxmarl.make("MPE_simple_spread_v3")), 25, 27),
    "smax_3m": (lambda: from_jaxmarl(jaxmarl.make(
        "HeuristicEnemySMAX", scenario=map_name_to_scenario("3m")), max_episode_steps=HORIZON),
        HORIZON, 2 * HORIZON + 1),
    "overcooked": (lambda: from_jaxmarl(jaxmarl.make(
        "overcooked", layout=overcooked_layouts["cramped_room"]), max_episode_steps=HORIZON),
        HORIZON, 2 * HORIZON + 1),
}


@pytest.fixture(scope="module", params=sorted(JAXMARL_ENVS))
def jm_case(request):
    build, horizon, steps = JAXMARL_ENVS[request.param]
    with warnings.catch_warnings():  # Overcooked warns that OvercookedV2 exists
        warnings.simplefilter("ignore", DeprecationWarning)
        env = build()
    traj = jax.tree.map(np.asarray, rollout(env, steps, jax.random.PRNGKey(1)))
    return request.param, env, horizon, traj


def test_from_jaxmarl_spaces_and_shapes(jm_case):
    name, env, horizon, traj = jm_case
    n, d, a = env.num_agents, env.obs_dim, env.num_actions
    assert env.max_episode_steps == horizon and isinstance(env.action_space, Discrete)
    assert isinstance(env.observation_space, Box) and d == max(env.obs_sizes)
    assert hash(env) == hash(env) and env != from_jaxmarl(env.env, max_episode_steps=horizon)
    steps = traj["obs"].shape[0]
    assert traj["obs"].shape == (steps, NUM_ENVS, n, d) and traj["obs"].dtype == np.float32
    assert traj["mask"].shape == (steps, NUM_ENVS, n, a)
    assert traj["reward"].shape == traj["term"].shape == (steps, NUM_ENVS, n)
    assert traj["final_gs"].shape == (steps, NUM_ENVS, env.state_dim)
    assert np.isfinite(traj["obs"]).all() and np.isfinite(traj["reward"]).all()
    assert not np.array_equal(traj["obs"][:, 0], traj["obs"][:, 1])  # two distinct copies
    # global state: MPE and Overcooked all obs concatenated, SMAX its world_state
    expected = {"mpe_spread": (3, 18, 5, 54), "smax_3m": (3, 75, 8, 72),
                "overcooked": (2, 520, 6, 1040)}[name]
    assert (n, d, a, env.state_dim) == expected


def test_from_jaxmarl_masks_are_legal(jm_case):
    name, env, _, traj = jm_case
    mask, actions = traj["mask"], traj["actions"]
    assert set(np.unique(mask)) <= {0.0, 1.0} and (mask.sum(-1) >= 1).all()
    chosen = np.take_along_axis(mask, actions[..., None], -1)[..., 0]
    assert (chosen == 1).all()
    for i, size in enumerate(env.action_sizes):
        assert (mask[..., i, size:] == 0).all()
    if name == "smax_3m":  # enemies out of range at the start: attacks masked
        assert (mask[0, :, :, 5:] == 0).all() and (mask[0, :, :, :5] == 1).all()


def test_from_jaxmarl_truncates_at_horizon(jm_case):
    _, env, horizon, traj = jm_case
    term, trunc = traj["term"], traj["trunc"]
    assert (term == term[..., :1]).all() and (trunc == trunc[..., :1]).all()  # joint ends
    for e in range(NUM_ENVS):
        length = 0
        for t in range(term.shape[0]):
            length += 1
            assert not (term[t, e, 0] and trunc[t, e, 0])
            assert trunc[t, e, 0] == (length == horizon)
            if term[t, e, 0] or trunc[t, e, 0]:
                if t + 1 < term.shape[0]:  # auto-reset: the next obs is a new episode's
                    assert not np.array_equal(traj["obs"][t + 1, e], traj["final_obs"][t, e])
                length = 0
    assert trunc[horizon - 1].all()


def test_from_jaxmarl_check_env(jm_case):
    checks = pytest.importorskip("jaxmarl_lite.checks")
    if not hasattr(checks, "check_env"):
        pytest.skip("jaxmarl_lite.checks has no check_env")
    checks.check_env(jm_case[1], num_envs=NUM_ENVS)


def test_from_jaxmarl_continuous_mpe():
    """Continuous actions: traced only (shapes and dtypes; the slicing is all there is)."""
    env = from_jaxmarl(jaxmarl.make("MPE_simple_spread_v3", action_type="Continuous"))
    assert env.action_space == Box(0.0, 1.0, (5,)) and not env.is_discrete
    key = jax.random.PRNGKey(0)
    obs, state = jax.eval_shape(env.reset, key)
    out = jax.eval_shape(env.step, key, state, jnp.full((3, 5), 0.5))
    assert obs.shape == out[0].shape == (3, 18) and out[2].shape == out[4].shape == (3,)
    assert env.action_mask_static().shape == (3, 5)


# ---------------------------------------------------------------------- bad inputs
class _NoHorizon(JaxMARLEnv):
    def __init__(self, space=None):
        super().__init__(2)
        self.observation_spaces = {a: JDiscrete(3) for a in self.agents}
        self.action_spaces = {a: space or JDiscrete(2) for a in self.agents}

    def step_env(self, key, state, actions):
        raise NotImplementedError


class _NoStepEnv(JaxMARLEnv):
    max_steps = 10


def test_from_jaxmarl_bad_inputs():
    with pytest.raises(TypeError, match="jaxmarl.environments.MultiAgentEnv"):
        from_jaxmarl(object())
    with pytest.raises(TypeError, match="MultiAgentEnv instance, got GridMeet"):
        from_jaxmarl(make("grid_meet"))
    with pytest.raises(TypeError, match="JaxMARL wrapper"):
        from_jaxmarl(LogWrapper(jaxmarl.make("MPE_simple_spread_v3")))
    with pytest.raises(TypeError, match="step_env"):
        from_jaxmarl(_NoStepEnv(2))
    with pytest.raises(ValueError, match="pass max_episode_steps="):
        from_jaxmarl(_NoHorizon())
    with pytest.raises(ValueError, match="max_episode_steps must be an int >= 1"):
        from_jaxmarl(_NoHorizon(), max_episode_steps=0)
    assert from_jaxmarl(_NoHorizon(), max_episode_steps=7).max_episode_steps == 7
    with pytest.raises(TypeError, match="MultiDiscrete"):
        from_jaxmarl(_NoHorizon(MultiDiscrete([2, 3])), max_episode_steps=7)
    with pytest.raises(TypeError, match="jaxmarl_lite MultiAgentEnv"):
        to_jaxmarl(jaxmarl.make("MPE_simple_spread_v3"))
