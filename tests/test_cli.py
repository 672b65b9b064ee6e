"""The front door: CLI end to end, resume equality, checkpoint fallback, bad input."""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxmarl_lite import runs
from jaxmarl_lite.cli import main, parse_value

TINY = ["--set", "num_envs=4", "--set", "buffer_size=16", "--set", "batch_size=4",
        "--set", "learning_starts=0", "--set", "eval_every=2", "--set", "eval_episodes=4",
        "--set", "hidden_size=8", "--set", "mixer_embed_dim=4", "--set", "hypernet_hidden=8"]
TINY_OVERRIDES = dict(num_envs=4, buffer_size=16, batch_size=4, learning_starts=0, eval_every=2,
                      eval_episodes=4, hidden_size=8, mixer_embed_dim=4, hypernet_hidden=8)


def _cli(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    return subprocess.run([sys.executable, "-m", "jaxmarl_lite", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=300)


def test_cli_train_eval_plot_end_to_end(tmp_path):
    run = tmp_path / "run"
    out = _cli("train", "vdn", "grid_meet", "--seeds", "2", "--total-steps", "480", "--out",
               str(run), "--save-every", "3", "--no-progress", "--plot", *TINY)
    assert out.returncode == 0, out.stderr
    assert "vdn on grid_meet" in out.stdout and "eval_return" in out.stdout
    for name in ("config.json", "system.json", "summary.md", "curves.png",
                 "metrics/seed_0.csv", "metrics/seed_1.csv"):
        assert (run / name).exists(), name
    spec = json.loads((run / "config.json").read_text())
    assert spec["config"]["hidden_size"] == 8 and spec["config"]["mixer"] == "vdn"
    with (run / "metrics" / "seed_1.csv").open() as f:
        rows = list(csv.reader(f))
    assert rows[0][0] == "update" and len(rows) == 1 + 6  # 480 // (4 envs * 20 steps)
    out = _cli("eval", str(run), "--episodes", "8", "--gif", str(tmp_path / "ep.gif"))
    assert out.returncode == 0, out.stderr
    assert "IQM" in out.stdout and (tmp_path / "ep.gif").stat().st_size > 0
    report = json.loads((run / "eval.json").read_text())
    assert report["episodes"] == 16 and len(report["per_seed_mean"]) == 2
    out = _cli("plot", str(run), "--out", str(tmp_path / "c.png"))
    assert out.returncode == 0 and (tmp_path / "c.png").stat().st_size > 1000


@pytest.mark.parametrize("argv, message", [
    (["train", "qmixx", "grid_meet"], "Did you mean 'qmix'"),
    (["train", "qmix", "grid_meat"], "Did you mean 'grid_meet'"),
    (["train", "qmix", "grid_meet", "--set", "lrr=1"], "Did you mean 'lr'"),
    (["train", "qmix", "grid_meet", "--set", "lr=fast"], "Config.lr expects float"),
    (["train", "qmix", "grid_meet", "--set", "gamma=2"], "gamma must be in"),
    (["train", "qmix", "grid_meet", "--set", "mixer=vdn"], "mixer"),
    (["train", "qmix", "grid_meet", "--preset", "nope"], "Valid choices: grid_quick, jaxmarl_ql_rnn_mpe"),
    (["train", "qmix", "grid_meet", "--env-set", "size=1"], "size must be >= 2"),
    (["eval", "/nonexistent/run"], "not a run directory"),
])
def test_bad_input_fails_before_compiling_with_choices(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_parse_value_uses_field_types():
    assert parse_value("1e5", int, "x") == 100_000 and parse_value("0.5", float, "x") == 0.5
    assert parse_value("false", bool, "x") is False
    with pytest.raises(ValueError, match="expects int"):
        parse_value("2.5", int, "x")


def _leaves(carry):
    return [np.asarray(jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)
                       else x) for x in jax.tree.leaves(carry)]


def _assert_same_run(full, part):
    """Final carries and metrics of two run directories are bitwise equal."""
    _, _, a = runs.load_final(full)
    _, _, b = runs.load_final(part)
    for x, y in zip(_leaves(a), _leaves(b)):
        np.testing.assert_array_equal(x, y)
    ma, mb = runs.read_metrics(full), runs.read_metrics(part)
    assert set(ma) == set(mb)
    for name in ma:
        np.testing.assert_array_equal(ma[name], mb[name], err_msg=name)
    return ma


def test_resume_is_bitwise_identical_and_survives_a_corrupt_checkpoint(tmp_path):
    kw = dict(seeds=2, total_steps=8 * 80, overrides=TINY_OVERRIDES, save_every=2,
              progress=False)
    full = runs.train("qmix", "grid_meet", out=tmp_path / "full", **kw)
    part = runs.train("qmix", "grid_meet", out=tmp_path / "part", stop_after=6, **kw)
    ckpts = sorted(int(p.name) for p in (part / "checkpoints").iterdir() if p.name.isdigit())
    assert ckpts[-1] == 6 and not (part / "summary.md").exists()
    # a save interrupted half-way: the newest checkpoint is unreadable -> fall back to 4
    newest = part / "checkpoints" / "6"
    for f in newest.rglob("*"):
        if f.is_file() and f.stat().st_size > 0:
            f.write_bytes(b"\0" * 7)
    with pytest.warns(RuntimeWarning, match="falling back"):
        runs.resume(part, progress=False)
    ma = _assert_same_run(full, part)
    assert ma["update"].shape == (2, 8)
    with pytest.raises(FileExistsError):
        runs.train("qmix", "grid_meet", out=tmp_path / "full", **kw)
    shutil.rmtree(tmp_path)


def test_resume_maddpg_on_mpe_is_bitwise_identical(tmp_path):
    """The replay buffer, target networks and an MPE env state (with an empty goal array,
    which orbax cannot write as such) survive checkpoint/resume exactly."""
    kw = dict(seeds=2, total_steps=4 * 5 * 6, progress=False, save_every=2,
              overrides=dict(num_envs=4, num_steps=5, num_sgd_steps=2, buffer_size=64,
                             batch_size=8, learning_starts=0, hidden_size=8, eval_every=2,
                             eval_episodes=4))
    full = runs.train("maddpg", "simple_spread", out=tmp_path / "full", **kw)
    part = runs.train("maddpg", "simple_spread", out=tmp_path / "part", stop_after=4, **kw)
    runs.resume(part, progress=False)
    _assert_same_run(full, part)


def test_coma_through_the_front_door_resumes_bitwise(tmp_path):
    """COMA's actor/critic/target and two optimiser states survive checkpoint/resume."""
    kw = dict(seeds=2, total_steps=4 * 8 * 6, progress=False, save_every=2,
              overrides=dict(num_envs=4, num_steps=8, hidden_size=8, critic_hidden_size=8,
                             target_update_every=3, eval_every=2, eval_episodes=4))
    full = runs.train("coma", "grid_meet", out=tmp_path / "full", **kw)
    part = runs.train("coma", "grid_meet", out=tmp_path / "part", stop_after=4, **kw)
    runs.resume(part, progress=False)
    metrics = _assert_same_run(full, part)
    assert {"critic_loss", "advantage"} <= set(metrics)


def test_pqn_through_the_front_door_resumes_bitwise(tmp_path):
    """PQN's rollout state (envs, hidden, episode metrics) and RAdam state survive
    checkpoint/resume exactly."""
    kw = dict(seeds=2, total_steps=4 * 4 * 6, progress=False, save_every=2,
              overrides=dict(num_envs=4, num_steps=4, num_minibatches=2, hidden_size=8,
                             mixer="qmix", mixer_embed_dim=4, hypernet_hidden=8, eval_every=2,
                             eval_episodes=4))
    full = runs.train("pqn", "grid_meet", out=tmp_path / "full", **kw)
    part = runs.train("pqn", "grid_meet", out=tmp_path / "part", stop_after=4, **kw)
    runs.resume(part, progress=False)
    metrics = _assert_same_run(full, part)
    assert {"loss", "q_mean", "epsilon"} <= set(metrics)


def test_alphazero_through_the_front_door_resumes_bitwise(tmp_path):
    """The search-based self-play loop (replay of positions, AdamW state) survives
    checkpoint/resume exactly, and its eval runs."""
    kw = dict(seeds=2, preset="quick", total_steps=16 * 9 * 6, progress=False, save_every=2)
    full = runs.train("alphazero", "tictactoe", out=tmp_path / "full", **kw)
    part = runs.train("alphazero", "tictactoe", out=tmp_path / "part", stop_after=4, **kw)
    runs.resume(part, progress=False)
    metrics = _assert_same_run(full, part)
    assert {"policy_loss", "eval_loss_minimax"} <= set(metrics)
