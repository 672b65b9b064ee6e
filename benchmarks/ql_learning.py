"""Learning quality of IQL, VDN and QMIX, seeds trained in parallel with ``jax.vmap``.

1. ``grid_meet`` (5x5, opposite corners; optimal greedy return 7): every one of 8 seeds
   must reach 7 (greedy evaluation at the end of training).
2. ``simple_spread`` (3 agents, 25 steps, discrete): ``--spread-steps`` env steps per seed
   (default 2M) with JaxMARL's ``ql_rnn_mpe`` settings, >= 4 seeds: final greedy return
   (mean over 512 episodes per seed) as mean and 95% t-interval across seeds, beside a
   uniformly random policy; learning curves to PNG.

    python benchmarks/ql_learning.py                # both parts
    python benchmarks/ql_learning.py --part grid    # the quick part (a few minutes on CPU)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_utils import (RESULTS, markdown_table, random_returns,  # noqa: E402
                         train_and_evaluate, write_result)

import jaxmarl_lite as jl  # noqa: E402
from jaxmarl_lite.algorithms import get  # noqa: E402
from jaxmarl_lite.plotting import plot_curves  # noqa: E402
from jaxmarl_lite.stats import mean_ci  # noqa: E402

ALGOS = ("iql", "vdn", "qmix")
GRID_STEPS = 100_000  # the "grid_quick" preset with twice its budget


def train_seeds(algo: str, cfg, env, seeds: int):
    out = train_and_evaluate(algo, cfg, env, seeds)
    return out.metrics, out.team_return, out.seconds


def random_return(env) -> float:
    return random_returns(env)[0]


def grid_part(seeds: int):
    env = jl.make("grid_meet")
    rows, record, curves = [], {}, {}
    for algo in ALGOS:
        cfg = get(algo).PRESETS["grid_quick"].replace(total_timesteps=GRID_STEPS)
        metrics, final, seconds = train_seeds(algo, cfg, env, seeds)
        record[algo] = dict(final=final.tolist(), seconds=seconds, config=cfg.to_dict())
        solved = int((final >= 7.0 - 1e-6).sum())
        rows.append([algo, f"{solved}/{seeds}", " ".join(f"{v:g}" for v in final), f"{seconds:.0f}"])
        curves[algo] = (np.asarray(metrics["env_steps"][0]), np.asarray(metrics["eval_return"]))
        print(rows[-1], flush=True)
    rand = random_return(env)
    plot_curves(curves, RESULTS / "ql_grid_meet.png", title="grid_meet (8 seeds)",
                ylabel="greedy return", baseline=("random", rand))
    table = markdown_table(["algo", "seeds at optimum (7)", "final greedy return per seed",
                            "wall s (all seeds, incl. compile)"], rows)
    return table + f"\nRandom policy: {rand:.2f}. Budget {GRID_STEPS:,} env steps per seed ('grid_quick' preset otherwise).\n", \
        dict(results=record, random=rand)


def spread_part(seeds: int, steps: int):
    env = jl.make("simple_spread")
    rows, record, curves = [], {}, {}
    rand = random_return(env)
    for algo in ALGOS:
        module = get(algo)
        preset = module.PRESETS["jaxmarl_ql_rnn_mpe"]
        cfg = preset.replace(total_timesteps=steps, eval_every=max(1, steps // 200 // 20),
                             eval_episodes=128)
        metrics, final, seconds = train_seeds(algo, cfg, env, seeds)
        mean, half = mean_ci(final)
        record[algo] = dict(final=final.tolist(), mean=float(mean), ci95=float(half),
                            seconds=seconds, config=cfg.to_dict())
        rows.append([algo, f"{mean:.2f} ± {half:.2f}", f"{rand:.2f}", f"{mean - rand:+.2f}",
                     f"{seconds:.0f}"])
        curves[algo] = (np.asarray(metrics["env_steps"][0]), np.asarray(metrics["eval_return"]))
        print(rows[-1], flush=True)
    plot_curves(curves, RESULTS / "ql_simple_spread.png", ylabel="greedy return",
                title=f"simple_spread, {seeds} seeds, {steps:,} steps/seed", baseline=("random", rand))
    table = markdown_table(["algo", "final greedy return (mean ± 95% CI)", "random policy",
                            "gain", "wall s (all seeds, incl. compile)"], rows)
    return table + f"\n{seeds} seeds x {steps:,} env steps, JaxMARL ql_rnn_mpe settings (gamma 0.9).\n", \
        dict(results=record, random=rand, seeds=seeds, steps=steps)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=["grid", "spread", "all"], default="all")
    parser.add_argument("--grid-seeds", type=int, default=8)
    parser.add_argument("--spread-seeds", type=int, default=4)
    parser.add_argument("--spread-steps", type=int, default=2_000_000)
    args = parser.parse_args()
    if args.part in ("grid", "all"):
        md, payload = grid_part(args.grid_seeds)
        print(md)
        write_result("ql_grid_meet", payload, "# IQL / VDN / QMIX on grid_meet\n\n" + md)
    if args.part in ("spread", "all"):
        md, payload = spread_part(args.spread_seeds, args.spread_steps)
        print(md)
        write_result("ql_simple_spread", payload, "# IQL / VDN / QMIX on simple_spread\n\n" + md)


if __name__ == "__main__":
    main()
