"""Checks every algorithm's ``train`` must pass (shared by the algorithm tests)."""
import jax
import numpy as np


def assert_deterministic_and_vmappable(train, key, check_metrics: bool = True):
    """Same key -> bitwise identical params and metrics; ``jax.vmap(train)`` over two keys
    equals two single runs up to float rounding (batched matmuls sum in another order, and
    Adam's ``g / sqrt(v)`` turns last-bit gradient differences into up to ~lr-sized steps).
    Returns the first run's result."""
    keys = jax.random.split(key, 2)
    a, b = train(keys[0]), train(keys[0])
    for x, y in zip(jax.tree.leaves((a.carry.params, a.metrics)),
                    jax.tree.leaves((b.carry.params, b.metrics))):
        np.testing.assert_array_equal(x, y)
    both = jax.jit(jax.vmap(train))(keys)
    for i in range(2):
        single = train(keys[i])
        for x, y in zip(jax.tree.leaves(single.carry.params), jax.tree.leaves(both.carry.params)):
            np.testing.assert_allclose(x, y[i], rtol=1e-3, atol=2e-4)
        if check_metrics:
            for name, x in single.metrics.items():
                np.testing.assert_allclose(x, both.metrics[name][i], rtol=1e-3, atol=1e-5,
                                           err_msg=name)
    return a
