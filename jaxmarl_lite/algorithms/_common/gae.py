"""Generalised advantage estimation with separate termination and truncation."""
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
