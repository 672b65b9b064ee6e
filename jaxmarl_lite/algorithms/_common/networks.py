"""Network building blocks shared by all algorithms (flax linen).

Conventions: agents are handled by the caller (vmap over the agent axis, or a leading
batch axis with an agent-id one-hot appended for parameter sharing); recurrent modules
take time-major sequences ``[T, B, ...]`` plus a ``resets`` flag ``[T, B]`` that zeroes
the hidden state *before* processing the step where it is true (an episode start).
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": nn.relu,
    "tanh": nn.tanh,
    "elu": nn.elu,
    "gelu": nn.gelu,
    "silu": nn.silu,
}


def activation(name: str) -> Callable[[jax.Array], jax.Array]:
    if name not in ACTIVATIONS:
        raise ValueError(f"Unknown activation {name!r}; valid: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def dense(features: int, scale: float = np.sqrt(2.0)) -> nn.Dense:
    """Orthogonally initialised dense layer with zero bias (PPO/DQN practice)."""
    return nn.Dense(
        features, kernel_init=nn.initializers.orthogonal(scale), bias_init=nn.initializers.zeros
    )


class MLP(nn.Module):
    """``hidden_sizes`` dense layers with ``activation``; optional final linear ``out_dim``."""

    hidden_sizes: Sequence[int]
    out_dim: Optional[int] = None
    activation: str = "relu"
    out_scale: float = 1.0
    layer_norm: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = activation(self.activation)
        for h in self.hidden_sizes:
            x = dense(h)(x)
            if self.layer_norm:
                x = nn.LayerNorm()(x)
            x = act(x)
        if self.out_dim is not None:
            x = dense(self.out_dim, self.out_scale)(x)
        return x


class ScannedGRU(nn.Module):
    """A GRU scanned over a time-major sequence, resetting its carry at episode starts.

    ``__call__(carry [B, H], (x [T, B, D], resets [T, B])) -> (carry [B, H], y [T, B, H])``.
    """

    hidden_size: int

    @nn.compact
    def __call__(
        self, carry: jax.Array, inputs: Tuple[jax.Array, jax.Array]
    ) -> Tuple[jax.Array, jax.Array]:
        def step(cell, h, xs):
            x, reset = xs
            h = jnp.where(reset[:, None], jnp.zeros_like(h), h)
            h, y = cell(h, x)
            return h, y

        scan = nn.scan(
            step, variable_broadcast="params", split_rngs={"params": False}, in_axes=0, out_axes=0
        )
        return scan(nn.GRUCell(self.hidden_size), carry, inputs)

    @staticmethod
    def initial_carry(batch_shape: Tuple[int, ...], hidden_size: int) -> jax.Array:
        return jnp.zeros((*batch_shape, hidden_size), jnp.float32)


def agent_id_onehot(num_agents: int, batch_shape: Tuple[int, ...] = ()) -> jax.Array:
    """``[*batch_shape, num_agents, num_agents]`` identity rows, to append to observations."""
    eye = jnp.eye(num_agents, dtype=jnp.float32)
    return jnp.broadcast_to(eye, (*batch_shape, num_agents, num_agents))
