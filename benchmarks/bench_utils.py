"""Shared helpers for the benchmark scripts: timing compiled calls and recording results."""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, NamedTuple, Tuple

import jax

from jaxmarl_lite.run_files import package_versions

RESULTS = Path(__file__).resolve().parent / "results"


JAXMARL_PQN_VDN_FF_MPE = {  # baselines/QLearning/config/alg/pqn_vdn_ff_mpe.yaml
    "NUM_ENVS": 256, "NUM_STEPS": 16, "MEMORY_WINDOW": 0, "HIDDEN_SIZE": 256, "NUM_LAYERS": 2,
    "NORM_INPUTS": False, "NORM_TYPE": "layer_norm", "EPS_START": 1.0, "EPS_FINISH": 0.1,
    "EPS_DECAY": 0.1, "MAX_GRAD_NORM": 1, "NUM_MINIBATCHES": 16, "NUM_EPOCHS": 4, "LR": 0.0005,
    "LR_LINEAR_DECAY": False, "GAMMA": 0.9, "LAMBDA": 0.3, "ENV_NAME": "MPE_simple_spread_v3",
    "ENV_KWARGS": {}, "TEST_DURING_TRAINING": True, "TEST_INTERVAL": 0.05, "TEST_NUM_STEPS": 30,
    "TEST_NUM_ENVS": 512, "WANDB_MODE": "disabled",
}
"""JaxMARL's PQN-VDN settings (``pqn_learning.py``, ``compare_ql_speed.py --algos pqn``)."""


def _git(*args: str) -> str:
    """``git args`` in this repository's root; ``""`` where git or the repository is missing."""
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, check=False,
                              cwd=Path(__file__).resolve().parents[1]).stdout.strip()
    except OSError:
        return ""


# The training loops at JaxMARL's settings on simple_spread, as the speed scripts run them:
# name -> (algorithm, preset, overrides, env steps per seed).
LOOP_ROWS = {
    "qmix": ("qmix", "jaxmarl_ql_rnn_mpe", {}, 100_000),
    "vdn": ("vdn", "jaxmarl_ql_rnn_mpe", {}, 100_000),
    "iql": ("iql", "jaxmarl_ql_rnn_mpe", {}, 100_000),
    "mappo_gru": ("mappo", "jaxmarl_mappo_rnn_mpe", {}, 40_960),
    "ippo_ff": ("ippo", "jaxmarl_ippo_ff_mpe", {}, 204_800),
    "mappo_ff_1024": ("mappo", None, dict(critic="agent_specific", num_envs=1024,
                                          num_steps=128, hidden_size=128), 262_144),
    "pqn": ("pqn", "jaxmarl_pqn_vdn_ff_mpe", {}, 65_536),
}


def loop_config(name: str, steps: int):
    """``(module, config, env)`` of :data:`LOOP_ROWS` ``name`` for ``steps`` env steps per
    seed, in-loop evaluation off, on simple_spread."""
    import jaxmarl_lite as jl
    from jaxmarl_lite.algorithms import get

    algo, preset, overrides, _ = LOOP_ROWS[name]
    module = get(algo)
    cfg = module.PRESETS[preset] if preset else module.Config()
    return (module, cfg.replace(total_timesteps=steps, eval_every=10**9, **overrides),
            jl.make("simple_spread"))


def loop_env_steps(stages, cfg, env, seeds: int) -> int:
    """Env steps all ``seeds`` of a loop simulate (episode-long rollouts where the config
    has no ``num_steps``)."""
    per_update = getattr(cfg, "num_steps", None) or env.max_episode_steps
    return stages.num_updates * cfg.num_envs * per_update * seeds


def machine_info(packages: Iterable[str] = ("jax", "jaxlib", "flax", "optax", "numpy")) -> Dict[str, Any]:
    """CPU/GPU model, core count and package versions, recorded beside every result."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = package_versions(packages)
    commit = _git("rev-parse", "--short", "HEAD")
    # Tracked files that differ from ``commit`` when the result was measured.
    uncommitted = _git("diff", "--name-only", "HEAD").splitlines()
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "devices": [str(d) for d in jax.devices()],
        "device_kind": jax.devices()[0].device_kind,
        "backend": jax.default_backend(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "commit": commit,
        "uncommitted": uncommitted,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def time_compiled(fn: Callable[..., Any], *args: Any, repeats: int = 3,
                  warmup: bool = True) -> Tuple[float, float]:
    """``(compile_seconds, best_run_seconds)`` of ``jax.jit(fn)(*args)``.

    Compilation is timed through ``lower().compile()``; runs block on the result and the
    best of ``repeats`` is reported (the least disturbed by other load). Long training
    runs pass ``repeats=1, warmup=False``.
    """
    compile_s, best, _ = time_compiled_output(fn, *args, repeats=repeats, warmup=warmup)
    return compile_s, best


def time_compiled_output(fn: Callable[..., Any], *args: Any, repeats: int = 3,
                         warmup: bool = True) -> Tuple[float, float, Any]:
    """:func:`time_compiled` that also returns the output of the last timed run (so a
    caller reading the result does not run the loop once more)."""
    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - t0
    if warmup:
        jax.block_until_ready(compiled(*args))
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = jax.block_until_ready(compiled(*args))
        best = min(best, time.perf_counter() - t0)
    return compile_s, best, out


def prepare_compiled(fn: Callable[..., Any], *args: Any) -> Tuple[float, Callable[[], float]]:
    """``(compile_s, run)`` of ``jax.jit(fn)(*args)``: ``run()`` runs the compiled call once,
    blocks, and returns its seconds (for :func:`side_by_side`'s interleaved timing)."""
    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - t0

    def run() -> float:
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        return time.perf_counter() - t0

    return compile_s, run


def prepare_placed(stages, keys, num_envs: int, devices=None, shard: str = "auto"):
    """``(compile_s, run, placement)`` of a whole training loop on the default mesh
    (:func:`jaxmarl_lite.parallel.make_placement`; what the CLI does): ``compile_s`` covers
    init, placement and compilation; ``run()`` trains all ``stages.num_updates`` updates
    once from the same initial carry and returns its seconds."""
    from jaxmarl_lite import parallel
    from jaxmarl_lite.algorithms._common.training import init_seeds

    placement = parallel.make_placement(len(keys), num_envs, devices, shard)
    t0 = time.perf_counter()
    carry = jax.block_until_ready(parallel.place(init_seeds(stages, keys), placement))
    compiled = parallel.compile_updates(stages, carry, stages.num_updates, placement)
    compile_s = time.perf_counter() - t0

    def run() -> float:
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(carry))
        return time.perf_counter() - t0

    return compile_s, run, placement


def time_placed(stages, keys, num_envs: int, devices=None, shard: str = "auto"):
    """``(compile_s, run_s, placement)``: :func:`prepare_placed` and one run."""
    compile_s, run, placement = prepare_placed(stages, keys, num_envs, devices, shard)
    return compile_s, run(), placement


def placement_label(placement) -> str:
    """``"2 devices: 2 seed shards"`` / ``"1 device"`` for result tables."""
    if placement.num_devices == 1:
        return "1 device"
    parts = [f"{placement.seed_shards} seed shards" if placement.seed_shards > 1 else "",
             f"{placement.env_shards} env shards" if placement.env_shards > 1 else ""]
    return f"{placement.num_devices} devices: " + " x ".join(p for p in parts if p)


def write_result(name: str, payload: Dict[str, Any], markdown: str | None = None) -> Path:
    """Write ``results/<name>.json`` (and ``<name>.md`` when given) with machine info."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"machine": machine_info(), **payload}
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=float) + "\n")
    os.replace(tmp, path)
    if markdown is not None:
        (RESULTS / f"{name}.md").write_text(markdown)
    return path


def publish_table(name: str, script: str, title: str, table: str, note: str,
                  records: list) -> None:
    """Print and write a result: ``# title``, the table, ``note`` and the command that
    reproduces it (``records`` and the command go to the JSON)."""
    command = reproduce_command(script)
    md = f"# {title}\n\n{table}\n\n{note} Reproduce: `{command}`\n"
    print(md)
    write_result(name, {"records": records, "command": command}, md)


def side_by_side(ours, reference, ref_path, algo, steps, seeds, num_envs,
                 repeats: int = 1) -> Dict[str, Any]:
    """Time ``ours`` and (when ``ref_path`` is given) the reference implementation on the same
    run. Each returns ``(compile_s, run, env_steps)`` with ``run()`` one timed run (seconds;
    :func:`prepare_placed`, :func:`prepare_compiled`). Both are compiled first, then run
    alternately ``repeats`` times (ours, reference, ours, ...), and the best time of each
    side counts, so a machine that slows down or speeds up mid-row affects both sides alike.
    Returns the record of one table row (``ours_runs_s`` / ``jaxmarl_runs_s``: every run;
    ``pair_ratios``: each repeat's ours-vs-reference ratio of the two runs next to each
    other in time, whose range shows how far the machine's drift moves the ratio)."""
    c_ours, run_ours, n_ours = ours(algo, steps, seeds, num_envs)
    if ref_path:
        c_ref, run_ref, n_ref = reference(ref_path, algo, steps, seeds, num_envs)
    times_ours, times_ref = [], []
    for _ in range(repeats):
        times_ours.append(run_ours())
        if ref_path:
            times_ref.append(run_ref())
    rec = dict(algo=algo, seeds=seeds, num_envs=num_envs, steps_per_seed=steps,
               ours_sps=n_ours / min(times_ours), ours_compile_s=c_ours,
               ours_runs_s=times_ours, repeats=repeats)
    if ref_path:
        ref_sps = n_ref / min(times_ref)
        rec.update(jaxmarl_sps=ref_sps, jaxmarl_compile_s=c_ref, jaxmarl_runs_s=times_ref,
                   ratio=rec["ours_sps"] / ref_sps,
                   pair_ratios=[(n_ours / o) / (n_ref / r) for o, r in zip(times_ours, times_ref)])
    return rec


def ratio_cells(rec: Dict[str, Any]) -> list:
    """``ours steps/s, reference steps/s, ratio, compile s`` cells of a side-by-side row;
    with several repeats the ratio cell adds the range of the per-repeat pair ratios."""
    if "ratio" not in rec:  # no reference run
        return [f"{rec['ours_sps']:,.0f}", "-", "-", f"{rec['ours_compile_s']:.1f} / -"]
    ratio = f"**{rec['ratio']:.2f}x**"
    pairs = rec.get("pair_ratios", [])
    if len(pairs) > 1:
        ratio += f" (pairs {min(pairs):.2f}-{max(pairs):.2f}x)"
    return [f"{rec['ours_sps']:,.0f}", f"{rec['jaxmarl_sps']:,.0f}", ratio,
            f"{rec['ours_compile_s']:.1f} / {rec['jaxmarl_compile_s']:.1f}"]


def markdown_table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(lines) + "\n"


class Trained(NamedTuple):
    metrics: Dict[str, Any]  # [seeds, num_updates] arrays
    team_return: Any  # [seeds] final deterministic return (mean over agents and episodes)
    agent_returns: Any  # [seeds, num_agents] final deterministic return of each agent
    seconds: float  # wall time of training all seeds, compile included


def train_and_evaluate(algo: str, cfg, env, seeds: int, episodes: int = 512,
                       key: int = 0) -> Trained:
    """Train ``seeds`` seeds of ``algo`` at once (vmapped) and evaluate each seed's final
    deterministic policy over ``episodes`` episodes."""
    import numpy as np

    from jaxmarl_lite.algorithms import get
    from jaxmarl_lite.algorithms._common.evaluation import evaluate
    from jaxmarl_lite.algorithms._common.training import train_seeds

    module = get(algo)
    stages = module.make_stages(cfg, env)
    t0 = time.perf_counter()
    out = jax.block_until_ready(train_seeds(stages, jax.random.split(jax.random.key(key), seeds)))
    seconds = time.perf_counter() - t0
    policy = module.make_policy(cfg, env)
    res = jax.jit(jax.vmap(lambda p, k: evaluate(env, policy, p, k, episodes)))(
        out.carry.params, jax.random.split(jax.random.key(key + 1), seeds))
    return Trained(jax.device_get(out.metrics), np.asarray(res.team_return.mean(-1)),
                   np.asarray(res.agent_returns.mean(-2)), seconds)


def random_returns(env, episodes: int = 4096) -> Tuple[float, Any]:
    """``(team return, per-agent returns [num_agents])`` of a uniformly random policy."""
    import numpy as np

    from jaxmarl_lite.algorithms._common.evaluation import evaluate, random_policy

    res = jax.jit(lambda k: evaluate(env, random_policy(env), None, k, episodes))(
        jax.random.key(2))
    return float(res.team_return.mean()), np.asarray(res.agent_returns.mean(0))


def load_jaxmarl_baseline(path: str | Path):
    """Import one of JaxMARL's baseline scripts (``baselines/...py`` of a FLAIROx/JaxMARL
    checkout) as a module, for side-by-side timing of its ``make_train``. Its logging-only
    imports (hydra, omegaconf, wandb) are replaced by inert stand-ins when not installed;
    nothing of the script is used except its training function."""
    import importlib.util
    import types

    for name in ("hydra", "omegaconf", "wandb"):
        try:
            importlib.import_module(name)
        except ImportError:
            stub = types.ModuleType(name)
            stub.main = lambda *a, **k: (lambda f: f)  # hydra.main decorator
            stub.log = lambda *a, **k: None  # wandb.log (called from inside some loops)
            stub.OmegaConf = type("OmegaConf", (), {"to_container": staticmethod(lambda c, **k: c),
                                                    "to_yaml": staticmethod(str)})
            sys.modules[name] = stub
    if "wandb" not in sys.modules or hasattr(sys.modules["wandb"], "init"):
        try:  # a real wandb: its scripts call wandb.log from inside the loop
            import wandb

            if getattr(wandb, "run", None) is None:
                wandb.init(mode="disabled")
        except ImportError:
            pass
    if jax.default_backend() == "cpu":  # the batched-QR hang is XLA:CPU's alone
        qr_free_orthogonal_init()
    path = Path(path)
    spec = importlib.util.spec_from_file_location(f"jaxmarl_baseline_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def qr_free_orthogonal_init() -> None:
    """Make ``jax.random.orthogonal`` (behind flax's ``orthogonal`` initialiser, which JaxMARL's
    networks and ``nn.GRUCell`` use) take its Q factor from Gram-Schmidt instead of LAPACK's QR,
    in this process only.

    Why: a ``jax.vmap(train)`` over seeds turns the QR of every initialiser into a batched
    LAPACK call that hangs XLA:CPU on this 2-core machine (the deadlock described in README's
    "A note on XLA:CPU and batched QR"; seen here with JaxMARL's MAPPO at 8 seeds). The
    distribution of the initial weights is unchanged and nothing after initialisation is
    touched, so the timed training loop is JaxMARL's own. Our networks never call the QR."""
    import types

    from jax._src.random import core as random_core

    from jaxmarl_lite.algorithms._common.networks import orthonormal_columns

    real = random_core.jnp_linalg
    if getattr(real, "qr_free", False):
        return

    def qr(a):  # [..., m, n] with m >= n -> (Q, R), diag(R) > 0
        q = jax.numpy.vectorize(orthonormal_columns, signature="(m,n)->(m,n)")(a)
        return q, jax.numpy.swapaxes(q, -1, -2) @ a

    proxy = types.SimpleNamespace(**{k: getattr(real, k) for k in dir(real) if not k.startswith("__")})
    proxy.qr, proxy.qr_free = qr, True
    random_core.jnp_linalg = proxy


def reproduce_command(script: str, jaxmarl_path=None) -> str:
    """The command line this benchmark ran with (``sys.argv``), a JaxMARL checkout's path
    shown as ``<JaxMARL checkout>``, for a results file's "Reproduce" line."""
    args = ["<JaxMARL checkout>" if jaxmarl_path is not None and a == str(jaxmarl_path) else a
            for a in sys.argv[1:]]
    return " ".join(["PYTHONPATH=. python", f"benchmarks/{script}", *args])


def results_name(text: str) -> str:
    """``argparse`` type of a results file name under ``benchmarks/results`` (no folders)."""
    if not re.fullmatch(r"[\w.-]+", text):
        raise argparse.ArgumentTypeError(
            f"a file name (letters, digits, _ . -), got {text!r}")
    return text


def parse_seeds(text: str) -> list:
    """``"0-7,100-107"`` -> ``[0, ..., 7, 100, ..., 107]`` (the integer keys of a run's
    seeds, fixed before the run)."""
    seeds = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        seeds += list(range(int(lo), int(hi or lo) + 1))
    return seeds


EXHAUSTIVE_HEADER = ["lost lines P1 (any reply)", "P2 (any reply)",
                     "lost lines P1 (optimal replies)", "P2 (optimal replies)",
                     "P(loss) P1 vs minimax", "P2 vs minimax"]


def exhaustive_cells(lines) -> list:
    """Table cells (:data:`EXHAUSTIVE_HEADER`) of a tic-tac-toe ``exhaustive_eval`` result."""
    return ([f"{s.lost_any}/{s.lines_any}" for s in lines]
            + [f"{s.lost_optimal}/{s.lines_optimal}" for s in lines]
            + [f"{100 * s.loss_prob_minimax:.2f}%" for s in lines])
