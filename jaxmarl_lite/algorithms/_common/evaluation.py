"""Policy interface shared by the algorithms, and vmapped evaluation of a policy.

Every algorithm exposes a :class:`Policy` (its ``make_policy(config, env)``): how to start a
batch of its (possibly recurrent) carries and how to act on a batch of observations. The
same policy drives greedy evaluation inside the training scan, the CLI's ``eval`` and GIFs.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from jaxmarl_lite.spaces import random_legal
from jaxmarl_lite.wrappers import EpisodeStats, VecEnv


class Policy(NamedTuple):
    init_carry: Callable[[int], Any]
    """``num_envs -> carry`` (recurrent hidden states; ``()`` for feed-forward policies)."""
    act: Callable[..., Any]
    """``act(params, carry, obs [E, N, obs_dim], mask [E, N, A], first [E] bool, key)
    -> (actions [E, N] int32 or [E, N, act_dim] float32, carry)``. ``first`` marks the first
    step of an episode (recurrent policies reset their carry there)."""


class EvalResult(NamedTuple):
    team_return: jax.Array  # [num_envs] return (mean over agents) of each env's first episode
    agent_returns: jax.Array  # [num_envs, num_agents]
    length: jax.Array  # [num_envs] int32


class _EvalCarry(NamedTuple):
    state: Any
    obs: jax.Array
    policy_carry: Any
    first: jax.Array
    done: jax.Array  # [E] the first episode has finished
    result: EvalResult
    key: jax.Array


def evaluate(env, policy: Policy, params, key: jax.Array, num_envs: int) -> EvalResult:
    """Roll out ``num_envs`` episodes of ``policy`` (vmapped, jittable; ``env`` is static).

    Steps ``env.max_episode_steps`` times, so every env finishes at least one episode, and
    reports each env's first episode.
    """
    venv = VecEnv(EpisodeStats(env), num_envs)
    key, reset_key = jax.random.split(key)
    obs, state = venv.reset(reset_key)
    n = env.num_agents
    empty = EvalResult(jnp.zeros((num_envs,)), jnp.zeros((num_envs, n)),
                       jnp.zeros((num_envs,), jnp.int32))
    carry = _EvalCarry(state, obs, policy.init_carry(num_envs), jnp.ones((num_envs,), bool),
                       jnp.zeros((num_envs,), bool), empty, key)

    def step(c: _EvalCarry, _):
        key, act_key, step_key = jax.random.split(c.key, 3)
        mask = jax.vmap(env.action_mask)(c.state.env_state)
        actions, pcarry = policy.act(params, c.policy_carry, c.obs, mask, c.first, act_key)
        obs, state, _, _, _, info = venv.step(step_key, c.state, actions)
        finished = info["returned_episode"] & ~c.done
        pick = lambda new, old: jnp.where(  # noqa: E731
            finished.reshape(finished.shape + (1,) * (new.ndim - 1)), new, old)
        result = EvalResult(
            pick(info["returned_team_return"], c.result.team_return),
            pick(info["returned_episode_returns"], c.result.agent_returns),
            pick(info["returned_episode_lengths"].astype(jnp.int32), c.result.length),
        )
        return _EvalCarry(state, obs, pcarry, info["returned_episode"], c.done | finished,
                          result, key), None

    carry, _ = jax.lax.scan(step, carry, None, env.max_episode_steps)
    return carry.result


def periodic_eval(env, policy: Policy, params, key: jax.Array, count, num_updates: int,
                  config, previous: jax.Array) -> jax.Array:
    """The greedy mean team return over ``config.eval_episodes`` episodes after the 1-based
    update ``count`` when it is an evaluation update (every ``config.eval_every``, and the
    last of ``num_updates``), else ``previous`` (NaN until the first evaluation)."""
    return jax.lax.cond(
        (count % config.eval_every == 0) | (count == num_updates),
        lambda _: evaluate(env, policy, params, key, config.eval_episodes).team_return.mean(),
        lambda _: previous, None)


def random_policy(env) -> Policy:
    """Uniformly random legal actions: the baseline every learning test must beat."""

    def act(params, carry, obs, mask, first, key):
        del params, obs, first
        if env.is_discrete:
            return random_legal(key, mask), carry
        space = env.action_space
        shape = mask.shape[:2] + space.shape
        return jax.random.uniform(key, shape, minval=space.low, maxval=space.high), carry

    return Policy(init_carry=lambda num_envs: (), act=act)
