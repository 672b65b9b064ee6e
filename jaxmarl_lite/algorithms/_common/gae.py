"""Returns on a time-major rollout with separate termination and truncation: GAE
(:func:`gae`) and lambda-returns of next-step values (:func:`lambda_returns`)."""
from __future__ import annotations

import jax
import jax.numpy as jnp


def gae(rewards, values, next_values, terminated, done, gamma: float, gae_lambda: float):
    """Advantages and value targets, time-major ``[T, ...]`` (any trailing axes).

    ``values[t] = V(s_t)``; ``next_values[t] = V(s'_t)`` of the transition's own next
    observation (for the last step of an episode: the pre-reset ``final_obs``), so a
    truncated episode bootstraps from its final state; ``terminated[t]`` stops
    bootstrapping, ``done[t]`` (terminated or truncated) stops the advantage recursion.

    ``delta_t = r_t + gamma (1 - term_t) V(s'_t) - V(s_t)``,
    ``A_t = delta_t + gamma lambda (1 - done_t) A_{t+1}``; returns ``(A, A + values)``.
    """
    term = terminated.astype(jnp.float32)
    cont = 1.0 - done.astype(jnp.float32)
    deltas = rewards + gamma * (1.0 - term) * next_values - values

    def back(next_adv, xs):
        delta, c = xs
        adv = delta + gamma * gae_lambda * c * next_adv
        return adv, adv

    _, adv = jax.lax.scan(back, jnp.zeros_like(deltas[0]), (deltas, cont), reverse=True)
    return adv, adv + values


def lambda_returns(rewards, terminated, cont, next_values, gamma, lam):
    """Lambda-returns, time-major ``[T, ...]`` (TD(lambda) / Q(lambda) targets).

    ``next_values[t]`` is the value of the transition's own next observation (for Q(lambda)
    ``max_a Q``; pre-reset at an episode's end, so truncation bootstraps), ``terminated[t]``
    stops bootstrapping, ``cont[t]`` says whether the return continues into ``G_{t+1}``
    (the episode goes on and ``t + 1`` is in the batch; ``cont[T - 1]`` is read as false)::

        G_t = r_t + gamma (1 - term_t) ((1 - lam) V'_t + lam (G_{t+1} if cont_t else V'_t))

    ``lam = 0``: one-step targets ``r_t + gamma (1 - term_t) V'_t``; ``lam = 1`` with
    ``cont`` true until the end: the discounted return bootstrapped from the last ``V'``.
    ``cont`` broadcasts against ``rewards``."""
    cont = jnp.broadcast_to(cont, rewards.shape).at[-1].set(False)

    def back(g_next, xs):
        r, term, v_next, c = xs
        tail = jnp.where(c, g_next, v_next)
        g = r + gamma * (1.0 - term) * ((1.0 - lam) * v_next + lam * tail)
        return g, g

    _, g = jax.lax.scan(back, jnp.zeros_like(rewards[0]),
                        (rewards, terminated.astype(jnp.float32), next_values, cont), reverse=True)
    return g
