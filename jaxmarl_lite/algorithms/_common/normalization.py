"""Running mean/variance (Chan et al. parallel update) for value and reward normalisation."""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class RunningMeanStd:
    mean: jax.Array
    var: jax.Array
    count: jax.Array

    @classmethod
    def create(cls, shape=(), epsilon: float = 1e-4) -> "RunningMeanStd":
        return cls(
            mean=jnp.zeros(shape, jnp.float32),
            var=jnp.ones(shape, jnp.float32),
            count=jnp.asarray(epsilon, jnp.float32),
        )

    def update(self, x: jax.Array) -> "RunningMeanStd":
        """Fold in a batch ``x`` ``[..., *shape]`` (all leading axes are batch axes)."""
        batch_axes = tuple(range(x.ndim - self.mean.ndim))
        b_mean = jnp.mean(x, axis=batch_axes)
        b_var = jnp.var(x, axis=batch_axes)
        b_count = jnp.asarray(x.size / max(self.mean.size, 1), jnp.float32)
        delta = b_mean - self.mean
        total = self.count + b_count
        mean = self.mean + delta * b_count / total
        m2 = self.var * self.count + b_var * b_count + delta**2 * self.count * b_count / total
        return RunningMeanStd(mean=mean, var=m2 / total, count=total)

    def normalize(self, x: jax.Array, eps: float = 1e-8) -> jax.Array:
        return (x - self.mean) / jnp.sqrt(self.var + eps)

    def denormalize(self, x: jax.Array, eps: float = 1e-8) -> jax.Array:
        return x * jnp.sqrt(self.var + eps) + self.mean
