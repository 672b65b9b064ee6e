"""Action distributions for policy-gradient agents (distrax)."""
from __future__ import annotations

import distrax
import jax
import jax.numpy as jnp

ILLEGAL_LOGIT = -1e9  # exp underflows to exactly 0 probability in float32


def masked_categorical(logits: jax.Array, mask: jax.Array) -> distrax.Categorical:
    """Categorical over ``[..., A]`` logits where ``mask == 0`` actions have probability 0
    (never sampled, no entropy, no gradient)."""
    return distrax.Categorical(logits=jnp.where(mask > 0, logits, ILLEGAL_LOGIT))


def diagonal_gaussian(mean: jax.Array, log_std: jax.Array) -> distrax.MultivariateNormalDiag:
    """Gaussian policy ``[..., act_dim]``. Samples are unbounded; the env clips them to its
    action box (the fast path of ``MultiAgentEnv.step``), and log-probabilities are those of
    the unclipped sample (the usual PPO treatment). The deterministic action is the mean."""
    return distrax.MultivariateNormalDiag(mean, jnp.broadcast_to(jnp.exp(log_std), mean.shape))
