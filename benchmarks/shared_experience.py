"""Shared experience: replay for IQL, and SEAC vs independent actor-critics, on the grid worlds.

IQL with per-agent networks (``parameter_sharing=False``), with and without
``shared_experience`` (every network learns from all agents' transitions: each sampled
episode assigns networks to agent slots by a random permutation), beside IQL with one shared
network (``parameter_sharing=True``, which learns from every agent's transitions by
construction). Per-agent rewards: ``grid_goal`` (+1 to each agent on arriving at the goal;
optimum team return 1) and ``grid_meet`` (+10 each when they meet, -1 per step; optimum 7).

Then SEAC (``seac``) beside the same actor-critic without shared experience
(``seac_lambda=0``: IA2C) and IPPO at equal env steps, on a larger ``grid_goal`` (8 x 8,
random starts, 30-step limit).

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
from jaxmarl_lite.algorithms import get, iql  # noqa: E402
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
AC_TASK = ("grid_goal", dict(size=8, goal=(7, 7), random_starts=True, max_steps=30), 1.0)


def runs(args):
    """``(task, env kwargs, optimum, label, algo, config)`` of every run."""
    steps = scaled(args.steps, args.scale)
    for task, (kwargs, optimum) in TASKS.items():
        for variant, opts in VARIANTS.items():
            yield task, kwargs, optimum, f"IQL, {variant}", "iql", iql.PRESETS["grid_quick"].replace(
                total_timesteps=steps, eval_every=args.eval_every, recurrent=False, **opts)
    task, kwargs, optimum = AC_TASK
    ac_steps = scaled(args.ac_steps, args.scale)
    seac = get("seac").PRESETS["grid_quick"].replace(total_timesteps=ac_steps, eval_every=20)
    yield task + " 8x8", kwargs, optimum, "SEAC", "seac", seac
    yield task + " 8x8", kwargs, optimum, "IA2C (SEAC with seac_lambda=0)", "seac", \
        seac.replace(seac_lambda=0.0)
    ippo = get("ippo")
    yield task + " 8x8", kwargs, optimum, "IPPO", "ippo", ippo.PRESETS["grid_quick"].replace(
        total_timesteps=ac_steps, eval_every=5, parameter_sharing=False)


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
    table = markdown_table(["task", "method", "env steps to the optimum per seed",
                            "seeds at optimum", "median steps (all reached)",
                            "final greedy return (± 95% CI)", "run s"], rows)
    return (f"# Shared experience: replay for IQL, SEAC vs independent actor-critics\n\n{table}\n"
            f"{args.seeds} seeds from `{KEYS}`. IQL: budget {scaled(args.steps, args.scale):,} "
            "env steps per seed, `grid_quick` preset (feed-forward here: `recurrent=False`), "
            f"greedy evaluation every {args.eval_every} updates of 16 episodes (16 x 20 env "
            "steps), 32 episodes each; grid_goal: 6 x 6, goal (5, 5), random starts; "
            "grid_meet: 5 x 5 from opposite corners. Actor-critics: budget "
            f"{scaled(args.ac_steps, args.scale):,} env steps per seed; SEAC and IA2C: the "
            "`grid_quick` preset of `seac` (16 envs x 8 steps, Adam 3e-3, per-agent networks), "
            "evaluated every 20 updates (2,560 env steps); IPPO: its `grid_quick` preset with "
            "per-agent networks, evaluated every 5 updates (2,560 env steps). Configs in the "
            "JSON.\n\n"
            f"Reproduce: `{args.command}`\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=8)
    p.add_argument("--scale", type=float, default=1.0, help="multiply the budget")
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--eval-every", type=int, default=5)
    p.add_argument("--ac-steps", type=int, default=300_000)
    args = p.parse_args()
    args.command = " ".join(["python benchmarks/shared_experience.py"] + sys.argv[1:])
    custom = any(v != p.get_default(k) for k, v in vars(args).items() if k != "command")
    name = "shared_experience" + ("_custom" if custom else "")
    record: dict = {}
    t_start = time.perf_counter()
    for task, kwargs, optimum, variant, algo, cfg in runs(args):
        env = jl.make(task.split(" ")[0], **kwargs)
        out, compile_s, run_s = train(algo, cfg, env, args.seeds)
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
