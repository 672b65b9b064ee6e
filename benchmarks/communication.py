"""Learned communication vs none: MAPPO, VDN and QMIX on a grid_meet where agents see only
themselves.

``grid_meet`` with ``observe_others=False`` and random starts: each agent observes only its
own position, so meeting quickly needs to know where the other is. Each algorithm
(``--algos``; its ``grid_quick`` preset: MAPPO feed-forward with a shared actor, VDN/QMIX
with their recurrent shared Q-network) with ``comm="none"``, ``"mean"`` (CommNet) and
``"attention"`` (TarMAC) at equal env steps, ``--seeds`` seeds from keys fixed in advance,
``jax.random.split(jax.random.key(0), seeds)``; final greedy return per seed, mean and 95%
t-interval, beside a random policy and the same algorithm on the fully observed task (the
ceiling).

    python benchmarks/communication.py

Writes ``results/communication.{json,md}`` (``_custom`` for non-default options).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_utils import markdown_table, write_result  # noqa: E402
from interop_learning import KEYS, fmt, random_stats, record_run, scaled  # noqa: E402

import jaxmarl_lite as jl  # noqa: E402
from jaxmarl_lite.algorithms import get  # noqa: E402

ALGOS = ("mappo", "vdn", "qmix")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=8)
    p.add_argument("--steps", type=int, default=200_000)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--algos", nargs="+", choices=ALGOS, default=list(ALGOS))
    args = p.parse_args()
    command = " ".join(["python benchmarks/communication.py"] + sys.argv[1:])
    custom = any(v != p.get_default(k) for k, v in vars(args).items())
    name = "communication" + ("_custom" if custom else "")
    hidden = jl.make("grid_meet", observe_others=False, random_starts=True)
    full = jl.make("grid_meet", random_starts=True)
    budget = scaled(args.steps, args.scale)
    t0 = time.perf_counter()
    record = {"random": random_stats(hidden, 512)}
    rows = []
    for algo in args.algos:
        base = get(algo).PRESETS["grid_quick"].replace(total_timesteps=budget)
        for label, env, comm in (("own position only", hidden, "none"),
                                 ("own position only", hidden, "mean"),
                                 ("own position only", hidden, "attention"),
                                 ("every position (ceiling)", full, "none")):
            _, r = record_run(algo, base.replace(comm=comm), env, args.seeds)
            record[f"{algo}/{label}/{comm}"] = r
            rows.append([algo, label, comm, f"{r['budget']:,}",
                         ", ".join(f"{x:.1f}" for x in r["final"]),
                         f"**{fmt(r['mean'], r['ci95'])}**",
                         f"{r['run_s'] + r['compile_s']:.0f}"])
    rand = record["random"]
    md = ("# Learned communication vs none (grid_meet with random starts)\n\n"
          + markdown_table(["algo", "observation", "comm", "env steps / seed",
                            "final greedy return per seed", "mean ± 95% CI", "wall s"], rows)
          + f"\n{args.seeds} seeds from `{KEYS}`, trained at once; random policy "
          f"{fmt(rand['mean'], rand['ci95'])}. Each algorithm's `grid_quick` preset (MAPPO: "
          "16 envs x 32 steps, feed-forward, shared actor with agent ids; VDN/QMIX: 16 envs, "
          "recurrent shared Q-network with agent ids, replay); `comm_dim` 16, one round. The "
          "optimum depends on the start cells (random here); the fully observed row is the "
          f"ceiling without any need to communicate.\n\nReproduce: `{command}`\n")
    write_result(name, dict(command=command, seeds=args.seeds, keys=KEYS,
                            wall_s=time.perf_counter() - t0, results=record),
                 md + f"\nTotal wall time {time.perf_counter() - t0:.0f} s.\n")
    print(md)


if __name__ == "__main__":
    main()
