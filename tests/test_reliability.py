"""Failure injection: non-finite training, corrupt checkpoints, concurrent writers, a
killed writer's lock, --out that is not a run, resume conflicts, finished runs, files."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmarl_lite as jl
from jaxmarl_lite import runs
from jaxmarl_lite.algorithms import mappo
from jaxmarl_lite.checkpoint import Checkpointer
from jaxmarl_lite.cli import main
from jaxmarl_lite.locking import RunDirectoryLocked, RunLock

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--preset", "grid_quick", "--set", "num_envs=8", "--set", "num_steps=16",
        "--set", "hidden_size=16", "--set", "eval_every=2", "--set", "eval_episodes=8",
        "--no-progress"]
TINY_OVERRIDES = dict(num_envs=8, num_steps=16, hidden_size=16, eval_every=2, eval_episodes=8)
STEPS = 8 * 16 * 6  # 6 updates


def _rows(run, seed=0):
    with (Path(run) / "metrics" / f"seed_{seed}.csv").open() as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def nan_run(tmp_path_factory):
    """MAPPO with an absurd learning rate: its parameters overflow within a few updates
    (seed 1 at update 4 on one device)."""
    run = tmp_path_factory.mktemp("nan") / "run"
    code = main(["train", "mappo", "grid_meet", *TINY, "--set", "lr=1e8", "--seeds", "2",
                 "--total-steps", str(STEPS), "--save-every", "1", "--out", str(run)])
    return run, code


def test_non_finite_training_stops_exit_3_and_keeps_the_last_finite_checkpoint(nan_run, capsys):
    run, code = nan_run
    assert code == 3
    report = json.loads((run / "nonfinite.json").read_text())
    first = min(b["update"] for b in report)
    assert {b["seed"] for b in report} <= {0, 1}
    rows = _rows(run, report[0]["seed"])
    assert float(rows[first - 1]["finite"]) == 0.0
    assert all(float(r["finite"]) == 1.0 for r in rows[:first - 1])
    saved = sorted(int(p.name) for p in (run / "checkpoints").iterdir() if p.name.isdigit())
    assert saved and max(saved) < first  # nothing written at or after the first NaN
    _, _, carry = runs.load_final(run)
    for leaf in jax.tree.leaves(carry.params):
        assert np.isfinite(np.asarray(leaf)).all()
    assert not (run / "summary.md").exists()


def test_non_finite_message_names_algorithm_seed_update_and_metric(tmp_path, capsys):
    run = tmp_path / "run"
    code = main(["train", "mappo", "grid_meet", *TINY, "--set", "lr=1e30", "--total-steps",
                 str(STEPS), "--save-every", "2", "--out", str(run)])
    err = capsys.readouterr().err
    assert code == 3 and "Traceback" not in err
    assert "mappo on grid_meet: seed 0 became non-finite at update" in err
    assert "Hint:" in err and "--on-nan warn" in err


def test_on_nan_warn_trains_on_but_reports_no_nan_result(tmp_path):
    """``warn`` trains to the end; a run whose every seed is non-finite still gets no
    result (NonFiniteError at the summary)."""
    run = tmp_path / "run"
    with pytest.warns(RuntimeWarning, match="became non-finite"), \
            pytest.raises(runs.NonFiniteError, match="every run is non-finite"):
        runs.train("mappo", "grid_meet", out=run, seeds=1, total_steps=STEPS,
                   preset="grid_quick", overrides=dict(TINY_OVERRIDES, lr=1e30),
                   progress=False, on_nan="warn", save_every=3)
    assert len(_rows(run)) == 6  # trained to the end
    assert not (run / "summary.md").exists()


def test_infinite_config_values_fail_before_compiling():
    with pytest.raises(ValueError, match="Config.lr must be finite"):
        mappo.Config(lr=float("inf"))


def test_flipped_bytes_in_a_checkpoint_are_caught_by_the_checksum(tmp_path):
    carry = {"w": jnp.arange(1000.0), "key": jax.random.split(jax.random.key(0), 2)}
    ckpt = Checkpointer(tmp_path / "c")
    ckpt.save(1, carry)
    ckpt.save(2, jax.tree.map(lambda x: x, carry) | {"w": jnp.arange(1000.0) * 2})
    assert ckpt.verify(1) and ckpt.verify(2)
    # flip a few bytes in the largest file of checkpoint 2 (same size, so it still parses)
    target = max((p for p in (tmp_path / "c" / "2").rglob("*") if p.is_file()),
                 key=lambda p: p.stat().st_size)
    data = bytearray(target.read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 4):
        data[i] ^= 0xFF
    target.write_bytes(bytes(data))
    assert not ckpt.verify(2)
    with pytest.warns(RuntimeWarning, match="checkpoint 2 .* is corrupt"):
        step, restored = Checkpointer(tmp_path / "c").restore_latest(carry)
    assert step == 1
    np.testing.assert_array_equal(restored["w"], np.arange(1000.0))


def test_every_checkpoint_corrupt_is_an_error_unless_restart(tmp_path, capsys):
    run = tmp_path / "run"
    kw = dict(seeds=1, total_steps=STEPS, preset="grid_quick", overrides=TINY_OVERRIDES,
              progress=False, save_every=2)
    runs.train("mappo", "grid_meet", out=run, stop_after=4, **kw)
    for p in (run / "checkpoints").rglob("*"):
        if p.is_file() and p.name != "checksums.json":
            p.write_bytes(b"\0" * max(1, p.stat().st_size))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["train", "--resume", str(run), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "none of the checkpoints" in err and "--restart" in err
    assert len(err.strip().splitlines()) == 1  # one line, no orbax tracebacks
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["train", "--resume", str(run), "--no-progress", "--restart"]) == 0
    assert [int(r["update"]) for r in _rows(run)] == [1, 2, 3, 4, 5, 6]


def test_one_writer_per_run_directory_and_stale_locks(tmp_path):
    lock = RunLock(tmp_path).acquire()
    with pytest.raises(RunDirectoryLocked, match="one writer per run directory"):
        RunLock(tmp_path).acquire()
    lock.release()
    # a lock left by a process that is gone is taken over with a warning
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    (tmp_path / ".lock").write_text(json.dumps(dict(host=os.uname().nodename, pid=int(dead),
                                                    started="then")))
    os.utime(tmp_path / ".lock", (0, 0))
    with pytest.warns(RuntimeWarning, match="stale lock"):
        RunLock(tmp_path).acquire().release()
    assert not (tmp_path / ".lock").exists()


def test_concurrent_resumes_of_one_run_do_not_duplicate_rows(tmp_path):
    run = tmp_path / "run"
    kw = dict(seeds=1, total_steps=STEPS, preset="grid_quick", overrides=TINY_OVERRIDES,
              progress=False, save_every=2)
    runs.train("mappo", "grid_meet", out=run, stop_after=2, **kw)
    outcomes = []

    def resume():
        try:
            runs.resume(run, progress=False)
            outcomes.append("ok")
        except RunDirectoryLocked:
            outcomes.append("locked")

    threads = [threading.Thread(target=resume) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    updates = [int(r["update"]) for r in _rows(run)]
    assert updates == sorted(set(updates)) and updates[-1] == 6
    assert "ok" in outcomes


def test_out_that_is_not_a_run_is_never_written(tmp_path, capsys):
    other = tmp_path / "notes"
    other.mkdir()
    (other / "metrics").mkdir()
    (other / "metrics" / "seed_0.csv").write_text("mine\n")
    assert main(["train", "mappo", "grid_meet", *TINY, "--out", str(other)]) == 2
    assert "is not a run directory" in capsys.readouterr().err
    assert (other / "metrics" / "seed_0.csv").read_text() == "mine\n"
    afile = tmp_path / "file"
    afile.write_text("x")
    assert main(["train", "mappo", "grid_meet", *TINY, "--out", str(afile)]) == 2
    assert "is a file" in capsys.readouterr().err


def test_resume_refuses_conflicting_arguments_and_leaves_finished_runs(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "mappo", "grid_meet", *TINY, "--total-steps", str(8 * 16 * 2),
                 "--seeds", "2", "--out", str(run)]) == 0
    capsys.readouterr()
    code = main(["train", "qmix", "grid_meet", "--resume", str(run), "--seeds", "4", "--set",
                 "lr=0.1", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    for part in ("ALGO qmix (the run has mappo)", "--seeds 4 (the run has 2)", "lr=0.1"):
        assert part in err
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0
    assert "is finished" in capsys.readouterr().out
    after = {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}
    assert before == after  # nothing rewritten


@pytest.mark.parametrize("setup, argv_tail, message", [
    ("dir_config", ["--config", "{tmp}/cfgdir"], "Is a directory"),
    ("bad_yaml", ["--config", "{tmp}/bad.yaml"], "not valid YAML"),
    ("bad_json", ["--config", "{tmp}/bad.json"], "not valid JSON"),
    ("readonly", ["--out", "{tmp}/ro/run"], "Permission denied"),
])
def test_file_errors_are_one_line_exit_2(tmp_path, capsys, setup, argv_tail, message):
    if setup == "dir_config":
        (tmp_path / "cfgdir").mkdir()
    elif setup == "bad_yaml":
        (tmp_path / "bad.yaml").write_text("lr: [1, 2\n  - x: {")
    elif setup == "bad_json":
        (tmp_path / "bad.json").write_text("{lr: 1")
    else:
        if os.geteuid() == 0:
            pytest.skip("root ignores directory permissions")
        (tmp_path / "ro").mkdir(mode=0o500)
    argv = ["train", "mappo", "grid_meet", *TINY] + [a.format(tmp=tmp_path) for a in argv_tail]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_checked_env_catches_actions_beyond_an_agents_own_count():
    from jax.experimental import checkify

    env = jl.CheckedEnv(jl.make("simple_speaker_listener"))  # speaker 3 actions, listener 5
    _, state = env.reset(jax.random.key(0))
    env.step(jax.random.key(1), state, jnp.array([2, 4]))
    with pytest.raises(checkify.JaxRuntimeError, match="beyond its own action count: agent 0"):
        env.step(jax.random.key(1), state, jnp.array([4, 0]))


def test_nan_continuous_actions_act_as_zero_and_are_counted():
    env = jl.make("simple_spread", continuous_actions=True)
    _, state = env.reset(jax.random.key(0))
    bad = jnp.full((3, env.num_actions), jnp.nan).at[0, 1].set(0.5)
    obs, _, _, _, _, info = env.step(jax.random.key(1), state, bad)
    clean = env.step(jax.random.key(1), state, jnp.zeros_like(bad).at[0, 1].set(0.5))
    assert np.isfinite(np.asarray(obs)).all()
    np.testing.assert_array_equal(obs, clean[0])
    assert int(info["nonfinite_actions"]) == bad.size - 1


def test_config_validation_of_buffers_budgets_and_action_types():
    from jaxmarl_lite.algorithms import maddpg, qmix

    with pytest.raises(ValueError, match="buffer_size must be >= num_envs=64"):
        qmix.Config(num_envs=64, buffer_size=32, batch_size=8)
    with pytest.raises(ValueError, match="learning_starts must be < total_timesteps"):
        qmix.Config(total_timesteps=1000, learning_starts=5000)
    with pytest.raises(ValueError, match="buffer_size must be >= num_envs \\* num_steps"):
        maddpg.Config(num_envs=32, num_steps=25, buffer_size=500, batch_size=64)
    with pytest.raises(ValueError, match="gumbel_temperature would be ignored"):
        maddpg.make_stages(maddpg.Config(gumbel_temperature=0.5),
                           jl.make("simple", continuous_actions=True))
    with pytest.raises(ValueError, match="noise_start would be ignored"):
        maddpg.make_stages(maddpg.Config(noise_start=0.5), jl.make("simple"))
    with pytest.raises(TypeError, match="one of 'centralised', 'agent_specific', 'local'"):
        mappo.Config(critic="global")


@pytest.mark.parametrize("env_name, other, kwargs, error, message", [
    ("simple_spread", "simple_tag", {}, ValueError, r"state\.c is float32\[4, 2\]"),
    ("simple_spread", "grid_meet", {}, TypeError, "expects a MPEState of this env's layout"),
    ("grid_meet", "grid_meet", {"num_agents": 3}, ValueError, r"state\.pos is int32\[3, 2\]"),
])
def test_a_state_from_another_env_is_refused_at_trace_time(env_name, other, kwargs, error,
                                                            message):
    env, key = jl.make(env_name), jax.random.key(0)
    _, foreign = jax.eval_shape(jl.make(other, **kwargs).reset, key)
    with pytest.raises(error, match=message):
        jax.eval_shape(env.step, key, foreign, env.sample_actions(key))
