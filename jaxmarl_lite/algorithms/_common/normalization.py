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

    def update(self, x: jax.Array, weights: jax.Array | None = None) -> "RunningMeanStd":
        """Fold in a batch ``x`` ``[..., *shape]`` (all leading axes are batch axes);
        ``weights`` (0/1, the leading axes' shape) leaves out masked entries."""
        batch_axes = tuple(range(x.ndim - self.mean.ndim))
        if weights is None:
            weights = jnp.ones(x.shape[: len(batch_axes)], jnp.float32)
        w = weights.astype(jnp.float32).reshape(weights.shape + (1,) * self.mean.ndim)
        b_count = jnp.maximum(w.sum(), 1.0) * jnp.ones((), jnp.float32)
        b_mean = (x * w).sum(batch_axes) / b_count
        b_var = (((x - b_mean) ** 2) * w).sum(batch_axes) / b_count
        delta = b_mean - self.mean
        total = self.count + b_count
        mean = self.mean + delta * b_count / total
        m2 = self.var * self.count + b_var * b_count + delta**2 * self.count * b_count / total
        return RunningMeanStd(mean=mean, var=m2 / total, count=total)

    def normalize(self, x: jax.Array, eps: float = 1e-8) -> jax.Array:
        return (x - self.mean) / jnp.sqrt(self.var + eps)

    def denormalize(self, x: jax.Array, eps: float = 1e-8) -> jax.Array:
        return x * jnp.sqrt(self.var + eps) + self.mean
