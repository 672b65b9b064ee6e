"""Dense layers' kernel gradient: each training loop as it runs (``networks.dense``, whose
kernel gradient is :func:`jaxmarl_lite.algorithms._common.networks.kernel_grad`) beside the
same loop built with flax's plain ``nn.Dense`` (autodiff's kernel gradient), side by side in
one process.

Both sides are the same algorithm with the same keys and placement (one CPU device per core,
seeds split over the devices when they divide, as the CLI runs); they differ only in float
rounding. Each row compiles both, then runs them alternately ``--repeats`` times (ours
first; the best run of each side counts, and the pair ratios show the machine's drift)::

    python benchmarks/dense_gradient.py
    python benchmarks/dense_gradient.py --rows ippo_ff pqn --seeds 8 --repeats 6
"""
from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jaxmarl_lite import parallel  # noqa: E402
from bench_utils import LOOP_ROWS, results_name  # noqa: E402

def parse_args() -> argparse.Namespace:
    from jaxmarl_lite.cli import count

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", nargs="+", choices=list(LOOP_ROWS),
                        default=["qmix", "mappo_gru", "ippo_ff", "mappo_ff_1024", "pqn"])
    parser.add_argument("--seeds", type=count(1), default=1)
    parser.add_argument("--repeats", type=count(1), default=4)
    parser.add_argument("--devices", type=count(1), default=None,
                        help="CPU devices (default: one per core)")
    parser.add_argument("--name", type=results_name, default="dense_gradient",
                        help="results file name in benchmarks/results")
    return parser.parse_args()


ARGS = parse_args() if __name__ == "__main__" else None
parallel.use_cpu_devices(ARGS.devices if ARGS else None)  # before JAX starts

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import numpy as np  # noqa: E402

from bench_utils import (loop_config, loop_env_steps, markdown_table,  # noqa: E402
                         placement_label, prepare_placed, reproduce_command, side_by_side,
                         write_result)

import jaxmarl_lite as jl  # noqa: E402
from jaxmarl_lite.algorithms._common import networks  # noqa: E402

PLACED: dict = {}  # row -> placement label


def flax_dense(features: int, scale: float = np.sqrt(2.0)) -> nn.Dense:
    """``networks.dense`` without its kernel gradient: flax's ``nn.Dense``, same init."""
    return nn.Dense(features, kernel_init=networks.orthogonal(scale),
                    bias_init=nn.initializers.zeros)


@contextlib.contextmanager
def dense_layers(factory):
    """Every package module that builds layers with ``networks.dense`` uses ``factory``
    while the loop is traced and compiled."""
    default = networks.dense
    modules = [m for n, m in list(sys.modules.items())
               if n.startswith("jaxmarl_lite") and getattr(m, "dense", None) is default]
    for m in modules:
        m.dense = factory
    try:
        yield
    finally:
        for m in modules:
            m.dense = default


def loop(factory):
    def build(name, steps, seeds, _):
        module, cfg = loop_config(name, steps)
        env = jl.make("simple_spread")
        with dense_layers(factory):
            stages = module.make_stages(cfg, env)
            compile_s, run, placement = prepare_placed(
                stages, jax.random.split(jax.random.key(0), seeds), cfg.num_envs)
        PLACED[name] = placement_label(placement)
        return compile_s, run, loop_env_steps(stages, cfg, env, seeds)

    return build


def main():
    args = ARGS
    records, rows = [], []
    for name in args.rows:
        steps = LOOP_ROWS[name][3]
        rec = side_by_side(loop(networks.dense), lambda _, *a: loop(flax_dense)(*a), "flax",
                           name, steps, args.seeds, 0, args.repeats)
        rec["row"], rec["placement"] = name, PLACED[name]
        for key in ("sps", "compile_s", "runs_s"):  # the reference side is flax's Dense
            rec[f"flax_{key}"] = rec.pop(f"jaxmarl_{key}")
        pairs = rec["pair_ratios"]
        records.append(rec)
        rows.append([name, rec["placement"], f"{rec['ours_sps']:,.0f}",
                     f"{rec['flax_sps']:,.0f}", f"{rec['ratio']:.2f}x",
                     f"{min(pairs):.2f}-{max(pairs):.2f}x"])
        print(rows[-1], flush=True)
    table = markdown_table([f"loop ({args.seeds} seed{'s' * (args.seeds > 1)})", "placement",
                            "networks.dense", "flax nn.Dense", "ratio", "pairs"], rows)
    command = reproduce_command("dense_gradient.py")
    md = (f"# Dense layers' kernel gradient: ours vs autodiff's\n\n{table}\n\nEnv-steps/s (all "
          f"seeds), best of {args.repeats} alternating runs per side after compiling both "
          f"(simple_spread, JaxMARL's settings). Reproduce: `{command}`\n")
    print(md)
    write_result(args.name, {"records": records, "command": command}, md)


if __name__ == "__main__":
    main()
