"""Learning quality of MADDPG, MAPPO and IPPO on MPE, seeds trained at once with ``jax.vmap``.

For every (algorithm, task) pair: ``--seeds`` seeds x ``--steps`` env steps each, then each
seed's deterministic policy is evaluated over 512 episodes. Reported: the final team return
(mean over agents) as mean and 95% t-interval across seeds, each team's return on the
competitive tasks (adversaries vs good agents), a uniformly random policy beside it, wall time,
and learning curves (evaluation return, mean and 95% CI over seeds) as PNG per task.

    python benchmarks/mpe_learning.py --algos maddpg mappo --seeds 4 --steps 1000000
    python benchmarks/mpe_learning.py --algos mappo ippo --tasks spread spread_cont --seeds 8 \\
        --name ppo_mpe

Results are written after every (task, algorithm) pair and merged into an existing
``results/<name>.json`` of the same budget, so a long run can be split by ``--tasks``.

MAPPO/IPPO only run on the cooperative tasks (a shared team reward). Presets: MADDPG
``mpe_fast``; MAPPO ``mappo_paper_mpe`` (Yu et al. 2022's MPE settings) with a feed-forward
agent by default (``--ppo-recurrent`` for the GRU); IPPO the same settings with a local
critic (MAPPO and IPPO differ only in the critic's input, as in Yu et al.'s comparison).
JaxMARL's ``ippo_ff_mpe`` settings (preset ``jaxmarl_ippo_ff_mpe``, tuned for discrete
actions) make continuous simple_spread worse than random here, see README.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_utils import (RESULTS, markdown_table, random_returns,  # noqa: E402
                         train_and_evaluate, write_result)

import jaxmarl_lite as jl  # noqa: E402
from jaxmarl_lite.algorithms import get  # noqa: E402
from jaxmarl_lite.algorithms.maddpg import parameter_groups  # noqa: E402
from jaxmarl_lite.plotting import plot_curves  # noqa: E402
from jaxmarl_lite.stats import mean_ci  # noqa: E402

# name -> (env id, env kwargs, cooperative)
TASKS = {
    "spread": ("simple_spread", {}, True),
    "spread_cont": ("simple_spread", {"continuous_actions": True}, True),
    "speaker_listener": ("simple_speaker_listener", {}, True),
    "adversary": ("simple_adversary", {}, False),
    "tag": ("simple_tag", {}, False),
}
PRESETS = {"maddpg": "mpe_fast", "mappo": "mappo_paper_mpe", "ippo": "mappo_paper_mpe"}


def config_for(algo: str, steps: int, recurrent: bool):
    cfg = get(algo).PRESETS[PRESETS[algo]]
    overrides = dict(total_timesteps=steps)
    if algo in ("mappo", "ippo"):
        overrides["recurrent"] = recurrent
    cfg = cfg.replace(**overrides)
    per_update = cfg.num_envs * cfg.num_steps
    return cfg.replace(eval_every=max(1, steps // per_update // 40), eval_episodes=128)


def team_names(env):
    groups = parameter_groups(env, "team")
    names = {}
    for agent, g in zip(env.agents, groups):
        names.setdefault(g, agent.rsplit("_", 1)[0])
    return groups, [names[g] for g in sorted(names)]


def team_returns(agent_returns, env):
    """``[..., N]`` -> ``{team: [...]}`` mean return of each team's agents."""
    groups, names = team_names(env)
    groups = np.asarray(groups)
    return {name: np.asarray(agent_returns)[..., groups == g].mean(-1)
            for g, name in enumerate(names)}


def fmt(mean, half):
    return f"{mean:.2f} ± {half:.2f}"


def row_for(task, algo, entry, rand):
    """One markdown row from a stored ``results[task][algo]`` entry."""
    coop = TASKS[task][2]
    team_cell = "" if coop else "; ".join(
        f"{k} {fmt(m, h)} (random {rand['random_teams'][k]:.2f})"
        for k, (m, h) in entry["teams"].items())
    return [task, algo, fmt(entry["mean"], entry["ci95"]), f"{rand['random']:.2f}",
            f"{entry['mean'] - rand['random']:+.2f}", team_cell, f"{entry['seconds']:.0f}"]


def load_previous(name, seeds, steps, recurrent):
    """Results of an earlier run under the same name and budget, so a run can be split or
    resumed task by task; anything else starts a fresh record."""
    path = RESULTS / f"{name}.json"
    if not path.exists():
        return {}
    old = json.loads(path.read_text())
    if (old.get("seeds"), old.get("steps"), old.get("ppo_recurrent", False)) != (
            seeds, steps, recurrent):
        print(f"{path} has a different budget; starting a fresh record", flush=True)
        return {}
    return old.get("results", {})


def render(name, seeds, steps, recurrent, record):
    rows = [row_for(task, algo, record[task][algo], record[task])
            for task in TASKS if task in record for algo in PRESETS if algo in record[task]]
    algos = [a for a in PRESETS if any(a in r for r in record.values())]
    table = markdown_table(["task", "algo", "final team return (mean ± 95% CI)", "random",
                            "gain", "per team (competitive tasks)", "wall s (incl. compile)"],
                           rows)
    tasks = [t for t in TASKS if t in record]
    return (f"# MPE learning: {', '.join(algos)}\n\n{table}\n{seeds} seeds x "
            f"{steps:,} env steps per seed, trained at once (vmap); final return = mean of "
            "512 deterministic episodes per seed; team return = mean over agents. Presets: "
            + ", ".join(f"{a} `{PRESETS[a]}`" for a in algos)
            + (" (GRU)" if recurrent
               else " (MAPPO/IPPO feed-forward)" if {"mappo", "ippo"} & set(algos) else "")
            + f". Curves: `{name}_<task>.png`.\n"
            f"\nReproduce: `python benchmarks/mpe_learning.py --algos {' '.join(algos)} "
            f"--tasks {' '.join(tasks)} --seeds {seeds} --steps {steps} "
            f"--name {name}{' --ppo-recurrent' if recurrent else ''}`\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--algos", nargs="+", default=["maddpg", "mappo"], choices=list(PRESETS))
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=2_000_000, help="env steps per seed")
    parser.add_argument("--ppo-recurrent", action="store_true", help="GRU agents for MAPPO/IPPO")
    parser.add_argument("--name", default="mpe_learning", help="results/<name>.{md,json}")
    args = parser.parse_args()
    record = load_previous(args.name, args.seeds, args.steps, args.ppo_recurrent)

    def save():  # after every (task, algo): a long run never loses finished work
        md = render(args.name, args.seeds, args.steps, args.ppo_recurrent, record)
        write_result(args.name, dict(seeds=args.seeds, steps=args.steps,
                                     ppo_recurrent=args.ppo_recurrent, results=record), md)
        return md

    for task in args.tasks:
        env_id, kwargs, coop = TASKS[task]
        env = jl.make(env_id, **kwargs)
        rand_team, rand_agents = random_returns(env)
        rand_teams = team_returns(rand_agents, env)
        record.setdefault(task, {}).update(
            env=env_id, env_kwargs=kwargs, random=rand_team,
            random_teams={k: float(v) for k, v in rand_teams.items()})
        curves = {}
        for algo in args.algos:
            if algo != "maddpg" and not coop:
                continue
            cfg = config_for(algo, args.steps, args.ppo_recurrent)
            out = train_and_evaluate(algo, cfg, env, args.seeds)
            mean, half = mean_ci(out.team_return)
            teams = {k: mean_ci(v) for k, v in team_returns(out.agent_returns, env).items()}
            record[task][algo] = dict(
                final=out.team_return.tolist(), mean=float(mean), ci95=float(half),
                teams={k: [float(m), float(h)] for k, (m, h) in teams.items()},
                seconds=out.seconds, env_steps_per_s=args.seeds * args.steps / out.seconds,
                config=cfg.to_dict(),
                curve=dict(env_steps=np.asarray(out.metrics["env_steps"][0]).tolist(),
                           eval_return=np.asarray(out.metrics["eval_return"]).tolist()))
            print(row_for(task, algo, record[task][algo], record[task]), flush=True)
            save()
        for algo in PRESETS:  # curves of every algorithm recorded on this task so far
            if algo in record[task] and "curve" in record[task][algo]:
                c = record[task][algo]["curve"]
                curves[algo] = (np.asarray(c["env_steps"]), np.asarray(c["eval_return"]))
        plot_curves(curves, RESULTS / f"{args.name}_{task}.png", ylabel="deterministic return",
                    title=f"{env_id} {kwargs or ''} ({args.seeds} seeds)",
                    baseline=("random", rand_team))
    print(save())


if __name__ == "__main__":
    main()
