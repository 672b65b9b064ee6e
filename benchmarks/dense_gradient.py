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

``--forms`` times the kernel gradient's forms alone instead (each of
``networks.KERNEL_GRAD_FORMS`` that applies, on the layer shapes of those loops and a few
edges of the rule, one CPU device; ``jax.lax.fori_loop`` of 100 calls, best of
``--repeats`` alternating runs), to check :func:`networks.kernel_grad_form`'s rule on
another machine::

    python benchmarks/dense_gradient.py --forms --name dense_gradient_forms
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import time
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
    parser.add_argument("--forms", action="store_true",
                        help="time the kernel gradient's forms alone (not the loops)")
    parser.add_argument("--name", type=results_name, default="dense_gradient",
                        help="results file name in benchmarks/results")
    return parser.parse_args()


ARGS = parse_args() if __name__ == "__main__" else None
parallel.use_cpu_devices(1 if ARGS and ARGS.forms else ARGS.devices if ARGS else None)

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from bench_utils import (loop_config, loop_env_steps, markdown_table,  # noqa: E402
                         placement_label, prepare_placed, publish_table, side_by_side)

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
        module, cfg, env = loop_config(name, steps)
        with dense_layers(factory):
            stages = module.make_stages(cfg, env)
            compile_s, run, placement = prepare_placed(
                stages, jax.random.split(jax.random.key(0), seeds), cfg.num_envs)
        PLACED[name] = placement_label(placement)
        return compile_s, run, loop_env_steps(stages, cfg, env, seeds)

    return build


# rows x inputs x outputs of the loops' layers (minibatch rows at JaxMARL's settings) and
# edges of the rule
FORM_SHAPES = {
    "IPPO-FF input / hidden / policy head (1536 rows)": [(1536, 18, 64), (1536, 64, 64),
                                                        (1536, 64, 5)],
    "PQN input / hidden / head (768 rows)": [(768, 21, 256), (768, 256, 256), (768, 256, 5)],
    "QMIX agent input / head (2496 rows)": [(2496, 21, 64), (2496, 64, 5)],
    "edges": [(6144, 64, 5), (4096, 64, 64), (1024, 64, 128), (768, 64, 64)],
}


def time_form(form, x, g, calls: int = 100):
    """Seconds per call of ``form(x, g)`` in a compiled loop of ``calls`` calls (each call's
    input depends on the previous result, so none is hoisted or skipped)."""
    @jax.jit
    def many(x, g):
        def body(_, acc):
            return acc + form(x + acc[0, 0] * 0.0, g)
        return jax.lax.fori_loop(0, calls, body, jnp.zeros((x.shape[1], g.shape[1])))

    jax.block_until_ready(many(x, g))

    def run():
        t0 = time.perf_counter()
        jax.block_until_ready(many(x, g))
        return (time.perf_counter() - t0) / calls

    return run


def main_forms(args):
    names = list(networks.KERNEL_GRAD_FORMS)
    records, rows = [], []
    for group, shapes in FORM_SHAPES.items():
        for rows_, d, k in shapes:
            x = jax.random.normal(jax.random.key(0), (rows_, d))
            g = jax.random.normal(jax.random.key(1), (rows_, k))
            runs = {n: time_form(f, x, g)
                    for n, f in networks.kernel_grad_forms_for(rows_).items()}
            best = {n: float("inf") for n in runs}
            for _ in range(args.repeats):
                for n, run in runs.items():
                    best[n] = min(best[n], run())
            chosen = networks.kernel_grad_form(rows_, d, k)
            rec = dict(group=group, shape=[rows_, d, k], chosen=chosen,
                       us={n: t * 1e6 for n, t in best.items()})
            records.append(rec)
            rows.append([group, f"[{rows_}, {d}]^T [{rows_}, {k}]", chosen,
                         *[f"{rec['us'][n]:.1f}" if n in rec["us"] else "-" for n in names],
                         f"{best['product'] / best[chosen]:.2f}x"])
            print(rows[-1], flush=True)
    table = markdown_table(["layers", "x^T g", "CPU form", *[f"{n} us" for n in names],
                            "chosen vs product"], rows)
    publish_table(args.name, "dense_gradient.py",
                  "Dense layers' kernel gradient: its forms alone", table,
                  f"Microseconds per call, best of {args.repeats} alternating runs of 100 "
                  "calls each, one CPU device.", records)


def main():
    args = ARGS
    if args.forms:
        return main_forms(args)
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
    publish_table(args.name, "dense_gradient.py", "Dense layers' kernel gradient: ours vs "
                  "autodiff's", table, f"Env-steps/s (all seeds), best of {args.repeats} "
                  "alternating runs per side after compiling both (simple_spread, JaxMARL's "
                  "settings).", records)


if __name__ == "__main__":
    main()
