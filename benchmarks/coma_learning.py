"""COMA's learning results: grid_meet to the optimum, and COMA vs MAPPO on the climbing game.

Every run trains ``--seeds`` seeds at once (``jax.jit(jax.vmap(train))``) from keys fixed in
advance, ``jax.random.split(jax.random.key(0), seeds)``; every seed's final greedy return
(the algorithm's own ``eval_return`` after its last update) is reported with the mean and a
95% t-interval over seeds, beside a uniformly random policy.

* ``grid_meet`` (5 x 5, two agents from opposite corners, +10 each when they share a cell,
  -1 per step otherwise, 20-step limit): optimum team return 7 (meeting in 4 steps).
* ``simple_spread`` (3 agents, 25 steps): COMA (PyMARL's learning rates, TD(lambda) 0.8,
  feed-forward actors here) and MAPPO (Yu et al.'s MPE settings, feed-forward) at equal
  env steps.
* ``climbing_game`` (Claus & Boutilier 1998, 10 repeated plays, shared payoff
  ``[[11, -30, 0], [-30, 7, 6], [0, 0, 5]]``): the optimum (a, a) pays 11 per play, 110 per
  episode; the safe (c, c) 50; credit assignment decides which one a method finds.

    python benchmarks/coma_learning.py
    python benchmarks/coma_learning.py --scale 0.1   # a quick smoke run

Writes ``results/coma_learning.{json,md}`` (``_custom`` for non-default options).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from bench_utils import markdown_table, write_result  # noqa: E402
from interop_learning import KEYS, fmt, random_stats, record_run, scaled  # noqa: E402

import jaxmarl_lite as jl  # noqa: E402
from jaxmarl_lite.algorithms import get  # noqa: E402


def runs(args):
    """``(task, env, algo, config)`` of every run, budgets scaled."""
    coma, mappo = get("coma"), get("mappo")
    meet = scaled(args.meet_steps, args.scale)
    climb = scaled(args.climb_steps, args.scale)
    quick = dict(num_envs=16, num_steps=32)
    yield ("grid_meet", jl.make("grid_meet"), "coma",
           coma.PRESETS["grid_quick"].replace(total_timesteps=meet, ent_coef=args.meet_ent_coef,
                                              actor_lr=args.meet_actor_lr, eval_every=20))
    climbing = jl.make("climbing_game")
    yield ("climbing_game", climbing, "coma",
           coma.Config(**quick, total_timesteps=climb, actor_lr=3e-3, critic_lr=3e-3,
                       ent_coef=0.01, eval_every=10, eval_episodes=16))
    yield ("climbing_game", climbing, "mappo",
           mappo.Config(**quick, total_timesteps=climb, lr=3e-3, update_epochs=4,
                        num_minibatches=2, ent_coef=0.01, eval_every=10, eval_episodes=16))
    spread_steps = scaled(args.spread_steps, args.scale)
    if args.spread_steps > 0:
        spread = jl.make("simple_spread")
        mpe = dict(num_envs=16, num_steps=25, hidden_size=64, total_timesteps=spread_steps,
                   eval_every=40, eval_episodes=64)
        yield ("simple_spread", spread, "coma",
               coma.Config(**mpe, actor_lr=5e-4, critic_lr=5e-4, td_lambda=0.8, ent_coef=0.01,
                           target_update_every=12, critic_epochs=1))
        yield ("simple_spread", spread, "mappo",
               mappo.Config(**mpe, lr=7e-4, update_epochs=10, num_minibatches=1,
                            activation="relu", anneal_lr=False))


def render(args, record) -> str:
    rows = []
    for key, r in record.items():
        if key.startswith("random/"):
            continue
        task = key.split("/")[0]
        rand = record[f"random/{task}"]
        rows.append([task, r["algo"], f"{r['budget']:,}", ", ".join(f"{x:.1f}" for x in r["final"]),
                     f"**{fmt(r['mean'], r['ci95'])}**", fmt(rand["mean"], rand["ci95"]),
                     f"{r['run_s'] + r['compile_s']:.0f} ({r['compile_s']:.0f})"])
    table = markdown_table(["task", "algo", "env steps / seed", "final greedy return per seed",
                            "mean ± 95% CI", "random (± 95% CI)", "wall s (compile)"], rows)
    meet = record.get("grid_meet/coma")
    lines = []
    if meet:
        hit = sum(x >= 7 for x in meet["final"])
        c = meet["config"]
        lines.append(
            f"* grid_meet: {hit} of {len(meet['final'])} seeds reach the optimum 7 (COMA "
            f"`grid_quick` preset with entropy weight {c['ent_coef']} and actor learning rate "
            f"{c['actor_lr']:g})" + ("." if hit == len(meet["final"]) else
                                     "; the others stop at a local optimum their greedy "
                                     "policies keep (return 3: meeting in 8 steps, not 4).")
            + " Chosen on other keys (`split(key(1), 8)`, 400k steps) before this run: the "
            "preset as is (entropy 0.05, actor lr 3e-3) reached 7 on 1 of 8 of those seeds "
            "(6 of 8 of these), entropy 0.1 on 5, entropy 0.1 with actor lr 1e-3 on 8, "
            "entropy 0.2 on 8; the others met in 8 steps (return 3).")
    climb = {a: record.get(f"climbing_game/{a}") for a in ("coma", "mappo")}
    if all(climb.values()):
        lines.append("* climbing_game: per episode, the optimum (a, a) pays 110, (b, b) 70 and the "
                     "safe (c, c) 50; "
                     + "; ".join(f"{a.upper()} ends at {np.mean(r['final']):.0f}"
                                 for a, r in climb.items())
                     + " (neither finds the optimum at this budget).")
    spread = {a: record.get(f"simple_spread/{a}") for a in ("coma", "mappo")}
    if all(spread.values()):
        lines.append(f"* simple_spread: COMA {fmt(spread['coma']['mean'], spread['coma']['ci95'])} "
                     f"vs MAPPO {fmt(spread['mappo']['mean'], spread['mappo']['ci95'])} at "
                     f"{spread['coma']['budget']:,} env steps (feed-forward actors both).")
    return (f"# COMA learning results\n\n{table}\n"
            f"{args.seeds} seeds from `{KEYS}`, trained at once (`jax.jit(jax.vmap(train))`); "
            "final greedy return = the algorithm's own `eval_return` after its last update; "
            f"random = uniformly random actions over {args.random_episodes} episodes. "
            "Configs in the JSON.\n\n" + "\n".join(lines) + f"\n\nReproduce: `{args.command}`\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=8)
    p.add_argument("--scale", type=float, default=1.0, help="multiply every budget")
    p.add_argument("--random-episodes", type=int, default=512)
    p.add_argument("--meet-steps", type=int, default=400_000)
    p.add_argument("--meet-ent-coef", type=float, default=0.1)
    p.add_argument("--meet-actor-lr", type=float, default=1e-3)
    p.add_argument("--climb-steps", type=int, default=100_000)
    p.add_argument("--spread-steps", type=int, default=500_000, help="0 skips simple_spread")
    args = p.parse_args()
    args.command = " ".join(["python benchmarks/coma_learning.py"] + sys.argv[1:])
    custom = any(v != p.get_default(k) for k, v in vars(args).items() if k != "command")
    name = "coma_learning" + ("_custom" if custom else "")
    record: dict = {}
    t_start = time.perf_counter()
    for task, env, algo, cfg in runs(args):
        if f"random/{task}" not in record:
            record[f"random/{task}"] = random_stats(env, args.random_episodes)
        _, record[f"{task}/{algo}"] = record_run(algo, cfg, env, args.seeds)
        md = render(args, record)
        write_result(name, dict(command=args.command, seeds=args.seeds, keys=KEYS,
                                wall_s=time.perf_counter() - t_start, results=record),
                     md + f"\nTotal wall time {time.perf_counter() - t_start:.0f} s.\n")
    print(md)


if __name__ == "__main__":
    main()
