"""Shared experience replay vs plain IQL: sample efficiency on the grid worlds.

IQL with per-agent networks (``parameter_sharing=False``), with and without
``shared_experience`` (every network learns from all agents' transitions: each sampled
episode assigns networks to agent slots by a random permutation), beside IQL with one shared
network (``parameter_sharing=True``, which learns from every agent's transitions by
construction). Per-agent rewards: ``grid_goal`` (+1 to each agent on arriving at the goal;
optimum team return 1) and ``grid_meet`` (+10 each when they meet, -1 per step; optimum 7).

Every config trains ``--seeds`` seeds at once from keys fixed in advance,
``jax.random.split(jax.random.key(0), seeds)``; the greedy policy is evaluated every
``eval_every`` updates. Reported per seed: the env steps of the first evaluation at the
optimum (``-`` if never), and the final greedy return.

    python benchmarks/shared_experience.py
    python benchmarks/shared_experience.py --scale 0.2   # a quick smoke run

Writes ``results/shared_experience.{json,md}`` (``_custom`` for non-default options).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_utils import markdown_table, write_result  # noqa: E402
from interop_learning import KEYS, fmt, scaled, train  # noqa: E402

import jaxmarl_lite as jl  # noqa: E402
from jaxmarl_lite.algorithms import iql  # noqa: E402
from jaxmarl_lite.stats import mean_ci  # noqa: E402

TASKS = {  # name -> (env kwargs, optimum team return)
    "grid_goal": (dict(size=6, goal=(5, 5), random_starts=True), 1.0),
    "grid_meet": (dict(), 7.0),
}
VARIANTS = {
    "per-agent networks": dict(parameter_sharing=False, shared_experience=False),
    "per-agent networks + shared experience": dict(parameter_sharing=False,
                                                   shared_experience=True),
    "one shared network": dict(parameter_sharing=True, shared_experience=False),
}


def steps_to(curve_steps, curve, optimum) -> list:
    """Per seed: env steps of the first evaluation reaching ``optimum`` (None if never)."""
    out = []
    for steps, ret in zip(curve_steps, curve):
        hit = np.flatnonzero(np.nan_to_num(ret, nan=-np.inf) >= optimum - 1e-6)
        out.append(float(steps[hit[0]]) if len(hit) else None)
    return out


def render(args, record) -> str:
    rows = []
    for key, r in record.items():
        task, variant = key.split("/")
        reached = [s for s in r["steps_to_optimum"] if s is not None]
        median = f"{np.median(reached):,.0f}" if len(reached) == len(r["steps_to_optimum"]) \
            else "-"
        rows.append([task, variant, ", ".join("-" if s is None else f"{s / 1000:.0f}k"
                                               for s in r["steps_to_optimum"]),
                     f"{len(reached)}/{len(r['steps_to_optimum'])}", median,
                     f"**{fmt(r['mean'], r['ci95'])}**", f"{r['run_s']:.0f}"])
    table = markdown_table(["task", "IQL", "env steps to the optimum per seed",
                            "seeds at optimum", "median steps (all reached)",
                            "final greedy return (± 95% CI)", "run s"], rows)
    return (f"# Shared experience replay vs plain IQL\n\n{table}\n"
            f"{args.seeds} seeds from `{KEYS}`; budget {scaled(args.steps, args.scale):,} env "
            f"steps per seed; IQL `grid_quick` preset (feed-forward here: `recurrent=False`), "
            f"greedy evaluation every {args.eval_every} updates of 16 episodes (16 x 20 env "
            "steps), 32 episodes each. grid_goal: 6 x 6, goal (5, 5), random starts; "
            "grid_meet: 5 x 5 from opposite corners.\n\n"
            f"Reproduce: `{args.command}`\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=8)
    p.add_argument("--scale", type=float, default=1.0, help="multiply the budget")
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--eval-every", type=int, default=5)
    args = p.parse_args()
    args.command = "python benchmarks/shared_experience.py " + " ".join(sys.argv[1:])
    custom = any(v != p.get_default(k) for k, v in vars(args).items() if k != "command")
    name = "shared_experience" + ("_custom" if custom else "")
    record: dict = {}
    t_start = time.perf_counter()
    for task, (kwargs, optimum) in TASKS.items():
        env = jl.make(task, **kwargs)
        for variant, opts in VARIANTS.items():
            cfg = iql.PRESETS["grid_quick"].replace(
                total_timesteps=scaled(args.steps, args.scale), eval_every=args.eval_every,
                recurrent=False, **opts)
            out, compile_s, run_s = train("iql", cfg, env, args.seeds)
            m = jax.device_get(out.metrics)
            final = np.asarray(m["eval_return"][:, -1], np.float64)
            mean, half = mean_ci(final)
            rec = dict(config=cfg.to_dict(), env_kwargs=kwargs, optimum=optimum,
                       final=final.tolist(), mean=float(mean), ci95=float(half),
                       steps_to_optimum=steps_to(m["env_steps"], m["eval_return"], optimum),
                       compile_s=compile_s, run_s=run_s,
                       curve=dict(env_steps=np.asarray(m["env_steps"][0]).tolist(),
                                  eval_return=np.asarray(m["eval_return"]).tolist()))
            record[f"{task}/{variant}"] = rec
            print(task, variant, rec["steps_to_optimum"], final, flush=True)
            md = render(args, record)
            write_result(name, dict(command=args.command, seeds=args.seeds, keys=KEYS,
                                    wall_s=time.perf_counter() - t_start, results=record),
                         md + f"\nTotal wall time {time.perf_counter() - t_start:.0f} s.\n")
    print(md)


if __name__ == "__main__":
    main()
