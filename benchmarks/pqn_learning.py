"""PQN on simple_spread: beside JaxMARL's ``pqn_vdn_ff.py``, and beside our replay-based VDN/QMIX.

``--part jaxmarl``: both sides train with JaxMARL's ``pqn_vdn_ff_mpe`` settings (256 envs x
16 steps, 2 x 256 LayerNorm units, RAdam 5e-4, 4 epochs x 16 minibatches, gamma 0.9,
lambda 0.3) for ``--steps`` env steps per seed, ``--seeds`` seeds (keys
``split(key(0), seeds)``, fixed before the run). Ours: the ``jaxmarl_pqn_vdn_ff_mpe``
preset, run as the CLI runs it (one CPU device per core, seeds split over them), then each
seed's greedy policy over 512 episodes: mean return per agent per 25-step episode. JaxMARL:
its ``make_train`` vmapped over the same number of seeds on one device, as its users run it;
its last greedy test (``test_returned_episode_returns``, which its ``MPELogWrapper`` scales
by the number of agents) divided by the number of agents and rescaled to 25 steps from its
reported episode length, i.e. the same unit as ours. Env-steps/s of the run (compile
excluded) side by side.

``--part replay``: PQN-VDN (the same preset) vs our VDN and QMIX with replay (the
``jaxmarl_ql_rnn_mpe`` preset) at the same env-step budget, with learning curves against
env steps and against wall time (each run's rate times its steps), so a user can see which
to pick at a given budget of samples or of time.

    PYTHONPATH=. python benchmarks/pqn_learning.py --part jaxmarl --jaxmarl <JaxMARL checkout>
    PYTHONPATH=. python benchmarks/pqn_learning.py --part replay
"""
from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from bench_utils import (JAXMARL_PQN_VDN_FF_MPE, RESULTS, load_jaxmarl_baseline,  # noqa: E402
                         machine_info, markdown_table, placement_label, random_returns,
                         time_compiled_output, write_result)

import jaxmarl_lite as jl  # noqa: E402
from jaxmarl_lite import parallel  # noqa: E402
from jaxmarl_lite.algorithms import get  # noqa: E402
from jaxmarl_lite.algorithms._common.evaluation import evaluate  # noqa: E402
from jaxmarl_lite.algorithms._common.training import init_seeds  # noqa: E402
from jaxmarl_lite.plotting import plot_curves  # noqa: E402
from jaxmarl_lite.stats import mean_ci  # noqa: E402

EPISODE_STEPS = 25  # our simple_spread's episode length


def machine_label() -> str:
    """``"1 x NVIDIA H200"`` / ``"2 x cpu (AMD EPYC ...)"``: the devices the run used."""
    devices = jax.devices()
    kind = devices[0].device_kind
    if devices[0].platform == "cpu":
        kind = f"cpu ({machine_info()['cpu']}, {os.cpu_count()} cores)"
    return f"{len(devices)} x {kind}"


def fmt(values) -> str:
    mean, half = mean_ci(np.asarray(values, float))
    return f"{mean:.2f} ± {half:.2f}"


def ours(algo: str, preset: str, steps: int, seeds: int, devices, overrides=None):
    """Train ``seeds`` seeds placed as the CLI places them; return per-seed final greedy
    returns (512 episodes each), the metrics, env-steps/s (compile excluded) and the
    placement label."""
    env = jl.make("simple_spread")
    module = get(algo)
    cfg = module.PRESETS[preset].replace(total_timesteps=steps, eval_episodes=128,
                                         **(overrides or {}))
    stages = module.make_stages(cfg, env)
    cfg = cfg.replace(eval_every=max(1, stages.num_updates // 20))
    stages = module.make_stages(cfg, env)
    keys = jax.random.split(jax.random.key(0), seeds)
    placement = parallel.make_placement(seeds, cfg.num_envs, devices)
    t0 = time.perf_counter()
    carry = jax.block_until_ready(parallel.place(init_seeds(stages, keys), placement))
    compiled = parallel.compile_updates(stages, carry, stages.num_updates, placement)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = jax.block_until_ready(compiled(carry))
    run_s = time.perf_counter() - t0
    metrics = jax.device_get(out.metrics)
    env_steps = float(np.asarray(metrics["env_steps"])[0, -1]) * seeds
    policy = module.make_policy(cfg, env)
    res = jax.jit(jax.vmap(lambda p, k: evaluate(env, policy, p, k, 512)))(
        jax.device_get(out.carry.params), jax.random.split(jax.random.key(1), seeds))
    final = np.asarray(res.team_return.mean(-1))
    return dict(final=final.tolist(), sps=env_steps / run_s, compile_s=compile_s,
                run_s=run_s, placement=placement_label(placement),
                steps=np.asarray(metrics["env_steps"])[0].tolist(),
                curve=np.asarray(metrics["eval_return"]).tolist())


def jaxmarl(root: Path, steps: int, seeds: int):
    module = load_jaxmarl_baseline(root / "baselines" / "QLearning" / "pqn_vdn_ff.py")
    config = copy.deepcopy(JAXMARL_PQN_VDN_FF_MPE)
    config.update(TOTAL_TIMESTEPS=steps, NUM_SEEDS=seeds)
    env, _ = module.env_from_config(copy.deepcopy(config))
    n = env.num_agents
    train = jax.vmap(module.make_train(copy.deepcopy(config), env))
    keys = jax.random.split(jax.random.PRNGKey(0), seeds)
    compile_s, run_s, out = time_compiled_output(train, keys, repeats=1, warmup=False)
    # the script returns no metrics (it logs them to wandb); its last greedy test is the
    # test state in its runner state
    test = jax.device_get(out["runner_state"][2])
    ret = np.asarray(test["returned_episode_returns"])  # [S]
    length = np.asarray(test["returned_episode_lengths"])
    per_agent = ret / n * EPISODE_STEPS / length  # per agent per 25-step episode
    updates = steps // config["NUM_STEPS"] // config["NUM_ENVS"]
    env_steps = updates * config["NUM_STEPS"] * config["NUM_ENVS"] * seeds
    return dict(final=per_agent.tolist(), raw_final=ret.tolist(),
                episode_length=float(length.mean()), sps=env_steps / run_s,
                compile_s=compile_s, run_s=run_s)


def part_jaxmarl(args):
    rand, _ = random_returns(jl.make("simple_spread"))
    records, rows = {}, []
    for steps in args.steps:
        mine = ours("pqn", "jaxmarl_pqn_vdn_ff_mpe", steps, args.seeds, args.devices)
        records[f"ours_{steps}"] = mine
        print(f"ours {steps:,}: {fmt(mine['final'])} at {mine['sps']:,.0f} env-steps/s "
              f"({mine['placement']}); per seed {mine['final']}", flush=True)
        theirs = jaxmarl(args.jaxmarl, steps, args.seeds) if args.jaxmarl else None
        records[f"jaxmarl_{steps}"] = theirs
        rows.append([f"{steps:,}", "jaxmarl-lite `pqn` (`jaxmarl_pqn_vdn_ff_mpe`)",
                     fmt(mine["final"]), ", ".join(f"{x:.1f}" for x in mine["final"]), f"{mine['sps']:,.0f}",
                     mine["placement"], f"{mine['compile_s']:.0f}"])
        if theirs:
            rows.append([f"{steps:,}", "JaxMARL `pqn_vdn_ff.py`", fmt(theirs["final"]),
                         ", ".join(f"{x:.1f}" for x in theirs["final"]), f"{theirs['sps']:,.0f}",
                         "1 device", f"{theirs['compile_s']:.0f}"])
            rows.append([f"{steps:,}", "ratio (ours / JaxMARL)", "", "",
                         f"**{mine['sps'] / theirs['sps']:.2f}x**", "", ""])
        print(rows[-1], flush=True)
        table = markdown_table(["env steps / seed", "run", "greedy return (mean ± 95% CI)",
                                "per seed", "env-steps/s", "placement", "compile s"], rows)
        note = (f"# PQN-VDN on simple_spread beside JaxMARL's `pqn_vdn_ff.py`\n\n"
                f"Machine: {machine_label()}. "
                f"{args.seeds} seeds per side (keys `split(key(0), {args.seeds})`), trained at "
                "once. Return = mean per agent per 25-step episode of the greedy policy (ours: "
                "512 episodes per seed after training; JaxMARL: its last greedy test of 512 "
                "envs, `test_returned_episode_returns` / 3 agents x 25 / its episode length "
                f"{theirs['episode_length'] if theirs else float('nan'):.0f}). Uniformly random "
                f"policy: {rand:.2f}. Env-steps/s over the run, compile excluded.\n\n" + table
                + "\nReproduce: `PYTHONPATH=. python benchmarks/pqn_learning.py --part jaxmarl "
                f"--jaxmarl <JaxMARL checkout> --steps {' '.join(map(str, args.steps))} "
                f"--seeds {args.seeds} --name {args.name}`\n")
        write_result(args.name, {"runs": records, "random": rand,
                                 "args": {k: str(v) for k, v in vars(args).items()}}, note)
    print(table)


def part_replay(args):
    rand, _ = random_returns(jl.make("simple_spread"))
    runs = {"pqn (VDN head, `jaxmarl_pqn_vdn_ff_mpe`)": ("pqn", "jaxmarl_pqn_vdn_ff_mpe"),
            "vdn (replay, `jaxmarl_ql_rnn_mpe`)": ("vdn", "jaxmarl_ql_rnn_mpe"),
            "qmix (replay, `jaxmarl_ql_rnn_mpe`)": ("qmix", "jaxmarl_ql_rnn_mpe")}
    steps = args.steps[0]
    records, rows, by_steps, by_time = {}, [], {}, {}
    for label, (algo, preset) in runs.items():
        rec = ours(algo, preset, steps, args.seeds, args.devices)
        records[label] = rec
        curve = np.asarray(rec["curve"], float)  # [S, U] (carried between evaluations)
        x = np.asarray(rec["steps"], float)
        by_steps[label] = (x, curve)
        by_time[label] = (x / (rec["sps"] / args.seeds), curve)
        at_half = curve[:, np.searchsorted(x, steps / 2)]
        rows.append([label, fmt(rec["final"]), ", ".join(f"{v:.1f}" for v in rec["final"]),
                     fmt(at_half), f"{rec['sps']:,.0f}", f"{steps * args.seeds / rec['sps']:.0f}",
                     rec["placement"]])
        print(rows[-1], flush=True)
    table = markdown_table(["run", f"greedy return at {steps:,} steps", "per seed",
                            f"in-loop greedy return at {steps // 2:,}", "env-steps/s",
                            "run s (all seeds)", "placement"], rows)
    plot_curves({k: (x, c) for k, (x, c) in by_steps.items()}, RESULTS / "pqn_vs_replay_steps.png",
                xlabel="env steps per seed", ylabel="greedy return", title="simple_spread",
                baseline=("random", rand))
    plot_curves({k: (x, c) for k, (x, c) in by_time.items()}, RESULTS / "pqn_vs_replay_time.png",
                xlabel="seconds (this machine, all seeds at once)", ylabel="greedy return",
                title="simple_spread", baseline=("random", rand))
    note = (f"# PQN-VDN vs replay-based VDN / QMIX on simple_spread\n\n{args.seeds} seeds "
            f"(keys `split(key(0), {args.seeds})`), {steps:,} env steps per seed; return = greedy "
            "team return per 25-step episode (final: 512 episodes per seed; in-loop: the "
            f"evaluation of 128 episodes); random policy {rand:.2f}. Curves: "
            "`pqn_vs_replay_steps.png` (per env step) and `pqn_vs_replay_time.png` (per second "
            "of this run).\n\n" + table
            + "\nReproduce: `PYTHONPATH=. python benchmarks/pqn_learning.py --part replay`\n")
    write_result("pqn_vs_replay", {"runs": records, "random": rand,
                                   "args": {k: str(v) for k, v in vars(args).items()}}, note)
    print(table)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=["jaxmarl", "replay"], required=True)
    parser.add_argument("--jaxmarl", type=Path, help="FLAIROx/JaxMARL checkout")
    parser.add_argument("--steps", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--name", default="pqn_vs_jaxmarl",
                        help="result name under benchmarks/results (--part jaxmarl)")
    parser.add_argument("--devices", type=int, default=None,
                        help="our devices (default: one CPU device per core; 1 turns it off)")
    args = parser.parse_args()
    parallel.use_cpu_devices(1 if args.devices == 1 else None)  # before JAX starts
    (part_jaxmarl if args.part == "jaxmarl" else part_replay)(args)


if __name__ == "__main__":
    main()
