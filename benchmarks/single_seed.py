"""One seed: the loop as the CLI runs it (the update unbatched) beside ``jax.vmap(train)``
over one key (the same update under a batch axis of size 1), side by side in one process.

A carry of one seed runs the update without the seeds vmap
(:func:`jaxmarl_lite.algorithms._common.training.vmapped_update`): XLA:CPU compiles a
size-1 batch axis into slower programs (PQN's LayerNorm gradients most of all). Both sides
are the same algorithm with the same key on one CPU device; they differ only in float
rounding. Each row compiles both, then runs them alternately ``--repeats`` times (best
counts), with the settings of the JaxMARL comparisons::

    python benchmarks/single_seed.py
    python benchmarks/single_seed.py --rows qmix pqn --repeats 3
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jaxmarl_lite import parallel  # noqa: E402

parallel.use_cpu_devices(1)  # before JAX starts: one seed on one device, both sides

import jax  # noqa: E402

from bench_utils import (markdown_table, prepare_compiled, prepare_placed,  # noqa: E402
                         reproduce_command, results_name, side_by_side, write_result)

import jaxmarl_lite as jl  # noqa: E402
from jaxmarl_lite.algorithms import get  # noqa: E402
from jaxmarl_lite.algorithms._common.training import init_seeds, run_updates  # noqa: E402

ROWS = {  # name: (algorithm, preset, overrides, env steps)
    "qmix": ("qmix", "jaxmarl_ql_rnn_mpe", {}, 100_000),
    "vdn": ("vdn", "jaxmarl_ql_rnn_mpe", {}, 100_000),
    "iql": ("iql", "jaxmarl_ql_rnn_mpe", {}, 100_000),
    "mappo_gru": ("mappo", "jaxmarl_mappo_rnn_mpe", {}, 40_960),
    "ippo_ff": ("ippo", "jaxmarl_ippo_ff_mpe", {}, 204_800),
    "mappo_ff_1024": ("mappo", None, dict(critic="agent_specific", num_envs=1024,
                                          num_steps=128, hidden_size=128), 262_144),
    "pqn": ("pqn", "jaxmarl_pqn_vdn_ff_mpe", {}, 65_536),
}


def config(name: str, steps: int):
    algo, preset, overrides, _ = ROWS[name]
    module = get(algo)
    cfg = module.PRESETS[preset] if preset else module.Config()
    return module, cfg.replace(total_timesteps=steps, eval_every=10**9, **overrides)


def unbatched(name, steps, seeds, num_envs):
    module, cfg = config(name, steps)
    stages = module.make_stages(cfg, jl.make("simple_spread"))
    compile_s, run, _ = prepare_placed(stages, jax.random.split(jax.random.key(0), 1),
                                       cfg.num_envs, devices=1)
    return compile_s, run, env_steps(stages, cfg)


def vmapped(_, name, steps, seeds, num_envs):
    module, cfg = config(name, steps)
    stages = module.make_stages(cfg, jl.make("simple_spread"))
    carry = init_seeds(stages, jax.random.split(jax.random.key(0), 1))
    compile_s, run = prepare_compiled(
        jax.vmap(lambda c: run_updates(stages, c, stages.num_updates)), carry)
    return compile_s, run, env_steps(stages, cfg)


def env_steps(stages, cfg) -> int:
    per_update = getattr(cfg, "num_steps", None) or jl.make("simple_spread").max_episode_steps
    return stages.num_updates * cfg.num_envs * per_update


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--name", type=results_name, default="single_seed_unbatched",
                        help="results file name in benchmarks/results")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    records, rows = [], []
    for name in args.rows:
        steps = ROWS[name][3]
        rec = side_by_side(unbatched, vmapped, "vmap", name, steps, 1, 0, args.repeats)
        rec["row"] = name
        for key in ("sps", "compile_s", "runs_s"):  # the reference side is the size-1 vmap
            rec[f"vmapped_{key}"] = rec.pop(f"jaxmarl_{key}")
        records.append(rec)
        rows.append([name, f"{steps:,}", f"{rec['ours_sps']:,.0f}", f"{rec['vmapped_sps']:,.0f}",
                     f"{rec['ratio']:.2f}x"])
        print(rows[-1], flush=True)
    table = markdown_table(["loop (1 seed, 1 CPU device)", "env steps", "unbatched (CLI)",
                            "jax.vmap(train), 1 key", "ratio"], rows)
    command = reproduce_command("single_seed.py")
    md = (f"# One seed: unbatched update vs a size-1 vmap\n\n{table}\n\nEnv-steps/s, best of "
          f"{args.repeats} alternating runs per side after compiling both. "
          f"Reproduce: `{command}`\n")
    print(md)
    write_result(args.name, {"records": records, "command": command}, md)


if __name__ == "__main__":
    main()
