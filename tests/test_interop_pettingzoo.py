"""PettingZoo adapters (jaxmarl_lite.interop.pettingzoo): PettingZoo's own API and seed tests
on every registered env, the tic-tac-toe AEC adapter against ``tictactoe_v3``, and
``from_pettingzoo`` on mpe2 and on a round trip through ``to_pettingzoo``."""
import importlib
import importlib.util
import sys
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmarl_lite as jl
from jaxmarl_lite.envs.mpe import TASKS

pz_test = pytest.importorskip("pettingzoo.test")
from jaxmarl_lite.interop import pettingzoo as jpz  # noqa: E402

PIP_HINT = r'pip install "jaxmarl-lite\[pettingzoo\]"'


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():  # PettingZoo's advisory warnings (obs all zeros, ...)
        warnings.simplefilter("ignore")
        yield


# ------------------------------------------------------------------ to_pettingzoo
@pytest.mark.parametrize("name", jl.registered_envs())
def test_parallel_api_and_seed_test_on_every_env(name):
    env = jl.make(name)
    par = jpz.to_pettingzoo(env)
    pz_test.parallel_api_test(par, num_cycles=60)
    pz_test.parallel_seed_test(lambda: jpz.to_pettingzoo(jl.make(name)), num_cycles=60)

    assert par.possible_agents == list(env.agents)
    obs, infos = par.reset(seed=3)
    _, _, (native_obs, _, gstate) = jpz._jit_reset(env, jax.random.PRNGKey(3))  # the same call
    for i, agent in enumerate(env.agents):
        assert par.observation_space(agent).shape == (env.obs_sizes[i],)
        assert par.observation_space(agent).contains(obs[agent])
        np.testing.assert_array_equal(obs[agent], native_obs[i, : env.obs_sizes[i]])
        assert not native_obs[i, env.obs_sizes[i]:].any()  # only padding was cut
        space = par.action_space(agent)
        assert (space.n if env.is_discrete else space.shape[0]) == env.action_sizes[i]
    np.testing.assert_array_equal(par.state(), gstate)
    again, _ = par.reset(seed=3)
    assert all(np.array_equal(obs[a], again[a]) for a in obs)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_mpe_agents_and_spaces_match_mpe2(name):
    alias = TASKS[name][1]
    theirs = importlib.import_module(f"mpe2.{alias}").parallel_env()
    ours = jpz.to_pettingzoo(jl.make(name))
    assert ours.possible_agents == theirs.possible_agents
    for a in ours.possible_agents:
        assert ours.observation_space(a).shape == theirs.observation_space(a).shape
        assert ours.action_space(a) == theirs.action_space(a)


def test_grid_meet_episode_ends_without_auto_reset():
    par = jpz.to_pettingzoo(jl.make("grid_meet"))
    par.reset(seed=0)
    rewards = []
    for a0, a1 in [(0, 1), (0, 1), (2, 3), (2, 3)]:  # (0,0) and (4,4) meet at (2,2)
        obs, rew, term, trunc, infos = par.step({"agent_0": a0, "agent_1": a1})
        rewards.append(rew["agent_0"])
    assert rewards == [-1.0, -1.0, -1.0, 10.0]
    assert term == {"agent_0": True, "agent_1": True} and not any(trunc.values())
    np.testing.assert_allclose(obs["agent_0"], [0.5, 0.5, 0.5, 0.5])
    assert par.agents == [] and "action_mask" not in infos["agent_0"]
    with pytest.raises(RuntimeError, match="reset"):
        par.step({})


def test_truncation_masks_render_and_bad_actions():
    par = jpz.to_pettingzoo(jl.make("grid_meet", max_steps=3), render_mode="rgb_array")
    par.reset(seed=0)
    for _ in range(3):
        _, _, term, trunc, _ = par.step({"agent_0": 1, "agent_1": 0})  # both walk into walls
    assert trunc == {"agent_0": True, "agent_1": True} and not any(term.values())
    frame = par.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3

    ttt = jpz.to_pettingzoo(jl.make("tictactoe"))
    _, infos = ttt.reset(seed=0)
    mask = infos["player_1"]["action_mask"]
    assert mask.dtype == np.int8 and mask.tolist() == [1] * 9
    assert infos["player_2"]["action_mask"].tolist() == [0] * 9
    _, _, _, _, infos = ttt.step({"player_1": 4, "player_2": 0})
    assert infos["player_2"]["action_mask"].tolist() == [1, 1, 1, 1, 0, 1, 1, 1, 1]
    for bad in (9, -1, 1.5, "a"):
        with pytest.raises(ValueError, match="action space"):
            ttt.step({"player_1": 0, "player_2": bad})
    with pytest.raises(ValueError, match="missing"):
        ttt.step({"player_1": 0})
    with pytest.raises(ValueError, match="not supported"):
        jpz.to_pettingzoo(jl.make("tictactoe"), render_mode="human")


def test_continuous_heterogeneous_spaces():
    env = jl.make("simple_speaker_listener", continuous_actions=True)
    par = jpz.to_pettingzoo(env, seed=1)
    assert [par.action_space(a).shape for a in par.possible_agents] == [(3,), (5,)]
    assert [par.observation_space(a).shape for a in par.possible_agents] == [(3,), (11,)]
    obs, _ = par.reset()
    obs, rew, *_ = par.step({a: par.action_space(a).sample() for a in par.agents})
    assert obs["listener_0"].shape == (11,) and isinstance(rew["speaker_0"], float)
    with pytest.raises(ValueError, match="action space"):
        par.step({"speaker_0": np.full(3, 2.0, np.float32), "listener_0": np.zeros(5, np.float32)})


# ------------------------------------------------------------------ AEC tic-tac-toe
def test_aec_api_and_seed_test():
    """PettingZoo's own checks (they raise on a violation), then the first position."""
    env = jpz.to_pettingzoo_aec(jl.make("tictactoe"))
    pz_test.api_test(env, num_cycles=100)
    pz_test.seed_test(lambda: jpz.to_pettingzoo_aec(jl.make("tictactoe")), num_cycles=100)
    env.reset(seed=0)
    first = env.observe(env.agent_selection)
    assert env.agent_selection == "player_1"
    assert first["observation"].shape == (3, 3, 2) and first["observation"].dtype == np.int8
    assert first["action_mask"].tolist() == [1] * 9


@pytest.mark.parametrize("moves", [
    [0, 3, 1, 4, 2],  # player_1 wins on the top row
    [0, 4, 1, 2, 8, 6],  # player_2 wins on the anti-diagonal
    [0, 1, 2, 4, 3, 5, 7, 6, 8],  # draw
    [4, 4],  # illegal move by player_2
])
def test_aec_matches_tictactoe_v3(moves):
    from pettingzoo.classic import tictactoe_v3
    ours, theirs = jpz.to_pettingzoo_aec(jl.make("tictactoe")), tictactoe_v3.env()
    ours.reset(seed=0)
    theirs.reset(seed=0)
    for move in moves:
        assert ours.agent_selection == theirs.agent_selection
        for agent in theirs.possible_agents:
            o, t = ours.observe(agent), theirs.observe(agent)
            assert o["observation"].dtype == t["observation"].dtype == np.int8
            np.testing.assert_array_equal(o["observation"], t["observation"])
            np.testing.assert_array_equal(o["action_mask"], t["action_mask"])
            assert ours.observation_space(agent).contains(o)
        ours.step(move)
        theirs.step(move)
        assert ours.rewards == theirs.rewards
        assert ours.terminations == theirs.terminations
    for agent in theirs.possible_agents:  # the final position
        np.testing.assert_array_equal(ours.observe(agent)["observation"],
                                      theirs.observe(agent)["observation"])
    finish = {}
    for env in (ours, theirs):  # the dead agents' last() and removal
        finish[env] = []
        for agent in env.agent_iter():
            finish[env].append((agent, env.last()[1:3]))
            env.step(None)
    assert finish[ours] == finish[theirs] and ours.agents == []


# ------------------------------------------------------------------ from_pettingzoo
@pytest.fixture(scope="module")
def spread():
    from mpe2 import simple_spread_v3
    env = jpz.from_pettingzoo(simple_spread_v3.parallel_env, num_envs=2)
    yield env
    env.close()


def test_from_pettingzoo_mpe2_jit_vmap_reproducible(spread):
    from mpe2 import simple_spread_v3
    assert spread.agents == ("agent_0", "agent_1", "agent_2") and spread.max_episode_steps == 25
    assert spread.obs_sizes == (18,) * 3 and spread.num_actions == 5 and spread.state_dim == 54
    reset, step = jax.jit(jax.vmap(spread.reset)), jax.jit(jax.vmap(spread.step))
    keys = np.asarray(jax.random.split(jax.random.PRNGKey(0), 2))
    actions = np.asarray(jax.random.randint(jax.random.PRNGKey(1), (26, 2, 3), 0, 5))

    def rollout():
        obs, state = reset(keys)
        out = [(obs,)]
        for t in range(26):
            obs, state, rew, term, trunc, info = step(keys, state, actions[t])
            out.append((obs, rew, term, trunc, info["final_obs"]))
        return jax.device_get(out), jax.device_get(state)

    (first, state), (second, _) = rollout(), rollout()
    for a, b in zip(first, second):  # the same keys give the same episodes
        assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert first[0][0].shape == (2, 3, 18) and not np.allclose(first[0][0][0], first[0][0][1])
    trunc = np.stack([o[3] for o in first[1:]])  # [26, 2, 3]
    assert trunc[24].all() and not trunc[:24].any() and not trunc[25].any()
    assert not np.stack([o[2] for o in first[1:]]).any()
    assert not np.allclose(first[25][0], first[25][4])  # auto-reset: obs != final_obs

    # env 0 against mpe2 itself, seeded as the adapter seeds it
    host = simple_spread_v3.parallel_env()
    obs, _ = host.reset(seed=int(jax.device_get(reset(keys)[1].seed)[0]))
    np.testing.assert_allclose(first[0][0][0], np.stack([obs[a] for a in host.agents]))
    for t in range(25):
        obs, rew, *_ = host.step({a: int(actions[t, 0, i]) for i, a in enumerate(host.possible_agents)})
        np.testing.assert_allclose(first[t + 1][4][0], np.stack([obs[a] for a in host.possible_agents]),
                                   rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(first[t + 1][1][0], [rew[a] for a in host.possible_agents], rtol=1e-5)

    state = jax.tree.map(lambda x: x[:1], state)  # env 0 alone, still batched
    step(keys[:1], state, actions[0, :1])
    with pytest.raises(Exception, match="already stepped"):  # host copies cannot branch
        jax.block_until_ready(step(keys[:1], state, actions[0, :1]))


def test_round_trip_matches_native_grid_meet():
    native = jl.make("grid_meet")
    rt = jpz.from_pettingzoo(lambda: jpz.to_pettingzoo(jl.make("grid_meet")))
    assert rt.max_episode_steps == 20 and rt.agents == native.agents
    keys = np.asarray(jax.random.split(jax.random.PRNGKey(0), 45))
    actions = np.random.default_rng(0).integers(0, 4, (45, 2)).astype(np.int32)

    def rollout(env):  # covers a meeting (termination), a truncation and auto-resets
        @jax.jit
        def step(key, state, action):
            out = env.step(key, state, action)
            return out + (env.global_state(out[1]),)

        obs, state = env.reset(jax.random.PRNGKey(0))
        trace = [(obs,)]
        for key, action in zip(keys, actions):
            obs, state, rew, term, trunc, info, gstate = step(key, state, action)
            trace.append((obs, rew, term, trunc, info["final_obs"], gstate))
        return jax.device_get(trace)

    expected, got = rollout(native), rollout(rt)
    for a, b in zip(expected, got):
        for x, y in zip(a, b):
            np.testing.assert_allclose(y, x, rtol=1e-6)  # exact but the global state's t / T
    assert sum(bool(np.all(t[2] | t[3])) for t in expected[1:]) >= 2
    rt.close()


def test_host_resets_only_at_episode_ends_and_global_state_options():
    resets = []

    def make():  # grid_meet through PettingZoo, counting the host resets
        par = jpz.to_pettingzoo(jl.make("grid_meet"))
        reset = par.reset
        par.reset = lambda seed=None, options=None: resets.append(seed) or reset(seed, options)
        return par

    env = jpz.from_pettingzoo(make, global_state="observations")
    assert env.state_dim == sum(env.obs_sizes)
    step = jax.jit(env.step)
    _, state = env.reset(jax.random.PRNGKey(0))
    resets.clear()
    actions = np.random.default_rng(1).integers(0, 4, (45, 2)).astype(np.int32)
    ends = 0
    for t, action in enumerate(actions):
        obs, state, _, term, trunc, _ = step(jax.random.PRNGKey(t), state, action)
        done = bool(np.all(term | trunc))
        ends += done
        np.testing.assert_array_equal(env.global_state(state), np.ravel(obs))
    assert ends >= 2
    # one reset where an episode ends, one replayed at each episode's first step
    assert len(resets) == 2 * ends + (not done)
    env.close()

    small = jpz.from_pettingzoo(make, global_state=lambda host: np.full(3, len(host.agents)))
    assert small.state_dim == 3
    np.testing.assert_array_equal(small.global_state(small.reset(jax.random.PRNGKey(0))[1]), 2.0)
    small.close()
    for bad in ("bogus", 3):
        with pytest.raises(ValueError, match="global_state must be"):
            jpz.from_pettingzoo(make, global_state=bad)


def test_own_time_limit_and_bad_inputs():
    from mpe2 import simple_spread_v3
    from pettingzoo.classic import tictactoe_v3

    def no_limit():
        par = jpz.to_pettingzoo(jl.make("grid_meet"))
        del par.max_episode_steps
        return par

    with pytest.raises(ValueError, match="max_episode_steps"):
        jpz.from_pettingzoo(no_limit)
    env = jpz.from_pettingzoo(no_limit, max_episode_steps=3)
    _, state = env.reset(jax.random.PRNGKey(0))
    for t in range(3):  # the agents walk into walls: only our limit ends the episode
        _, state, _, term, trunc, _ = env.step(jax.random.PRNGKey(t), state, jnp.array([1, 0]))
    assert trunc.all() and not term.any() and int(state.t) == 0
    env.close()

    with pytest.raises(TypeError, match="factory"):
        jpz.from_pettingzoo(simple_spread_v3.parallel_env())
    with pytest.raises(TypeError, match="aec_to_parallel"):
        jpz.from_pettingzoo(tictactoe_v3.env)
    for bad in ({"max_episode_steps": 0}, {"num_envs": 0}):
        with pytest.raises(ValueError):
            jpz.from_pettingzoo(simple_spread_v3.parallel_env, **bad)
    with pytest.raises(TypeError, match="MultiAgentEnv"):
        jpz.to_pettingzoo("grid_meet")
    with pytest.raises(TypeError, match="turn-based"):
        jpz.to_pettingzoo_aec(jl.make("grid_meet"))


def test_missing_pettingzoo_is_a_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "pettingzoo", None)  # `import pettingzoo` now fails
    with pytest.raises(ImportError, match=PIP_HINT):
        jpz.to_pettingzoo(jl.make("grid_meet"))
    with pytest.raises(ImportError, match=PIP_HINT):
        jpz.from_pettingzoo(lambda: None)
    monkeypatch.setitem(sys.modules, "gymnasium", None)
    spec = importlib.util.spec_from_file_location("_jpz_without_peers", jpz.__file__)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)  # importing the adapters needs no peer
    assert callable(module.from_pettingzoo)
