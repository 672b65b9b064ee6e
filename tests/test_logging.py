"""In-loop progress callbacks and the optional TensorBoard / W&B loggers."""
from __future__ import annotations

import sys

import jax
import numpy as np
import pytest

import jaxmarl_lite as jl
from jaxmarl_lite import logging_backends, runs
from jaxmarl_lite.algorithms import qmix
from jaxmarl_lite.algorithms._common.training import init_seeds, run_updates_seeds

TINY = dict(num_envs=4, buffer_size=16, batch_size=4, learning_starts=0, eval_every=2,
            eval_episodes=4, hidden_size=8, mixer_embed_dim=4, hypernet_hidden=8)


@pytest.mark.xla_default
def test_progress_callback_fires_every_k_updates_and_changes_nothing():
    env = jl.make("grid_meet")
    stages = qmix.make_stages(qmix.Config(**TINY, total_timesteps=4 * 20 * 6), env)
    carry = init_seeds(stages, jax.random.split(jax.random.key(0), 2))
    calls = []

    def progress(i, metrics):
        calls.append((int(i), np.asarray(metrics["env_steps"]).copy()))

    plain = jax.jit(lambda c: run_updates_seeds(stages, c, 6))(carry)
    watched = jax.jit(lambda c: run_updates_seeds(stages, c, 6, progress, every=2))(carry)
    jax.block_until_ready(watched)
    jax.effects_barrier()
    assert sorted(i for i, _ in calls) == [2, 4, 6]
    for i, steps in calls:  # the callback sees that update's values for both seeds
        np.testing.assert_array_equal(steps, np.asarray(watched.metrics["env_steps"])[:, i - 1])
    for x, y in zip(jax.tree.leaves((plain.carry.params, plain.metrics)),
                    jax.tree.leaves((watched.carry.params, watched.metrics))):
        np.testing.assert_array_equal(x, y)
    assert watched.metrics["env_steps"].shape == (2, 6)


def _read_events(directory):
    """``{tag: [(step, value)]}`` from TensorBoard event files (TFRecord framing: length,
    its CRC, the serialised ``Event``, its CRC)."""
    import struct

    from tensorboardX.proto import event_pb2

    scalars = {}
    for path in sorted(directory.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        pos = 0
        while pos < len(data):
            (length,) = struct.unpack("<Q", data[pos:pos + 8])
            event = event_pb2.Event.FromString(data[pos + 12:pos + 12 + length])
            pos += 12 + length + 4
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars


def test_tensorboard_and_wandb_logging(tmp_path, monkeypatch):
    pytest.importorskip("tensorboardX")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    wandb = pytest.importorskip("wandb")
    run = runs.train("qmix", "grid_meet", out=tmp_path / "run", seeds=2, total_steps=4 * 20 * 4,
                     overrides=TINY, save_every=2, progress=True, progress_every=1,
                     tensorboard=True, wandb_project="jaxmarl-lite-test")
    scalars = _read_events(run / "tensorboard")
    assert {"episode_return/mean", "env_steps/seed_0", "env_steps/seed_1", "loss/mean"} <= set(scalars)
    steps = scalars["env_steps/seed_0"]
    assert [step for step, _ in steps] == [1, 2, 3, 4]
    csv = runs.read_metrics(run)
    np.testing.assert_allclose([value for _, value in steps], csv["env_steps"][0])
    assert list((run / "wandb").glob("offline-run-*")), "no offline W&B run written"
    assert wandb.run is None  # finished


def test_missing_logger_package_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # import now raises ImportError
    with pytest.raises(ImportError, match=r"jaxmarl-lite\[tensorboard\]"):
        runs.train("qmix", "grid_meet", out=tmp_path / "run", total_steps=4 * 20 * 4,
                   overrides=TINY, tensorboard=True, progress=False)
    assert not (tmp_path / "run").exists()  # failed before creating anything
    with pytest.raises(ImportError, match=r"jaxmarl-lite\[tensorboard\]"):
        logging_backends.check_available(tensorboard=True)
