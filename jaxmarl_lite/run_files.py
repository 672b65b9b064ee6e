"""What a run directory holds, written and read (:mod:`jaxmarl_lite.runs` trains into it).

``config.json`` (:data:`CONFIG_FILE`), ``system.json`` (the machine and mesh of every
session), ``metrics/seed_<i>.csv`` (one row per update), ``nonfinite.json``
(:data:`NONFINITE_FILE`: runs that became non-finite), ``eval.json``. JSON files are
replaced atomically (a temporary file, then ``os.replace``), so a run interrupted while
writing never leaves a half-written file behind.
"""
from __future__ import annotations

import csv
import json
import os
import platform
import warnings
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import jax
import numpy as np

import jaxmarl_lite
from jaxmarl_lite import parallel
from jaxmarl_lite.stats import mean_ci

CONFIG_FILE = "config.json"
NONFINITE_FILE = "nonfinite.json"


def package_versions(names: Sequence[str]) -> Dict[str, Optional[str]]:
    """The installed version of each distribution in ``names`` (``None`` where missing)."""
    from importlib import metadata

    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def system_info(placement: Optional[parallel.Placement] = None) -> Dict[str, Any]:
    """This process's machine, package versions and devices (and the mesh, if given)."""
    versions = package_versions(
        ("jax", "jaxlib", "flax", "optax", "flashbax", "orbax-checkpoint", "numpy"))
    info = dict(jaxmarl_lite=jaxmarl_lite.__version__, python=platform.python_version(),
                platform=platform.platform(), processor=platform.processor(),
                cpu_count=os.cpu_count(), devices=[str(d) for d in jax.devices()],
                processes=jax.process_count(), packages=versions)
    if placement is not None:
        info["placement"] = placement.describe()
    return info


def record_session(run_dir: Path, placement: parallel.Placement) -> None:
    """``system.json`` of this session (the machine, the mesh); earlier sessions' records
    (a resumed run may continue elsewhere) are kept under ``previous``."""
    path = run_dir / "system.json"
    info = system_info(placement)
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except ValueError:
            old = None
        if isinstance(old, dict):
            info["previous"] = old.pop("previous", []) + [old]
    write_json(path, info)


def write_json(path: Path, payload: Any) -> None:
    """Write ``payload`` as JSON, replacing ``path`` atomically."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    os.replace(tmp, path)  # never leave a half-written file behind


def _metric_rows(metrics: Dict[str, np.ndarray], seed: int, first_update: int):
    names = sorted(metrics)
    n = next(iter(metrics.values())).shape[1]
    for i in range(n):
        yield [first_update + i + 1] + [float(metrics[k][seed, i]) for k in names]


def append_metrics(run_dir: Path, metrics: Dict[str, np.ndarray], first_update: int) -> None:
    """Append a chunk's metrics ``{name: [runs, updates]}`` to ``metrics/seed_<i>.csv``,
    numbering updates from ``first_update + 1``."""
    names = sorted(metrics)
    for seed in range(next(iter(metrics.values())).shape[0]):
        path = run_dir / "metrics" / f"seed_{seed}.csv"
        new = not path.exists()
        with path.open("a", newline="") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(["update"] + names)
            writer.writerows(_metric_rows(metrics, seed, first_update))


def truncate_metrics(run_dir: Path, updates: int) -> None:
    """Drop rows past ``updates`` (written after the checkpoint a resume starts from)."""
    for path in sorted((run_dir / "metrics").glob("seed_*.csv")):
        with path.open() as f:
            rows = list(csv.reader(f))
        keep = [rows[0]] + [r for r in rows[1:] if int(r[0]) <= updates]
        tmp = path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as f:
            csv.writer(f).writerows(keep)
        os.replace(tmp, path)


def read_metrics(run_dir: str | Path) -> Dict[str, np.ndarray]:
    """``{name: [seeds, updates]}`` from a run's metric CSVs."""
    paths = sorted(Path(run_dir, "metrics").glob("seed_*.csv"),
                   key=lambda p: int(p.stem.split("_")[1]))
    if not paths:
        raise FileNotFoundError(f"{run_dir} has no metrics/seed_*.csv (not a run directory?)")
    per_seed = []
    for path in paths:
        with path.open() as f:
            rows = list(csv.reader(f))
        per_seed.append({k: np.array([float(r[i]) for r in rows[1:]])
                         for i, k in enumerate(rows[0])})
    n = min(len(s["update"]) for s in per_seed)
    return {k: np.stack([s[k][:n] for s in per_seed]) for k in per_seed[0]}


def final_table(metrics: Dict[str, np.ndarray]) -> str:
    """Markdown table of every metric's last value: mean and 95% CI over runs."""
    lines = ["| metric | mean over seeds | 95% CI half-width |", "|---|---|---|"]
    for name in sorted(metrics):
        if name == "update":
            continue
        mean, half = mean_ci(metrics[name][:, -1])
        lines.append(f"| {name} | {float(mean):.4g} | {float(half):.3g} |")
    return "\n".join(lines) + "\n"


def record_nonfinite(run_dir: Path, bad: list) -> None:
    """Add newly non-finite runs to ``nonfinite.json`` (the first report of each run kept)."""
    path = run_dir / NONFINITE_FILE
    old = json.loads(path.read_text()) if path.exists() else []
    known = {b["run"] for b in old}
    write_json(path, old + [b for b in bad if b["run"] not in known])


def record_replicas(run_dir: Path, params, placement: parallel.Placement) -> None:
    """Multi-process: every process's hash of the parameters it holds, in ``system.json``;
    where every process holds the same (one seed group) they must agree, else a warning."""
    digests = parallel.process_digests(params)
    if not parallel.is_primary():
        return
    path = run_dir / "system.json"
    info = json.loads(path.read_text())
    info["process_param_digests"] = digests
    write_json(path, info)
    if placement.seed_shards == 1 and len(set(digests)) > 1:
        warnings.warn(f"the processes' parameter copies differ ({digests}); the replicas of "
                      f"this data-parallel run diverged", RuntimeWarning, stacklevel=3)


def placement_text(placement: Optional[parallel.Placement]) -> str:
    """`` on 2 cpu device(s), mesh ...`` for summaries (empty without a placement)."""
    if placement is None:
        return ""
    d = placement.describe()
    procs = f" in {d['processes']} processes" if d["processes"] > 1 else ""
    return (f" on {placement.num_devices} {d['platform']} device(s){procs}, mesh "
            f"{placement.seed_shards} seed shard(s) x {placement.env_shards} env shard(s)")
