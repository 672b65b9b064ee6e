"""Checkpoints round-trip a carry exactly and survive a corrupted latest save."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmarl_lite.checkpoint import Checkpointer


def make_carry(seed: int):
    key = jax.random.key(seed)
    return {
        "params": {"w": jax.random.normal(key, (3, 4)), "b": jnp.arange(4.0)},
        "key": jax.random.split(key, 2),
        "step": jnp.asarray(seed, jnp.int32),
        "flags": jnp.array([True, False]),
        "empty": jnp.zeros((2, 0, 3)),  # e.g. an MPE task without goals (orbax cannot write it)
    }


def assert_same(a, b):
    leaves_a, tree_a = jax.tree.flatten(a)
    leaves_b, tree_b = jax.tree.flatten(b)
    assert tree_a == tree_b
    for x, y in zip(leaves_a, leaves_b):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
        assert np.asarray(x).dtype == np.asarray(y).dtype


def test_round_trip_is_exact_including_typed_keys(tmp_path):
    ckpt = Checkpointer(tmp_path / "ckpt")
    carry = make_carry(1)
    ckpt.save(10, carry)
    step, restored = ckpt.restore_latest(make_carry(0))
    assert step == 10
    assert_same(carry, restored)
    # the restored keys are usable keys
    assert jax.random.uniform(restored["key"][0]).shape == ()


def test_corrupted_latest_falls_back_with_warning(tmp_path):
    ckpt = Checkpointer(tmp_path / "ckpt", max_to_keep=3)
    ckpt.save(1, make_carry(1))
    ckpt.save(2, make_carry(2))
    latest = tmp_path / "ckpt" / "2"
    files = [p for p in latest.rglob("*") if p.is_file()]
    assert files
    for p in files:  # truncate every file of the newest checkpoint
        p.write_bytes(b"")
    with pytest.warns(RuntimeWarning, match="checkpoint 2 .* (could not be restored|is corrupt)"):
        step, restored = Checkpointer(tmp_path / "ckpt").restore_latest(make_carry(0))
    assert step == 1
    assert_same(make_carry(1), restored)


def test_interrupted_save_leaves_previous_checkpoint(tmp_path):
    ckpt = Checkpointer(tmp_path / "ckpt")
    ckpt.save(5, make_carry(5))
    # a save killed before its rename leaves only a temporary directory behind
    (tmp_path / "ckpt" / "6.orbax-checkpoint-tmp-123").mkdir()
    step, restored = Checkpointer(tmp_path / "ckpt").restore_latest(make_carry(0))
    assert step == 5
    assert_same(make_carry(5), restored)


def test_nothing_to_restore(tmp_path):
    assert Checkpointer(tmp_path / "empty").restore_latest(make_carry(0)) is None
