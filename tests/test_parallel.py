"""Runs on a device mesh: seeds and envs split over virtual CPU devices agree with one
device, two processes train one run through jax.distributed, bad mesh requests fail early."""
from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jaxmarl_lite import parallel
from jaxmarl_lite.cli import main

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("parallel_worker.py")


def _env(devices=None):
    """The test session's environment (its XLA flags included) without a CPU device count,
    or with ``devices`` of them."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    flags = [f for f in env.get("XLA_FLAGS", "").split()
             if "xla_force_host_platform_device_count" not in f]
    if devices is not None:
        flags.append(f"--xla_force_host_platform_device_count={devices}")
    env["XLA_FLAGS"] = " ".join(flags)
    return env


@pytest.fixture(scope="module")
def mesh_results():
    """Both worker runs at once (each compiles on its own core)."""
    procs = [subprocess.Popen([sys.executable, str(WORKER), which], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=_env())
             for which in ("seeds", "envs")]
    results = {}
    for p in procs:
        out, err = p.communicate(timeout=900)
        assert p.returncode == 0, err[-3000:]
        line = next(x for x in out.splitlines() if x.startswith("RESULT "))
        results.update(json.loads(line[len("RESULT "):]))
    return results


@pytest.mark.parametrize("case, mesh", [
    ("qmix/seeds4", {"seeds": 4, "envs": 1}), ("mappo/seeds4", {"seeds": 4, "envs": 1}),
    ("maddpg/seeds4", {"seeds": 2, "envs": 1}),
    ("mappo/envs2", {"seeds": 1, "envs": 2}), ("mappo/envs4", {"seeds": 1, "envs": 4}),
    ("qmix/envs2", {"seeds": 1, "envs": 2}),
    ("mappo/both2x2", {"seeds": 2, "envs": 2}),
])
def test_mesh_run_equals_one_device_run_up_to_rounding(mesh_results, case, mesh):
    """3 updates on the mesh vs on one device (same seeds, same global num_envs): the same
    env steps, returns and evaluations; parameters and losses within float rounding
    (reductions over split axes add in another order; bitwise equality is not expected:
    even one device with 2 vs 4 vmapped seeds differs in the last bit)."""
    r = mesh_results[case]
    assert mesh_results["devices"] == 4
    assert r["mesh"] == mesh
    assert r["same_nan"]
    for name in ("env_steps", "episode_length", "episode_return", "eval_return"):
        assert r["metrics"][name] == 0.0, (name, r["metrics"][name])
    assert r["params"] <= 1e-4 * max(1.0, r["param_scale"]), r
    assert max(r["metrics"].values()) <= 1e-4, r["metrics"]


def test_a_seed_alone_on_its_device_is_bitwise_its_single_run(mesh_results):
    """4 seeds on 4 devices run as per-device programs: each seed's parameters are bitwise
    those of that seed trained alone on one device, and the progress callback fires once per
    update with all 4 seeds' metrics (gathered from the devices)."""
    r = mesh_results["qmix/seeds4"]
    assert r["bitwise_per_seed"] == [True] * 4
    assert [i for i, _ in r["calls"]] == [1, 2, 3]
    for i, metrics in r["calls"]:
        np.testing.assert_array_equal(np.asarray(metrics["episode_return"], float),
                                      np.asarray(r["returns"], float)[:, i - 1])


def test_bad_mesh_requests_name_the_numbers(mesh_results):
    bad = mesh_results["bad"]
    assert "8 devices requested but only 4 exist" in bad["too_many"]
    assert "num_envs=6 cannot be split evenly over 4 env shards" in bad["envs_indivisible"]
    assert "3 seeds cannot be split evenly over 2 devices" in bad["seeds_indivisible"]
    assert "seed_shards=3 must divide both devices=4 and seeds=2" in bad["both_indivisible"]


def test_auto_placement_on_cpu_splits_seeds_only(mesh_results):
    """On CPU, ``auto`` puts gcd(seeds, devices) seed groups on the mesh and leaves the rest
    idle (one run's envs split over CPU devices measured no faster)."""
    got = {int(k): (v["seeds"], v["envs"]) for k, v in mesh_results["auto"].items()}
    assert got == {1: (1, 1), 2: (2, 1), 3: (1, 1), 4: (4, 1), 6: (2, 1), 8: (4, 1)}


def test_placement_validation_in_process():
    with pytest.raises(ValueError, match="shard must be one of auto, seeds, envs, both"):
        parallel.make_placement(2, 8, shard="rows")
    with pytest.raises(ValueError, match="devices must be an int >= 1"):
        parallel.make_placement(2, 8, devices=0)
    with pytest.raises(ValueError, match="requested but only"):
        parallel.make_placement(2, 8, devices=64)
    placement = parallel.make_placement(3, 8)
    assert placement.num_devices >= 1 and placement.describe()["mesh"]["seeds"] >= 1
    with pytest.raises(ValueError, match="all three of coordinator"):
        parallel.initialize("localhost:1234")
    with pytest.raises(ValueError, match="HOST:PORT"):
        parallel.initialize("localhost", 2, 0)
    with pytest.raises(ValueError, match=r"process_id must be in \[0, 1\]"):
        parallel.initialize("localhost:1234", 2, 5)


@pytest.mark.parametrize("argv, message", [
    (["train", "qmix", "grid_meet", "--devices", "64"], "64 devices requested but only"),
    (["train", "qmix", "grid_meet", "--coordinator", "localhost:1"],
     "--coordinator HOST:PORT, --num-processes N and --process-id I together"),
])
def test_cli_bad_mesh_flags(argv, message, capsys, tmp_path):
    assert main(argv + ["--out", str(tmp_path / "run")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # nothing written


@pytest.mark.parametrize("flag, value", [("--save-every", "-1"), ("--devices", "0"),
                                         ("--shard", "rows"), ("--total-steps", "2.5")])
def test_cli_rejects_bad_numbers_before_anything(flag, value, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "qmix", "grid_meet", flag, value])
    assert exc.value.code == 2
    assert flag in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _two_processes(args, timeout=600):
    port = _free_port()
    env = _env(devices=1)  # 1 per process
    procs = [subprocess.Popen([sys.executable, "-m", "jaxmarl_lite", *args, "--coordinator",
                               f"localhost:{port}", "--num-processes", "2", "--process-id",
                               str(i)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for i in range(2)]
    outs = [p.communicate(timeout=timeout) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    return [o for o, _ in outs]


def _rows(run: Path, seed: int = 0):
    with (run / "metrics" / f"seed_{seed}.csv").open() as f:
        return list(csv.reader(f))[1:]


TINY_PPO = ["--preset", "grid_quick", "--set", "num_envs=8", "--set", "num_steps=16",
            "--set", "hidden_size=16", "--set", "eval_every=2", "--set", "eval_episodes=8"]
TINY_QL = ["--preset", "grid_quick", "--set", "num_envs=4", "--set", "buffer_size=32",
           "--set", "batch_size=4", "--set", "learning_starts=0", "--set", "eval_every=2",
           "--set", "eval_episodes=4", "--set", "hidden_size=8", "--set", "mixer_embed_dim=4",
           "--set", "hypernet_hidden=8"]


@pytest.mark.parametrize("algo, tiny, steps, resume_in, split", [
    ("mappo", TINY_PPO, 8 * 16 * 6, 2, ["--shard", "envs", "--no-progress"]),
    ("qmix", TINY_QL, 4 * 20 * 6, 1, ["--seeds", "2", "--shard", "seeds", "--progress-every", "1"])])
def test_two_processes_train_one_data_parallel_run_and_resume(tmp_path, algo, tiny, steps,
                                                              resume_in, split):
    """``jax.distributed`` on localhost (gloo CPU collectives), one device per process.
    MAPPO: the envs split over the two, both processes hold the same parameters; QMIX: two
    seeds, one per process (per-device programs, the progress callback gathering both seeds
    across processes), each process holds its own seed. Only process 0 writes the run
    directory (one row per update, no summary before the end), and the interrupted run
    resumes to the end in two processes (MAPPO) or in one process on one device (QMIX: the
    checkpoint restored onto another mesh)."""
    run = tmp_path / "run"
    common = ["train", algo, "grid_meet", "--total-steps", str(steps), "--save-every", "2",
              *split, *tiny]
    outs = _two_processes(common + ["--out", str(run), "--stop-after", "4"])
    assert "run directory" in outs[0] and "run directory" not in outs[1]  # 0 reports
    assert not (run / "summary.md").exists()
    seeds = 2 if "seeds" in split else 1
    for seed in range(seeds):
        assert [int(r[0]) for r in _rows(run, seed)] == [1, 2, 3, 4]
    first = json.loads((run / "system.json").read_text())
    assert first["processes"] == 2
    assert first["placement"]["mesh"] == ({"seeds": 2, "envs": 1} if seeds == 2 else
                                          {"seeds": 1, "envs": 2})
    digests = first["process_param_digests"]
    assert len(digests) == 2 and (digests[0] == digests[1]) == (seeds == 1)
    resume = ["train", "--resume", str(run), "--no-progress"]
    if resume_in == 2:
        outs = _two_processes(resume + ["--shard", "envs"])
        assert f"# {algo} on grid_meet" in outs[0] and f"# {algo}" not in outs[1]
    else:
        out = subprocess.run([sys.executable, "-m", "jaxmarl_lite", *resume, "--devices", "1"],
                             capture_output=True, text=True, env=_env(), timeout=600)
        assert out.returncode == 0, out.stderr[-3000:]
        assert f"# {algo} on grid_meet" in out.stdout
    for seed in range(seeds):
        assert [int(r[0]) for r in _rows(run, seed)] == [1, 2, 3, 4, 5, 6]
    system = json.loads((run / "system.json").read_text())
    assert system["processes"] == resume_in and len(system["previous"]) == 1
    summary = (run / "summary.md").read_text()
    assert ("in 2 processes" in summary) == (resume_in == 2)
    assert np.isfinite([float(r[1]) for r in _rows(run)]).all()
