"""COMA: the counterfactual baseline by hand, critic inputs, determinism, vmap, masks, learning."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmarl_lite as jl
from jaxmarl_lite.algorithms import coma, get
from jaxmarl_lite.algorithms._common.evaluation import evaluate, random_policy
from jaxmarl_lite.envs.grid import GridMeet

from .train_checks import assert_deterministic_and_vmappable

TINY = dict(num_envs=4, num_steps=8, total_timesteps=2 * 32, hidden_size=8,
            critic_hidden_size=16, eval_every=1, eval_episodes=4)


def test_counterfactual_advantage_hand_checked():
    # agent 0: Q(s, (u_-0, u')) = [1, 2, 4] for its 3 actions; pi = [0.5, 0.25, 0.25]
    # baseline = 0.5 * 1 + 0.25 * 2 + 0.25 * 4 = 2; took action 2: A = 4 - 2 = 2
    # agent 1: Q = [3, -1, 0], pi = [0, 1, 0] (actions 0 and 2 illegal), took 1: A = 0
    q = jnp.array([[1.0, 2.0, 4.0], [3.0, -1.0, 0.0]])
    probs = jnp.array([[0.5, 0.25, 0.25], [0.0, 1.0, 0.0]])
    adv, baseline = coma.counterfactual_advantage(q, probs, jnp.array([2, 1]))
    np.testing.assert_allclose(baseline, [2.0, -1.0])
    np.testing.assert_allclose(adv, [2.0, 0.0])


def test_critic_inputs_hide_each_agents_own_action():
    state = jnp.array([7.0, 8.0])
    obs = jnp.array([[1.0], [2.0]])
    x = coma.critic_inputs(state, obs, jnp.array([2, 0]), num_actions=3)
    # per agent: state (2), own obs (1), both agents' one-hot actions (2 x 3), id (2)
    np.testing.assert_array_equal(x[0], [7, 8, 1, 0, 0, 0, 1, 0, 0, 1, 0])
    np.testing.assert_array_equal(x[1], [7, 8, 2, 0, 0, 1, 0, 0, 0, 0, 1])
    batched = coma.critic_inputs(jnp.stack([state] * 3), jnp.stack([obs] * 3),
                                 jnp.array([[2, 0]] * 3), num_actions=3)
    assert batched.shape == (3, 2, 11)


@pytest.fixture(scope="module")
def tiny_rnn_coma():
    return jax.jit(coma.make_train(coma.Config(**TINY, recurrent=True), jl.make("grid_meet")))


def test_determinism_and_vmap(tiny_rnn_coma):
    a = assert_deterministic_and_vmappable(tiny_rnn_coma, jax.random.key(3), check_metrics=False)
    assert {"critic_loss", "actor_loss", "advantage", "entropy", "eval_return"} <= set(a.metrics)
    assert get("coma") is coma


@dataclasses.dataclass(frozen=True)
class IllegalCounter(GridMeet):
    """grid_meet where action ``t % 4`` is illegal for every agent at step ``t``; the reward
    is minus the number of agents that took an illegal action."""

    def action_mask(self, state):
        return jnp.broadcast_to(jnp.arange(4) != state.step % 4, (self.num_agents, 4)).astype(
            jnp.float32)

    def step_env(self, key, state, actions):
        illegal = actions == state.step % 4
        obs, state2, _, term, trunc, info = super().step_env(key, state, actions)
        return obs, state2, -illegal.astype(jnp.float32), term, trunc, info


def test_masked_actions_are_never_taken():
    env = IllegalCounter()
    cfg = coma.Config(**dict(TINY, total_timesteps=10 * 32), ent_coef=1.0, parameter_sharing=False)
    out = jax.jit(coma.make_train(cfg, env))(jax.random.key(0))
    returns = np.asarray(out.metrics["episode_return"])
    assert np.isfinite(returns).any() and np.nan_to_num(returns).min() == 0.0
    assert jax.tree.leaves(out.carry.params.actor)[0].shape[0] == 2  # per-agent actors


def test_learns_grid_meet_beyond_random():
    env = jl.make("grid_meet")
    cfg = coma.PRESETS["grid_quick"].replace(total_timesteps=81_920)
    out = jax.jit(coma.make_train(cfg, env))(jax.random.key(0))
    trained = evaluate(env, coma.make_policy(cfg, env), out.carry.params, jax.random.key(1),
                       128).team_return.mean()
    rand = evaluate(env, random_policy(env), None, jax.random.key(1), 256).team_return.mean()
    assert float(trained) > float(rand) + 10.0, (float(trained), float(rand))  # random ~ -15


def test_bad_inputs():
    with pytest.raises(ValueError, match="discrete actions"):
        coma.make_stages(coma.Config(**TINY), jl.make("simple", continuous_actions=True))
    with pytest.raises(ValueError, match="less than one update"):
        coma.make_stages(coma.Config(**dict(TINY, total_timesteps=8)), jl.make("grid_meet"))
    for field, value in (("td_lambda", 1.5), ("critic_epochs", 0), ("target_update_every", 0),
                         ("ent_coef", -0.1)):
        with pytest.raises(ValueError, match=field):
            coma.Config(**{field: value})
    with pytest.raises(ValueError, match="structural"):
        coma.make_stages(coma.Config(**TINY), jl.make("grid_meet"), hyper=("critic_epochs",))
