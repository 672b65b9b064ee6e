"""One seed per device: the loop as the CLI runs it (each seed's update unbatched) beside the
same seeds under the seeds vmap (a batch axis of size 1 per device), side by side in one
process.

A seed alone on its device runs the update without the seeds vmap
(:func:`jaxmarl_lite.algorithms._common.training.vmapped_update`; with several devices a
per-device program, :func:`jaxmarl_lite.parallel.compile_updates`): XLA:CPU compiles a
size-1 batch axis into slower programs (PQN's LayerNorm gradients most of all). With
``--seeds 1`` (default) the reference is ``jax.vmap(train)`` over one key on one CPU device;
with ``--seeds N`` it is the N seeds on N CPU devices as XLA's partitioner runs
``jax.vmap(train)`` over them. Both sides are the same algorithm with the same keys; they
differ only in float rounding. Each row compiles both, then runs them alternately
``--repeats`` times (best counts), with the settings of the JaxMARL comparisons::

    python benchmarks/single_seed.py
    python benchmarks/single_seed.py --rows qmix pqn --repeats 3
    python benchmarks/single_seed.py --seeds 2 --name seed_per_device_2
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jaxmarl_lite import parallel  # noqa: E402
from bench_utils import LOOP_ROWS as ROWS, results_name  # noqa: E402

def parse_args() -> argparse.Namespace:
    """Parsed first: ``--seeds`` decides the CPU device count, fixed before JAX starts."""
    from jaxmarl_lite.cli import count

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    parser.add_argument("--repeats", type=count(1), default=2)
    parser.add_argument("--seeds", type=count(1), default=1,
                        help="seeds, one per CPU device (1: one seed on one device)")
    parser.add_argument("--name", type=results_name, default="single_seed_unbatched",
                        help="results file name in benchmarks/results")
    return parser.parse_args()


ARGS = parse_args() if __name__ == "__main__" else None  # imported: one device
parallel.use_cpu_devices(ARGS.seeds if ARGS else 1)  # one device per seed, both sides

import jax  # noqa: E402

from bench_utils import (loop_config, loop_env_steps, markdown_table,  # noqa: E402
                         prepare_compiled, prepare_placed, publish_table, side_by_side)

from jaxmarl_lite.algorithms._common.training import (TrainResult, init_seeds,  # noqa: E402
                                                      run_updates, run_updates_seeds)


def unbatched(name, steps, seeds, num_envs):
    module, cfg, env = loop_config(name, steps)
    stages = module.make_stages(cfg, env)
    compile_s, run, _ = prepare_placed(stages, jax.random.split(jax.random.key(0), seeds),
                                       cfg.num_envs, devices=seeds, shard="seeds")
    return compile_s, run, loop_env_steps(stages, cfg, env, seeds)


def vmapped(_, name, steps, seeds, num_envs):
    module, cfg, env = loop_config(name, steps)
    stages = module.make_stages(cfg, env)
    carry = init_seeds(stages, jax.random.split(jax.random.key(0), seeds))
    if seeds == 1:
        compile_s, run = prepare_compiled(
            jax.vmap(lambda c: run_updates(stages, c, stages.num_updates)), carry)
        return compile_s, run, loop_env_steps(stages, cfg, env, seeds)
    placement = parallel.make_placement(seeds, cfg.num_envs, seeds, "seeds")
    carry = parallel.place(carry, placement)
    sharding = placement.shardings(carry)
    with jax.set_mesh(placement.mesh):  # the partitioned vmap (a size-1 local seed axis)
        fn = jax.jit(lambda c: run_updates_seeds(stages, c, stages.num_updates),
                     in_shardings=(sharding,),
                     out_shardings=TrainResult(sharding, placement.replicated()))
        compile_s, run = prepare_compiled(fn, carry)
    return compile_s, run, loop_env_steps(stages, cfg, env, seeds)


def main():
    args = ARGS
    records, rows = [], []
    for name in args.rows:
        steps = ROWS[name][3]
        rec = side_by_side(unbatched, vmapped, "vmap", name, steps, args.seeds, 0, args.repeats)
        rec["row"] = name
        for key in ("sps", "compile_s", "runs_s"):  # the reference side is the size-1 vmap
            rec[f"vmapped_{key}"] = rec.pop(f"jaxmarl_{key}")
        records.append(rec)
        rows.append([name, f"{steps:,}", f"{rec['ours_sps']:,.0f}", f"{rec['vmapped_sps']:,.0f}",
                     f"{rec['ratio']:.2f}x"])
        print(rows[-1], flush=True)
    n = args.seeds
    where = ("1 seed, 1 CPU device" if n == 1 else f"{n} seeds, one per CPU device")
    reference = ("jax.vmap(train), 1 key" if n == 1 else
                 f"partitioned jax.vmap(train), {n} keys")
    table = markdown_table([f"loop ({where})", "env steps / seed", "unbatched (CLI)", reference,
                            "ratio"], rows)
    publish_table(args.name, "single_seed.py",
                  f"{'One seed' if n == 1 else 'One seed per device'}: unbatched update vs a "
                  "size-1 vmap", table, f"Env-steps/s (all seeds), best of {args.repeats} "
                  "alternating runs per side after compiling both.", records)


if __name__ == "__main__":
    main()
