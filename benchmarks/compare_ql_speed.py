"""Training-loop speed of IQL/VDN/QMIX: jaxmarl-lite vs JaxMARL's baselines, side by side.

Both sides train on MPE simple_spread (3 agents, 25-step episodes) with JaxMARL's
``ql_rnn_mpe`` settings (8 envs, GRU 64, batch 32 episodes, buffer 5000 episodes, one
gradient step per update, greedy test of 512 episodes every 5% of training), compiled once
(time reported separately) and then run for ``--steps`` env steps per seed, ``--repeats``
times per side alternately (ours, JaxMARL, ours, ...; the best run of each side counts),
for 1, 8 and 64 seeds under ``jax.vmap``; plus a large-batch run (256 envs, one seed). With
``--algos pqn``: PQN-VDN beside JaxMARL's ``pqn_vdn_ff.py`` (its ``pqn_vdn_ff_mpe`` settings, 256
envs x 16 steps, the same greedy test), for each of ``--seeds``. Env-steps/s counts
every env step simulated (JaxMARL: ``NUM_STEPS=26`` per env per update, ours 25). JaxMARL's
buffer holds ``BUFFER_SIZE // NUM_ENVS`` steps per env and must hold a batch of 32, so
runs with more than 156 envs use a buffer of ``32 * num_envs`` episodes on both sides.

Needs a FLAIROx/JaxMARL checkout for its baseline scripts and ``jaxmarl`` + ``flashbax``
installed (e.g. a separate virtualenv)::

    git clone https://github.com/FLAIROx/JaxMARL /tmp/JaxMARL
    PYTHONPATH=. <venv>/bin/python benchmarks/compare_ql_speed.py --jaxmarl /tmp/JaxMARL

Without ``--jaxmarl`` only our side runs.

``--no-learning`` (qmix/vdn/iql): both sides run with ``learning_starts`` at the run's end
(ours: at most its last update learns; JaxMARL's: none), so the rollouts, replay writes and
greedy tests are timed alone; against the same command without it, the difference is the
learning step's share of each side's update (docs/benchmarks.md has the split).

Placement: ours runs as the CLI runs it, on one CPU device per core with the default
placement (:func:`jaxmarl_lite.parallel.make_placement`: the seeds split over the devices
when they divide; ``--devices 1`` for one device); JaxMARL as its users run it, on the
default device (one).
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import jax

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_utils import (JAXMARL_PQN_VDN_FF_MPE, load_jaxmarl_baseline,  # noqa: E402
                         markdown_table, placement_label, prepare_compiled, prepare_placed,
                         ratio_cells, reproduce_command, results_name, side_by_side,
                         write_result)

import jaxmarl_lite as jl  # noqa: E402
from jaxmarl_lite import parallel  # noqa: E402
from jaxmarl_lite.algorithms import get  # noqa: E402
from jaxmarl_lite.algorithms.q_learning import PRESETS  # noqa: E402

JAXMARL_SCRIPTS = {"qmix": "qmix_rnn.py", "vdn": "vdn_rnn.py", "iql": "iql_rnn.py",
                   "pqn": "pqn_vdn_ff.py"}
PQN_ENVS = 256  # pqn_vdn_ff_mpe's NUM_ENVS
JAXMARL_QL_RNN_MPE = {  # baselines/QLearning/config/alg/ql_rnn_mpe.yaml
    "NUM_ENVS": 8, "NUM_STEPS": 26, "BUFFER_SIZE": 5000, "BUFFER_BATCH_SIZE": 32,
    "HIDDEN_SIZE": 64, "MIXER_EMBEDDING_DIM": 32, "MIXER_HYPERNET_HIDDEN_DIM": 128,
    "MIXER_INIT_SCALE": 0.001, "EPS_START": 1.0, "EPS_FINISH": 0.05, "EPS_DECAY": 0.1,
    "MAX_GRAD_NORM": 25, "TARGET_UPDATE_INTERVAL": 200, "TAU": 1.0, "NUM_EPOCHS": 1,
    "LR": 0.005, "LEARNING_STARTS": 10000, "LR_LINEAR_DECAY": True, "GAMMA": 0.9,
    "ENV_NAME": "MPE_simple_spread_v3", "ENV_KWARGS": {}, "TEST_DURING_TRAINING": True,
    "TEST_INTERVAL": 0.05, "TEST_NUM_STEPS": 30, "TEST_NUM_ENVS": 512, "WANDB_MODE": "disabled",
    "REW_SCALE": 1.0,
}


PLACED: dict = {}  # (algo, seeds, num_envs) -> placement label of our run
DEVICES = None  # our devices (None: all)
LEARN = True  # False: learning_starts at the run's end on both sides (--no-learning)


def buffer_size(num_envs: int) -> int:
    """``ql_rnn_mpe``'s 5000 episodes, or enough for JaxMARL to sample 32 at ``num_envs``."""
    return max(JAXMARL_QL_RNN_MPE["BUFFER_SIZE"], JAXMARL_QL_RNN_MPE["BUFFER_BATCH_SIZE"] * num_envs)


def ours(algo: str, steps: int, seeds: int, num_envs: int):
    env = jl.make("simple_spread")
    module = get(algo)
    if algo == "pqn":
        cfg = module.PRESETS["jaxmarl_pqn_vdn_ff_mpe"].replace(
            total_timesteps=steps, num_envs=num_envs, eval_episodes=512)
        steps_per_update = num_envs * cfg.num_steps
    else:
        base = PRESETS["jaxmarl_ql_rnn_mpe"]
        cfg = module.Config(**{**base.to_dict(), "mixer": module.Config().mixer,
                               "total_timesteps": steps, "num_envs": num_envs,
                               "eval_episodes": 512, "buffer_size": buffer_size(num_envs)})
        if not LEARN:
            # the largest the config allows: at most the last update learns
            cfg = cfg.replace(learning_starts=steps - 1)
        steps_per_update = num_envs * env.max_episode_steps
    num_updates = cfg.total_timesteps // steps_per_update
    cfg = cfg.replace(eval_every=max(1, num_updates // 20))
    keys = jax.random.split(jax.random.key(0), seeds)
    compile_s, run, placement = prepare_placed(module.make_stages(cfg, env), keys, num_envs,
                                                DEVICES)
    PLACED[algo, seeds, num_envs] = placement_label(placement)
    return compile_s, run, num_updates * steps_per_update * seeds


def jaxmarl(root: Path, algo: str, steps: int, seeds: int, num_envs: int):
    module = load_jaxmarl_baseline(root / "baselines" / "QLearning" / JAXMARL_SCRIPTS[algo])
    if algo == "pqn":
        config = dict(copy.deepcopy(JAXMARL_PQN_VDN_FF_MPE), NUM_ENVS=num_envs)
    else:
        config = dict(copy.deepcopy(JAXMARL_QL_RNN_MPE), NUM_ENVS=num_envs,
                      BUFFER_SIZE=buffer_size(num_envs))
    config.update(TOTAL_TIMESTEPS=steps, NUM_SEEDS=seeds)
    if not LEARN:
        config["LEARNING_STARTS"] = steps + 1
    env, _ = module.env_from_config(copy.deepcopy(config))
    train = jax.vmap(module.make_train(copy.deepcopy(config), env))
    keys = jax.random.split(jax.random.PRNGKey(0), seeds)
    compile_s, run = prepare_compiled(train, keys)
    updates = steps // config["NUM_STEPS"] // num_envs
    return compile_s, run, updates * config["NUM_STEPS"] * num_envs * seeds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jaxmarl", type=Path, help="FLAIROx/JaxMARL checkout")
    parser.add_argument("--algos", nargs="+", choices=list(JAXMARL_SCRIPTS),
                        default=["qmix", "vdn", "iql"],
                        help="qmix/vdn/iql at ql_rnn_mpe settings; pqn (PQN-VDN) at "
                             "pqn_vdn_ff_mpe's")
    parser.add_argument("--steps", type=int, default=200_000, help="env steps per seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--large-envs", type=int, default=256)
    parser.add_argument("--devices", type=int, default=None,
                        help="our devices (default: one CPU device per core; 1 turns it off)")
    parser.add_argument("--repeats", type=int, default=2,
                        help="timed runs per side, alternating ours / JaxMARL; best counts")
    parser.add_argument("--name", type=results_name, default="compare_ql_speed",
                        help="results file name in benchmarks/results")
    parser.add_argument("--no-learning", action="store_true",
                        help="qmix/vdn/iql with learning_starts at the run's end on both "
                             "sides: rollouts, replay writes and greedy tests alone")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    if args.no_learning and "pqn" in args.algos:
        parser.error("--no-learning applies to the replay loops (qmix, vdn, iql); PQN learns "
                     "on every rollout")
    global DEVICES, LEARN
    DEVICES, LEARN = args.devices, not args.no_learning
    parallel.use_cpu_devices(1 if args.devices == 1 else None)  # before JAX starts

    runs = [(a, s, PQN_ENVS if a == "pqn" else 8) for a in args.algos
            for s in (args.seeds if a in ("qmix", "pqn") else [1])]
    if "qmix" in args.algos:
        runs.append(("qmix", 1, args.large_envs))
    rows, records = [], []
    for algo, seeds, num_envs in runs:
        steps = args.steps if seeds <= 8 else max(args.steps // 4, 50_000)
        rec = side_by_side(ours, jaxmarl, args.jaxmarl, algo, steps, seeds, num_envs,
                           args.repeats)
        rec["placement"] = PLACED[algo, seeds, num_envs]
        records.append(rec)
        row = [algo, seeds, num_envs, f"{steps:,}", rec["placement"], *ratio_cells(rec)]
        rows.append(row)
        print(" | ".join(str(x) for x in row), flush=True)
        table = markdown_table(["algo", "seeds", "num_envs", "steps/seed", "our placement",
                                "jaxmarl-lite env-steps/s", "JaxMARL env-steps/s", "ratio",
                                "compile s (ours / JaxMARL)"], rows)
        write_result(args.name,  # after every row, so a cut-off run keeps its rows
                     {"runs": records, "args": {k: str(v) for k, v in vars(args).items()}},
                     "# Q-learning training-loop speed (simple_spread, JaxMARL's ql_rnn_mpe / "
                     "pqn_vdn_ff_mpe settings" + (", learning off" if args.no_learning else "")
                     + ")\n\n"
                     + table + "\nReproduce: "
                     f"`{reproduce_command('compare_ql_speed.py', args.jaxmarl)}`\n")
    print(table)


if __name__ == "__main__":
    main()
