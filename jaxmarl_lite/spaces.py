"""Spaces: static descriptions of per-agent observations and actions.

Spaces are frozen (hashable) dataclasses so they can live on an env object that is
used as a static argument to ``jax.jit``. ``sample`` and ``contains`` are pure and
jittable.
"""
from __future__ import annotations

import dataclasses
from typing import Tuple

import jax
import jax.numpy as jnp
import numpy as np


def random_legal(key: jax.Array, mask: jax.Array) -> jax.Array:
    """A uniformly random legal action per row of ``mask`` ``[..., n]`` (0/1 or bool) ->
    ``[...]`` int32 (one key for all rows)."""
    logits = jnp.where(jnp.asarray(mask) > 0, 0.0, -jnp.inf)
    return jax.random.categorical(key, logits, axis=-1).astype(jnp.int32)


@dataclasses.dataclass(frozen=True)
class Discrete:
    """Integers ``0 .. n-1``; samples are scalar ``int32``."""

    n: int
    dtype: str = "int32"

    def __post_init__(self):
        if not isinstance(self.n, (int, np.integer)) or isinstance(self.n, bool) or self.n < 1:
            raise ValueError(f"Discrete(n) needs an int n >= 1, got n={self.n!r}")

    @property
    def shape(self) -> Tuple[int, ...]:
        return ()

    def sample(self, key: jax.Array, mask: jax.Array | None = None) -> jax.Array:
        """A uniform action; with ``mask`` (``[n]`` of 0/1), uniform over legal actions."""
        if mask is None:
            return jax.random.randint(key, (), 0, self.n, dtype=self.dtype)
        return random_legal(key, mask).astype(self.dtype)

    def contains(self, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        integral = jnp.issubdtype(x.dtype, jnp.integer) or jnp.all(x == jnp.round(x))
        return jnp.logical_and(integral, jnp.all((x >= 0) & (x < self.n)))


@dataclasses.dataclass(frozen=True)
class MultiDiscrete:
    """A vector of independent discrete choices, ``nvec[i]`` options each."""

    nvec: Tuple[int, ...]
    dtype: str = "int32"

    def __post_init__(self):
        object.__setattr__(self, "nvec", tuple(int(n) for n in self.nvec))
        if not self.nvec or min(self.nvec) < 1:
            raise ValueError(f"MultiDiscrete needs a non-empty nvec of values >= 1, got {self.nvec}")

    @property
    def shape(self) -> Tuple[int, ...]:
        return (len(self.nvec),)

    def sample(self, key: jax.Array) -> jax.Array:
        u = jax.random.uniform(key, self.shape)
        return jnp.floor(u * jnp.asarray(self.nvec)).astype(self.dtype)

    def contains(self, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        return jnp.all((x >= 0) & (x < jnp.asarray(self.nvec))) & (x.shape == self.shape)


@dataclasses.dataclass(frozen=True)
class Box:
    """A box ``low <= x <= high`` of a fixed shape (bounds are scalars, broadcast)."""

    low: float
    high: float
    shape: Tuple[int, ...]
    dtype: str = "float32"

    def __post_init__(self):
        shape = tuple(self.shape) if isinstance(self.shape, (tuple, list)) else None
        if shape is None or any(not isinstance(s, (int, np.integer)) or isinstance(s, bool)
                                or s < 1 for s in shape):
            raise ValueError(f"Box needs a shape of ints >= 1, got shape={self.shape!r}")
        object.__setattr__(self, "shape", tuple(int(s) for s in shape))
        if not (self.low <= self.high):
            raise ValueError(f"Box needs low <= high, got low={self.low}, high={self.high}")

    def sample(self, key: jax.Array) -> jax.Array:
        """Uniform in the box; unbounded sides fall back to a standard normal."""
        if np.isfinite(self.low) and np.isfinite(self.high):
            return jax.random.uniform(key, self.shape, self.dtype, self.low, self.high)
        x = jax.random.normal(key, self.shape, self.dtype)
        return jnp.clip(x, self.low, self.high)

    def contains(self, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        if x.shape != self.shape:
            return jnp.asarray(False)
        return jnp.all((x >= self.low) & (x <= self.high))
