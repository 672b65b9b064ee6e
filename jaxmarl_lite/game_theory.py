"""Game-theory tools for normal-form games (pure functions, jittable unless noted).

A game is a payoff tensor ``payoffs`` ``[n, A_1, ..., A_n]`` (``payoffs[i, a]``: agent
``i``'s payoff at joint action ``a``), e.g. ``MatrixGame(...).payoff_array``. A mixed
profile is a tuple of ``n`` probability vectors, ``strategies[i]`` ``[A_i]``. Boolean
tensors ``[A_1, ..., A_n]`` mark joint actions; :func:`joint_actions` lists their indices.

* :func:`pure_best_responses`, :func:`pure_nash_equilibria`: where each agent's action is
  a best response to the others' actions, and where all of them are (pure Nash equilibria).
* :func:`pareto_optimal`, :func:`max_welfare`: joint actions no other joint action weakly
  improves for everyone (and strictly for someone); the best total payoff.
* :func:`action_values`, :func:`best_response`, :func:`nash_conv`, :func:`exploitability`:
  values of mixed profiles. ``NashConv = sum_i (max_a u_i(a, s_-i) - u_i(s))``: 0 exactly at
  a Nash equilibrium. ``exploitability = NashConv / n`` (for two-player zero-sum games, the
  mean gain of a best-responding opponent).
* :func:`fictitious_play`, :func:`replicator_dynamics`: approximate mixed equilibria by
  ``lax.scan``. Fictitious play's average strategies converge to a Nash equilibrium in
  two-player zero-sum games (and in potential and 2x2 games); replicator dynamics cycle
  around interior equilibria of zero-sum games, so their *time average* is the estimate
  there, while in coordination games they settle on a pure equilibrium.
"""
from __future__ import annotations

from typing import List, NamedTuple, Tuple

import jax
import jax.numpy as jnp
import numpy as np

Profile = Tuple[jax.Array, ...]


def _num_agents(payoffs: jax.Array) -> int:
    n = payoffs.shape[0]
    if payoffs.ndim != n + 1:
        raise ValueError(
            f"payoffs must be [num_agents, A_1, ..., A_n]; got shape {payoffs.shape}"
        )
    return n


# ------------------------------------------------------------------------ pure actions
def pure_best_responses(payoffs: jax.Array, atol: float = 1e-6) -> jax.Array:
    """``[n, A_1, ..., A_n]`` bool: ``[i, a]`` is True when ``a_i`` maximises agent ``i``'s
    payoff given the other agents' actions in ``a`` (ties within ``atol`` all count)."""
    payoffs = jnp.asarray(payoffs)
    n = _num_agents(payoffs)
    return jnp.stack(
        [payoffs[i] >= payoffs[i].max(axis=i, keepdims=True) - atol for i in range(n)]
    )


def pure_nash_equilibria(payoffs: jax.Array, atol: float = 1e-6) -> jax.Array:
    """``[A_1, ..., A_n]`` bool: joint actions where every agent best-responds (pure NE)."""
    return jnp.all(pure_best_responses(payoffs, atol), axis=0)


def pareto_optimal(payoffs: jax.Array, atol: float = 1e-6) -> jax.Array:
    """``[A_1, ..., A_n]`` bool: joint actions not Pareto-dominated by any joint action
    (another joint action dominates if it is at least as good for every agent and better,
    by more than ``atol``, for at least one). Compares all pairs: ``O((prod A_i)^2)``."""
    payoffs = jnp.asarray(payoffs)
    n = _num_agents(payoffs)
    flat = payoffs.reshape(n, -1).T  # [M, n]
    at_least = jnp.all(flat[:, None, :] >= flat[None, :, :] - atol, axis=-1)  # [b, a]
    better = jnp.any(flat[:, None, :] > flat[None, :, :] + atol, axis=-1)
    dominated = jnp.any(at_least & better, axis=0)  # some b dominates a
    return (~dominated).reshape(payoffs.shape[1:])


def max_welfare(payoffs: jax.Array, atol: float = 1e-6) -> Tuple[jax.Array, jax.Array]:
    """``(best, value)``: ``[A_1, ..., A_n]`` bool marking the joint actions with the largest
    summed payoff, and that sum. In a common-payoff game it is the shared optimum."""
    welfare = jnp.asarray(payoffs).sum(axis=0)
    value = welfare.max()
    return welfare >= value - atol, value


def joint_actions(marks) -> List[Tuple[int, ...]]:
    """The joint actions where a boolean ``[A_1, ..., A_n]`` tensor is True, in
    lexicographic order, as tuples of ints (host-side, not jittable)."""
    return [tuple(int(v) for v in a) for a in np.argwhere(np.asarray(marks))]


# ---------------------------------------------------------------------- mixed profiles
def action_values(payoffs: jax.Array, strategies: Profile, agent: int) -> jax.Array:
    """``[A_agent]``: agent ``agent``'s expected payoff for each of its actions when the
    others play ``strategies`` (``strategies[agent]`` itself is not used)."""
    payoffs = jnp.asarray(payoffs)
    n = _num_agents(payoffs)
    v = payoffs[agent]
    for j in reversed(range(n)):  # contract from the last axis so earlier ones keep place
        if j != agent:
            v = jnp.tensordot(v, jnp.asarray(strategies[j]), axes=([j], [0]))
    return v


def expected_payoffs(payoffs: jax.Array, strategies: Profile) -> jax.Array:
    """``[n]``: every agent's expected payoff under the mixed profile."""
    n = _num_agents(jnp.asarray(payoffs))
    return jnp.stack(
        [action_values(payoffs, strategies, i) @ jnp.asarray(strategies[i]) for i in range(n)]
    )


def best_response(payoffs: jax.Array, strategies: Profile, agent: int) -> jax.Array:
    """``[A_agent]`` one-hot of agent ``agent``'s best pure reply to the others' mixed
    strategies (the lowest index among ties)."""
    values = action_values(payoffs, strategies, agent)
    return jax.nn.one_hot(jnp.argmax(values), values.shape[0], dtype=values.dtype)


def nash_conv(payoffs: jax.Array, strategies: Profile) -> jax.Array:
    """``sum_i max_a u_i(a, s_-i) - u_i(s)``: total gain available to unilateral
    deviations; 0 exactly at a Nash equilibrium, >= 0 always."""
    n = _num_agents(jnp.asarray(payoffs))
    gains = [
        action_values(payoffs, strategies, i).max()
        - action_values(payoffs, strategies, i) @ jnp.asarray(strategies[i])
        for i in range(n)
    ]
    return jnp.sum(jnp.stack(gains))


def exploitability(payoffs: jax.Array, strategies: Profile) -> jax.Array:
    """``nash_conv / n``; for two-player zero-sum games, how much a best-responding
    opponent gains on average against the profile."""
    return nash_conv(payoffs, strategies) / jnp.asarray(payoffs).shape[0]


def uniform_profile(payoffs: jax.Array) -> Profile:
    """Every agent mixes uniformly over its actions."""
    sizes = jnp.asarray(payoffs).shape[1:]
    return tuple(jnp.full((a,), 1.0 / a, jnp.float32) for a in sizes)


# --------------------------------------------------------------- approximate equilibria
class DynamicsResult(NamedTuple):
    strategies: Profile
    """The final profile (fictitious play: the empirical average strategies)."""
    average: Profile
    """Time average of the profile over the iterations."""
    nash_conv: jax.Array
    """``[num_iters]`` NashConv of ``strategies`` after each iteration."""


def fictitious_play(
    payoffs: jax.Array, num_iters: int, init: Profile | None = None
) -> DynamicsResult:
    """Simultaneous fictitious play: every iteration each agent best-responds to the others'
    empirical average strategies, and the averages absorb the replies
    (``s <- s + (br - s) / (t + 2)``, the initial profile counting as the first play).
    ``num_iters`` is static. Jittable; ``average`` equals ``strategies`` here."""
    payoffs = jnp.asarray(payoffs, jnp.float32)
    n = _num_agents(payoffs)
    init = uniform_profile(payoffs) if init is None else tuple(jnp.asarray(s) for s in init)

    def body(avg, t):
        replies = [best_response(payoffs, avg, i) for i in range(n)]
        avg = tuple(s + (br - s) / (t + 2.0) for s, br in zip(avg, replies))
        return avg, nash_conv(payoffs, avg)

    avg, conv = jax.lax.scan(body, init, jnp.arange(num_iters, dtype=jnp.float32))
    return DynamicsResult(avg, avg, conv)


def replicator_dynamics(
    payoffs: jax.Array, num_iters: int, step_size: float = 0.05, init: Profile | None = None
) -> DynamicsResult:
    """Discrete-time (exponential-weights) replicator dynamics:
    ``s_i <- s_i * exp(step_size * u_i(., s_-i))`` renormalised, for all agents at once.
    Strategies stay strictly positive, so start from an interior ``init`` (default uniform;
    a uniform start is a fixed point only if it is an equilibrium). Returns the final profile,
    its running time average and NashConv per iteration. ``num_iters`` is static."""
    payoffs = jnp.asarray(payoffs, jnp.float32)
    n = _num_agents(payoffs)
    init = uniform_profile(payoffs) if init is None else tuple(jnp.asarray(s) for s in init)

    def body(carry, t):
        s, avg = carry
        values = [action_values(payoffs, s, i) for i in range(n)]
        s = tuple(jax.nn.softmax(jnp.log(p) + step_size * v) for p, v in zip(s, values))
        avg = tuple(a + (p - a) / (t + 2.0) for a, p in zip(avg, s))
        return (s, avg), nash_conv(payoffs, s)

    (s, avg), conv = jax.lax.scan(body, (init, init), jnp.arange(num_iters, dtype=jnp.float32))
    return DynamicsResult(s, avg, conv)
