"""Training-loop speed of MAPPO/IPPO: jaxmarl-lite vs JaxMARL's baselines, side by side.

Both sides train on MPE simple_spread (3 agents, discrete actions) with JaxMARL's settings:

* MAPPO, ``mappo_rnn_mpe.py`` with ``mappo_homogenous_rnn_mpe.yaml``: 16 envs x 128 steps,
  GRU 128, 4 epochs x 4 minibatches, agent-specific world-state critic;
* IPPO, ``ippo_ff_mpe.py`` with ``ippo_ff_mpe.yaml``: feed-forward 64-unit actor/critic,
  16 envs x 128 steps, and a large-batch run with 1024 envs;
* ours only (JaxMARL has no feed-forward MAPPO for MPE): MAPPO with the same settings but a
  feed-forward actor and critic at 1024 envs, 128 units (the recurrent preset's width) and
  64 units (JaxMARL's feed-forward width, as in its IPPO-FF), for 1 and 8 seeds;

each compiled once (time reported separately), then run for ``--steps`` env steps per seed
with 1 and 8 seeds under ``jax.vmap``, ``--repeats`` times per side alternately (ours,
JaxMARL, ours, ...; the best run of each side counts, so the machine's drift during a row
affects both sides alike). Env-steps/s counts every env step simulated. Our
in-loop evaluation is off except the final update's (64 episodes).

Placement: ours runs as the CLI runs it, on one CPU device per core with the default
placement (:func:`jaxmarl_lite.parallel.make_placement`: the seeds split over the devices
when they divide; ``--devices 1`` for one device); JaxMARL as its users run it, on the
default device (one).

    PYTHONPATH=. <venv with jaxmarl>/bin/python benchmarks/compare_ppo_speed.py \\
        --jaxmarl <JaxMARL checkout>

Without ``--jaxmarl`` only our side runs.
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import jax

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_utils import (load_jaxmarl_baseline, markdown_table, placement_label,  # noqa: E402
                         prepare_compiled, prepare_placed, ratio_cells, reproduce_command,
                         results_name, side_by_side, write_result)

import jaxmarl_lite as jl  # noqa: E402
from jaxmarl_lite import parallel  # noqa: E402
from jaxmarl_lite.algorithms import get  # noqa: E402

PLACED: dict = {}  # (algo, seeds, num_envs) -> placement label of our run
DEVICES = None  # our devices (None: all)

COMMON = {  # shared by both JaxMARL yaml files
    "NUM_STEPS": 128, "UPDATE_EPOCHS": 4, "NUM_MINIBATCHES": 4, "GAMMA": 0.99,
    "GAE_LAMBDA": 0.95, "CLIP_EPS": 0.2, "ENT_COEF": 0.01, "VF_COEF": 0.5,
    "MAX_GRAD_NORM": 0.5, "ACTIVATION": "tanh", "ENV_NAME": "MPE_simple_spread_v3",
    "ENV_KWARGS": {}, "ANNEAL_LR": True, "WANDB_MODE": "disabled", "SEED": 0,
}
JAXMARL = {
    # baselines/MAPPO/config/mappo_homogenous_rnn_mpe.yaml
    "mappo": ("MAPPO/mappo_rnn_mpe.py", dict(COMMON, LR=2e-3, FC_DIM_SIZE=128, GRU_HIDDEN_DIM=128,
                                              SCALE_CLIP_EPS=False)),
    # baselines/IPPO/config/ippo_ff_mpe.yaml
    "ippo": ("IPPO/ippo_ff_mpe.py", dict(COMMON, LR=2.5e-4)),
}
# run name -> (algorithm, preset, overrides)
PRESETS = {"mappo": ("mappo", "jaxmarl_mappo_rnn_mpe", {}),
           "ippo": ("ippo", "jaxmarl_ippo_ff_mpe", {}),
           "mappo_ff": ("mappo", "jaxmarl_mappo_rnn_mpe", {"recurrent": False}),
           "mappo_ff64": ("mappo", "jaxmarl_mappo_rnn_mpe", {"recurrent": False,
                                                             "hidden_size": 64})}
ROWS = ("mappo", "ippo", "ippo_large", "mappo_ff", "mappo_ff64")  # --algos choices
AGENT = {"mappo": "GRU 128", "ippo": "FF 64", "mappo_ff": "FF 128", "mappo_ff64": "FF 64"}


def ours(algo: str, steps: int, seeds: int, num_envs: int):
    env = jl.make("simple_spread")
    name, preset, overrides = PRESETS[algo]
    module = get(name)
    cfg = module.PRESETS[preset].replace(total_timesteps=steps, num_envs=num_envs,
                                         eval_every=10**9, **overrides)
    keys = jax.random.split(jax.random.key(0), seeds)
    compile_s, run, placement = prepare_placed(module.make_stages(cfg, env), keys, num_envs,
                                                DEVICES)
    PLACED[algo, seeds, num_envs] = placement_label(placement)
    return compile_s, run, steps // (num_envs * cfg.num_steps) * num_envs * cfg.num_steps * seeds


def jaxmarl(root: Path, algo: str, steps: int, seeds: int, num_envs: int):
    script, base = JAXMARL[algo]
    module = load_jaxmarl_baseline(root / "baselines" / script)
    config = copy.deepcopy(base)
    config.update(TOTAL_TIMESTEPS=steps, NUM_ENVS=num_envs, NUM_SEEDS=seeds)
    train = jax.vmap(module.make_train(config))
    keys = jax.random.split(jax.random.PRNGKey(0), seeds)
    compile_s, run = prepare_compiled(train, keys)
    per_update = config["NUM_STEPS"] * num_envs
    return compile_s, run, steps // per_update * per_update * seeds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jaxmarl", type=Path, help="FLAIROx/JaxMARL checkout")
    parser.add_argument("--steps", type=int, default=81_920, help="env steps per seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--large-envs", type=int, default=1024)
    parser.add_argument("--algos", nargs="+", choices=ROWS, default=list(ROWS),
                        help="rows to run (default: all; ippo_large is IPPO at --large-envs)")
    parser.add_argument("--devices", type=int, default=None,
                        help="our devices (default: one CPU device per core; 1 turns it off)")
    parser.add_argument("--repeats", type=int, default=2,
                        help="timed runs per side, alternating ours / JaxMARL; best counts")
    parser.add_argument("--name", type=results_name, default="compare_ppo_speed",
                        help="results file name in benchmarks/results")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    global DEVICES
    DEVICES = args.devices
    parallel.use_cpu_devices(1 if args.devices == 1 else None)  # before JAX starts
    runs = [(a, s, 16, args.steps) for a in ("mappo", "ippo") for s in args.seeds
            if a in args.algos]
    large = 4 * args.large_envs * 128
    if "ippo_large" in args.algos:
        runs.append(("ippo", 1, args.large_envs, large))
    runs += [(a, s, args.large_envs, large) for a in ("mappo_ff", "mappo_ff64")
             for s in args.seeds if a in args.algos]
    rows, records = [], []
    for algo, seeds, num_envs, steps in runs:
        reference = args.jaxmarl if algo in JAXMARL else None
        rec = side_by_side(ours, jaxmarl, reference, algo, steps, seeds, num_envs,
                           args.repeats)
        rec["placement"] = PLACED[algo, seeds, num_envs]
        records.append(rec)
        rows.append([PRESETS[algo][0], AGENT[algo], seeds, num_envs, f"{steps:,}",
                     rec["placement"], *ratio_cells(rec)])
        print(" | ".join(str(x) for x in rows[-1]), flush=True)
    table = markdown_table(["algo", "agent", "seeds", "num_envs", "steps/seed",
                            "our placement", "jaxmarl-lite env-steps/s", "JaxMARL env-steps/s", "ratio",
                            "compile s (ours / JaxMARL)"], rows)
    print(table)
    write_result(args.name,
                 {"runs": records, "args": {k: str(v) for k, v in vars(args).items()}},
                 "# MAPPO / IPPO training-loop speed (simple_spread, JaxMARL settings)\n\n"
                 + table + f"\nReproduce: `{reproduce_command('compare_ppo_speed.py', args.jaxmarl)}`\n")


if __name__ == "__main__":
    main()
