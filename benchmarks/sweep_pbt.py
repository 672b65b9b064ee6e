"""Hyperparameters as data, measured: one compiled sweep vs separate runs, and PBT vs a fixed
population at the same budget.

``--part sweep``: an 8-point learning-rate sweep x 4 seeds of MAPPO on simple_spread
(``mappo_paper_mpe``, feed-forward), once as one compiled program (every point and seed in
one vmapped loop) and once as 8 separate runs of 4 vmapped seeds each (one compilation per
point), both on the default placement, wall time compile included; the final greedy
returns of the two must agree (a member is the separate run with its value, up to float
rounding).

``--part pbt``: PBT against the same population with fixed values (its starting draws), same
members, seeds, budget and keys, on simple_spread and simple_speaker_listener: final greedy
return of the best member and the population mean per seed, mean and 95% CI over seeds.

    python benchmarks/sweep_pbt.py --part sweep
    python benchmarks/sweep_pbt.py --part pbt --tasks simple_spread simple_speaker_listener
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jaxmarl_lite import parallel  # noqa: E402


def mappo_config(steps: int):
    from jaxmarl_lite.algorithms import mappo

    return mappo.PRESETS["mappo_paper_mpe"].replace(recurrent=False, total_timesteps=steps,
                                                   eval_every=10)


def sweep_part(args):
    import jax
    import numpy as np

    import jaxmarl_lite as jl
    from jaxmarl_lite import population
    from jaxmarl_lite.algorithms import mappo
    from jaxmarl_lite.algorithms._common.training import init_seeds
    from jaxmarl_lite.stats import mean_ci

    env = jl.make("simple_spread")
    cfg = mappo_config(args.steps)
    lrs = np.geomspace(1e-4, 3e-3, args.points).tolist()
    keys = jax.random.split(jax.random.key(0), args.seeds)
    pop = population.grid(cfg, {"lr": lrs})

    t0 = time.perf_counter()
    stages = population.sweep_stages(mappo, cfg, env, pop)
    placement = parallel.make_placement(pop.size * args.seeds, cfg.num_envs)
    carry = parallel.place(population.init_runs(stages, keys, pop), placement)
    compiled = parallel.compile_updates(stages, carry, stages.num_updates, placement)
    sweep_compile = time.perf_counter() - t0
    out = jax.block_until_ready(compiled(carry))
    sweep_s = time.perf_counter() - t0
    sweep_final = np.asarray(out.metrics["eval_return"])[:, -1].reshape(pop.size, args.seeds)
    print(f"one compiled sweep: {sweep_s:.1f} s (compile {sweep_compile:.1f} s)", flush=True)

    separate_final, separate_s, separate_compile = [], 0.0, 0.0
    for lr in lrs:
        t0 = time.perf_counter()
        stages = mappo.make_stages(cfg.replace(lr=lr), env)
        placement = parallel.make_placement(args.seeds, cfg.num_envs)
        carry = parallel.place(init_seeds(stages, keys), placement)
        compiled = parallel.compile_updates(stages, carry, stages.num_updates, placement)
        separate_compile += time.perf_counter() - t0
        res = jax.block_until_ready(compiled(carry))
        separate_s += time.perf_counter() - t0
        separate_final.append(np.asarray(res.metrics["eval_return"])[:, -1])
        print(f"  separate run lr={lr:.2e}: {time.perf_counter() - t0:.1f} s", flush=True)
    separate_final = np.stack(separate_final)
    rows = []
    for i, lr in enumerate(lrs):
        a, ha = mean_ci(sweep_final[i])
        b, hb = mean_ci(separate_final[i])
        rows.append([f"{lr:.2e}", f"{float(a):.2f} ± {float(ha):.2f}",
                     f"{float(b):.2f} ± {float(hb):.2f}",
                     f"{float(np.max(np.abs(sweep_final[i] - separate_final[i]))):.3g}"])
    return dict(points=lrs, seeds=args.seeds, steps=args.steps, sweep_s=sweep_s,
                sweep_compile_s=sweep_compile, separate_s=separate_s,
                separate_compile_s=separate_compile, ratio=sweep_s / separate_s,
                sweep_final=sweep_final.tolist(), separate_final=separate_final.tolist(),
                placement=parallel.make_placement(pop.size * args.seeds, cfg.num_envs)
                .describe()["mesh"]), rows


def pbt_part(args, task: str):
    import jax
    import numpy as np

    from jaxmarl_lite import population, runs
    from jaxmarl_lite.stats import mean_ci

    cfg = mappo_config(args.pbt_steps)
    ranges = {"lr": population.Range(1e-4, 3e-3, log=True),
              "ent_coef": population.Range(0.0, 0.05)}
    pop = population.random_points(cfg, ranges, args.members, jax.random.key(1))
    pbt = population.PBT(every=args.pbt_every, ranges=ranges)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, p in (("fixed", None), ("pbt", pbt)):
            t0 = time.perf_counter()
            run = runs.train("mappo", task, out=Path(tmp) / label, seeds=args.seeds,
                             preset="mappo_paper_mpe",
                             overrides=dict(recurrent=False, total_timesteps=args.pbt_steps,
                                            eval_every=10),
                             sweep=pop, pbt=p, progress=False)
            metrics = runs.read_metrics(run)
            final = metrics["eval_return"][:, -1].reshape(args.members, args.seeds)
            best, mean = final.max(0), final.mean(0)  # per seed
            results[label] = dict(best=best.tolist(), mean=mean.tolist(),
                                  seconds=time.perf_counter() - t0,
                                  final=final.tolist())
            if p is not None:
                results[label]["final_values"] = {
                    n: metrics[f"hp_{n}"][:, -1].reshape(args.members, args.seeds).tolist()
                    for n in pop.names}
                results[label]["copies"] = int(
                    (metrics["pbt_parent"] != np.arange(len(final.reshape(-1)))[:, None]).sum())
            b, hb = mean_ci(best)
            m, hm = mean_ci(mean)
            print(f"{task} {label}: best member {float(b):.2f} ± {float(hb):.2f}, population "
                  f"mean {float(m):.2f} ± {float(hm):.2f} ({results[label]['seconds']:.0f} s)",
                  flush=True)
    return results, pop.to_dict()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=["sweep", "pbt"], required=True)
    parser.add_argument("--points", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=128_000, help="sweep: env steps per run")
    parser.add_argument("--tasks", nargs="+", default=["simple_spread", "simple_speaker_listener"])
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--pbt-steps", type=int, default=640_000, help="env steps per member")
    parser.add_argument("--pbt-every", type=int, default=20)
    parser.add_argument("--tag", default="", help="results/<name>_<tag>.{json,md}")
    args = parser.parse_args(argv)
    parallel.use_cpu_devices()  # as the CLI does: one CPU device per core

    from bench_utils import markdown_table, write_result

    from jaxmarl_lite.stats import mean_ci

    if args.part == "sweep":
        rec, rows = sweep_part(args)
        md = (f"# One compiled sweep vs separate runs (MAPPO, simple_spread)\n\n"
              f"{args.points}-point learning-rate sweep x {args.seeds} seeds, "
              f"`mappo_paper_mpe` feed-forward, {args.steps:,} env steps per run, default "
              f"placement ({rec['placement']}). Wall time, compile included:\n\n"
              + markdown_table(["", "wall s", "of which compile s"], [
                  ["one compiled sweep", f"{rec['sweep_s']:.1f}", f"{rec['sweep_compile_s']:.1f}"],
                  [f"{args.points} separate runs", f"{rec['separate_s']:.1f}",
                   f"{rec['separate_compile_s']:.1f}"],
                  ["ratio (sweep / separate)", f"**{rec['ratio']:.2f}**", ""]])
              + "\nFinal greedy return per point (mean ± 95% CI over seeds); the largest "
                "difference between a sweep member and its separate run:\n\n"
              + markdown_table(["lr", "sweep", "separate", "max |difference|"], rows)
              + f"\nReproduce: `python benchmarks/sweep_pbt.py {' '.join(sys.argv[1:])}`\n")
        print(md)
        write_result("sweep_vs_separate" + (f"_{args.tag}" if args.tag else ""), rec, md)
        return
    rows, record = [], {}
    for task in args.tasks:
        res, start = pbt_part(args, task)
        record[task] = res
        for label in ("fixed", "pbt"):
            b, hb = mean_ci(res[label]["best"])
            m, hm = mean_ci(res[label]["mean"])
            rows.append([task, label, f"{float(b):.2f} ± {float(hb):.2f}",
                         f"{float(m):.2f} ± {float(hm):.2f}",
                         ", ".join(f"{v:.2f}" for v in res[label]["best"]),
                         f"{res[label]['seconds']:.0f}"])
        md = (f"# PBT vs a fixed population (MAPPO)\n\n{args.members} members x "
              f"{args.seeds} seeds, {args.pbt_steps:,} env steps per member, "
              f"`mappo_paper_mpe` feed-forward; starting values drawn from lr 1e-4..3e-3 "
              f"(log) and ent_coef 0..0.05 (the same draws for both); PBT every "
              f"{args.pbt_every} updates, bottom 25% copy the top 25%, x0.8/1.2 or resample "
              f"(p=0.25). Final greedy return (64 episodes), mean ± 95% CI over seeds:\n\n"
              + markdown_table(["task", "population", "best member", "population mean",
                                "best per seed", "wall s"], rows)
              + f"\nReproduce: `python benchmarks/sweep_pbt.py {' '.join(sys.argv[1:])}`\n")
        write_result("pbt_vs_fixed" + (f"_{args.tag}" if args.tag else ""),
                     dict(results=record, start=start, args=vars(args)), md)
    print(md)


if __name__ == "__main__":
    main()
