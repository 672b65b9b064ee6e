"""Transition-by-transition parity with the reference MPE (mpe2 1.1.1) for all nine tasks.

For every task and both action types: reset mpe2 with a seed, copy its world (positions,
velocities, utterances, goals) into our state, play the same random actions in both for
a whole episode (25 steps, ending in truncation), and compare observations, rewards,
termination/truncation flags, the global state (mpe2's ``state()``) and the next state
(positions, velocities, communication) after every step. Ours runs as one jitted
``vmap(scan(step_env))`` over all seeds; the reference is stepped in Python.
"""
from __future__ import annotations

import functools
import importlib
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmarl_lite as jl
import jaxmarl_lite.envs.mpe  # noqa: F401  (registers the tasks)
from jaxmarl_lite.envs.mpe import TASKS, MPEState

pytest.importorskip("mpe2")

SEEDS = 8
STEPS = 25
ATOL = 1e-5  # float32 single transitions
ATOL64 = 1e-9  # float64 whole episodes
RTOL_F32 = 1.2e-7  # one float32 rounding (mpe2 casts observations to float32)


def _goal(name, world):
    lms, agents = world.landmarks, world.agents

    def index(entity):
        return next(i for i, lm in enumerate(lms) if lm is entity)

    if name == "simple_reference":
        return [index(a.goal_b) for a in agents]
    if name == "simple_speaker_listener":
        return [index(agents[0].goal_b)]
    if name in ("simple_adversary", "simple_push"):
        return [index(agents[0].goal_a)]
    if name == "simple_crypto":
        key = next(i for i, lm in enumerate(lms) if lm.color is agents[2].key)
        return [index(agents[0].goal_a), key]
    return []


def _snapshot(world):
    ents = world.agents + world.landmarks
    pos = np.array([e.state.p_pos for e in ents], np.float64)
    vel = np.array([e.state.p_vel for e in ents], np.float64)
    c = np.array([a.state.c for a in world.agents], np.float64).reshape(len(world.agents), world.dim_c)
    return pos, vel, c


def _pad(x, dim):
    x = np.asarray(x, np.float64)
    return np.pad(x, (0, dim - len(x)))


def reference_rollouts(name, env, actions):
    """Step mpe2 with ``actions`` [seeds, T, n(, d)]; returns initial states and trajectories."""
    module = importlib.import_module(f"mpe2.{TASKS[name][1]}")
    ref = module.parallel_env(continuous_actions=env.continuous_actions, max_cycles=STEPS)
    assert tuple(ref.possible_agents) == env.agents
    init, traj = [], []
    for seed in range(actions.shape[0]):
        obs, _ = ref.reset(seed=seed)
        world = ref.unwrapped.world
        pos, vel, c = _snapshot(world)
        init.append(dict(p_pos=pos, p_vel=vel, c=c, goal=_goal(name, world),
                         obs=[_pad(obs[a], env.obs_dim) for a in env.agents], state=ref.state()))
        rows = []
        for t in range(actions.shape[1]):
            act = {}
            for i, a in enumerate(env.agents):
                act[a] = (actions[seed, t, i, : env.action_sizes[i]] if env.continuous_actions
                          else int(actions[seed, t, i]))
            obs, rew, term, trunc, _ = ref.step(act)
            pos, vel, c = _snapshot(world)
            rows.append(dict(
                obs=[_pad(obs[a], env.obs_dim) for a in env.agents],
                reward=[rew[a] for a in env.agents], term=[term[a] for a in env.agents],
                trunc=[trunc[a] for a in env.agents], state=ref.state(), p_pos=pos, p_vel=vel, c=c,
            ))
        traj.append({k: np.array([r[k] for r in rows]) for k in rows[0]})
    stack = lambda dicts, k: np.stack([d[k] for d in dicts])  # noqa: E731
    return ({k: stack(init, k) for k in init[0]}, {k: stack(traj, k) for k in traj[0]})


@functools.partial(jax.jit, static_argnums=0)
def our_rollouts(env, state, actions):
    def episode(state, actions):
        def body(state, a):
            obs, state, reward, term, trunc, _ = env.step_env(jax.random.PRNGKey(0), state, a)
            out = dict(obs=obs, reward=reward, term=term, trunc=trunc, state=env.global_state(state),
                       p_pos=state.p_pos, p_vel=state.p_vel, c=state.c)
            return state, out

        return jax.lax.scan(body, state, actions)[1]

    first = dict(obs=jax.vmap(env.get_obs)(state), state=jax.vmap(env.global_state)(state))
    return first, jax.vmap(episode)(state, actions)


def random_actions(env, rng):
    n = env.num_agents
    if env.continuous_actions:
        acts = rng.uniform(0.0, 1.0, (SEEDS, STEPS, n, env.num_actions)).astype(np.float32)
        acts[rng.random(acts.shape) < 0.1] = 0.0  # exact zeros (silent utterances in crypto)
        return acts
    sizes = np.array(env.action_sizes)
    return (rng.random((SEEDS, STEPS, n)) * sizes).astype(np.int32)


CASES = [(name, cont) for name in TASKS for cont in (False, True)]
IDS = [f"{n}-{'cont' if c else 'disc'}" for n, c in CASES]


@functools.lru_cache(maxsize=None)
def case(name, continuous):
    """The env, the actions played and mpe2's trajectories (shared by both tests)."""
    env = jl.make(name, continuous_actions=continuous, max_cycles=STEPS)
    actions = random_actions(env, np.random.default_rng(zlib.crc32(f"{name}{continuous}".encode())))
    init, ref = reference_rollouts(name, env, actions)
    return env, actions, init, ref


def as_state(p_pos, p_vel, c, step, goal, dtype):
    return MPEState(
        p_pos=jnp.asarray(p_pos, dtype), p_vel=jnp.asarray(p_vel, dtype), c=jnp.asarray(c, dtype),
        step=jnp.asarray(step, jnp.int32), goal=jnp.asarray(goal, jnp.int32),
    )


@pytest.mark.parametrize("name,continuous", CASES, ids=IDS)
def test_episode_parity_with_mpe2(name, continuous):
    """Whole episodes, free running, in float64 (mpe2's precision): the semantics are exact."""
    env, actions, init, ref = case(name, continuous)
    with jax.enable_x64(True):
        state = as_state(init["p_pos"], init["p_vel"], init["c"], np.zeros(SEEDS),
                         np.reshape(init["goal"], (SEEDS, -1)), jnp.float64)
        first, ours = jax.device_get(our_rollouts(env, state, jnp.asarray(actions)))
    # mpe2 hands out observations (and state()) rounded to float32: allow that rounding
    np.testing.assert_allclose(first["obs"], init["obs"], atol=ATOL64, rtol=RTOL_F32, err_msg="reset obs")
    np.testing.assert_allclose(first["state"], init["state"], atol=ATOL64, rtol=RTOL_F32, err_msg="reset state")
    for key in ("obs", "reward", "state", "p_pos", "p_vel", "c"):
        rtol = RTOL_F32 if key in ("obs", "state") else 0.0
        np.testing.assert_allclose(ours[key], ref[key], atol=ATOL64, rtol=rtol, err_msg=f"{name}: {key}")
    np.testing.assert_array_equal(ours["term"], ref["term"])
    np.testing.assert_array_equal(ours["trunc"], ref["trunc"])
    assert ref["trunc"][:, -1].all() and not ref["trunc"][:, :-1].any()


@functools.partial(jax.jit, static_argnums=0)
def our_transitions(env, states, actions):
    step = jax.vmap(lambda s, a: env.step_env(jax.random.PRNGKey(0), s, a))
    obs, state, reward, term, trunc, _ = step(states, actions)
    return dict(obs=obs, reward=reward, term=term, trunc=trunc, state=jax.vmap(env.global_state)(state),
                p_pos=state.p_pos, p_vel=state.p_vel, c=state.c)


@pytest.mark.parametrize("name,continuous", CASES, ids=IDS)
def test_float32_transitions_match_mpe2(name, continuous):
    """The float32 fast path from every state mpe2 visited: each transition within 1e-5."""
    env, actions, init, ref = case(name, continuous)
    before = {k: np.concatenate([init[k][:, None], ref[k][:, :-1]], axis=1) for k in ("p_pos", "p_vel", "c")}
    flat = lambda x: x.reshape((SEEDS * STEPS,) + x.shape[2:])  # noqa: E731
    goal = np.repeat(np.reshape(init["goal"], (SEEDS, 1, -1)), STEPS, axis=1)
    steps = np.broadcast_to(np.arange(STEPS), (SEEDS, STEPS))
    states = as_state(flat(before["p_pos"]), flat(before["p_vel"]), flat(before["c"]), flat(steps),
                      flat(goal), jnp.float32)
    ours = jax.device_get(our_transitions(env, states, jnp.asarray(flat(actions))))
    for key in ("obs", "reward", "state", "p_pos", "p_vel", "c"):
        np.testing.assert_allclose(ours[key], flat(ref[key]), atol=ATOL, rtol=0, err_msg=f"{name}: {key}")
    np.testing.assert_array_equal(ours["term"], flat(ref["term"]))
    np.testing.assert_array_equal(ours["trunc"], flat(ref["trunc"]))
