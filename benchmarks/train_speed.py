"""Training-loop throughput: env steps per second of a whole compiled ``train`` (rollouts,
replay, gradient steps, target updates, evaluation) for 1 and more vmapped seeds.

Compile time is measured separately (``lower().compile()``) and excluded; the reported time
is the best of ``--repeats`` runs of the compiled loop from a fresh ``init``.

    python benchmarks/train_speed.py --algo maddpg --env simple_spread --seeds 1 8
    python benchmarks/train_speed.py --algo mappo --preset jaxmarl_mappo_rnn_mpe --seeds 1 8
    python benchmarks/train_speed.py --algo qmix --seeds 8 --progress-every 10

``--progress-every K`` adds, per seed count, the same loop with a host callback every K
updates through the CLI's mechanism (``run_updates_seeds``' ``jax.debug.callback``, that
update's ``[S]`` metrics sent to the host) and the ratio of the two rates, side by side.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_utils import markdown_table, placement_label, write_result  # noqa: E402

import jaxmarl_lite as jl  # noqa: E402
from jaxmarl_lite import parallel  # noqa: E402
from jaxmarl_lite.algorithms import get  # noqa: E402
from jaxmarl_lite.algorithms._common.training import init_seeds  # noqa: E402
from jaxmarl_lite.cli import parse_env_kwargs, parse_value  # noqa: E402

DEVICES = None  # our devices (None: all; the default placement, as the CLI)
PLACED: dict = {}


def measure(algo: str, cfg, env, seeds: int, repeats: int, progress_every: int = 0,
            check_finite: bool = True):
    """``(compile_s, run_s, env_steps)`` of ``seeds`` vmapped seeds over the whole budget;
    with ``progress_every`` the loop carries a host callback through the CLI's in-loop progress
    mechanism (the same compiled loop otherwise; the callback only records the update)."""
    stages = get(algo).make_stages(cfg, env)
    placement = parallel.make_placement(seeds, cfg.num_envs, DEVICES)
    carry = parallel.place(init_seeds(stages, jax.random.split(jax.random.key(0), seeds)),
                           placement)
    calls = []
    t0 = time.perf_counter()
    compiled = parallel.compile_updates(stages, carry, stages.num_updates, placement,
                                        progress=lambda i, m: calls.append(int(i)),
                                        every=progress_every, check_finite=check_finite)
    compile_s, run_s = time.perf_counter() - t0, float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = jax.block_until_ready(compiled(carry))
        run_s = min(run_s, time.perf_counter() - t0)
    PLACED[seeds] = placement_label(placement)
    return compile_s, run_s, float(jax.device_get(out.metrics["env_steps"][:, -1]).sum())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--algo", default="maddpg")
    parser.add_argument("--env", default="simple_spread")
    parser.add_argument("--env-set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--preset", default=None)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--steps", type=int, default=200_000, help="env steps per seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--progress-every", type=int, default=0, metavar="K",
                        help="also time the loop with the in-loop progress callback")
    parser.add_argument("--finite-check", action="store_true",
                        help="also time the loop without the per-update non-finite check "
                             "(the `finite` metric) and report the ratio")
    parser.add_argument("--name", default=None, help="results/<name>.{md,json}")
    parser.add_argument("--devices", type=int, default=None,
                        help="devices (default: one CPU device per core, as the CLI; 1: one)")
    args = parser.parse_args()
    global DEVICES
    DEVICES = args.devices
    parallel.use_cpu_devices(1 if args.devices == 1 else None)  # before JAX starts
    module = get(args.algo)
    cfg = module.PRESETS[args.preset] if args.preset else module.Config()
    fields = cfg.field_types()
    overrides = {k: parse_value(v, fields[k], k) for k, v in (s.split("=", 1) for s in args.set)}
    cfg = cfg.replace(total_timesteps=args.steps, eval_every=10**9, **overrides)
    env_kwargs = parse_env_kwargs(args.env, args.env_set)
    env = jl.make(args.env, **env_kwargs)
    rows, record = [], []
    for seeds in args.seeds:
        compile_s, run_s, steps = measure(args.algo, cfg, env, seeds, args.repeats)
        rate = steps / run_s
        rec = dict(seeds=seeds, compile_s=compile_s, run_s=run_s, env_steps=steps,
                   env_steps_per_s=rate)
        rec["placement"] = PLACED[seeds]
        row = [seeds, PLACED[seeds], f"{steps:,.0f}", f"{run_s:.1f}", f"{rate:,.0f}",
               f"{compile_s:.1f}"]
        if args.progress_every:
            _, run_cb, _ = measure(args.algo, cfg, env, seeds, args.repeats, args.progress_every)
            rec.update(progress_every=args.progress_every, env_steps_per_s_progress=steps / run_cb,
                       progress_ratio=run_s / run_cb)
            row += [f"{steps / run_cb:,.0f}", f"{run_s / run_cb:.3f}"]
        if args.finite_check:
            _, run_off, _ = measure(args.algo, cfg, env, seeds, args.repeats, check_finite=False)
            rec.update(env_steps_per_s_no_check=steps / run_off, finite_check_ratio=run_off / run_s)
            row += [f"{steps / run_off:,.0f}", f"{run_off / run_s:.3f}"]
        record.append(rec)
        rows.append(row)
        print(rows[-1], flush=True)
    header = ["seeds (vmap)", "placement", "env steps (all seeds)", "run s", "env steps/s",
              "compile s"]
    if args.progress_every:
        header += [f"env steps/s, progress callback every {args.progress_every} updates",
                   "rate ratio (with / without)"]
    if args.finite_check:
        header += ["env steps/s without the non-finite check", "rate ratio (with / without)"]
    name = args.name or f"train_speed_{args.algo}"
    md = (f"# Training-loop speed: {args.algo} on {args.env} {env_kwargs or ''}\n\n"
          + markdown_table(header, rows)
          + f"\nPreset `{args.preset or 'defaults'}`, overrides {overrides or 'none'}, "
          f"{args.steps:,} env steps per seed, evaluation off; best of {args.repeats} runs.\n"
          f"\nReproduce: `python benchmarks/train_speed.py {' '.join(sys.argv[1:])}`\n")
    print(md)
    write_result(name, dict(algo=args.algo, env=args.env, env_kwargs=env_kwargs,
                            config=cfg.to_dict(), results=record), md)


if __name__ == "__main__":
    main()
