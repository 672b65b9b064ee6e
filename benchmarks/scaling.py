"""Scaling over devices: env-steps/s of env stepping and of every training loop against the
device count, weak scaling (fixed work per device) and strong scaling (fixed total work),
with the seeds or the envs split over the devices (:mod:`jaxmarl_lite.parallel`).

Everything is measured side by side in one process, on meshes over the first 1, 2, ...
devices; efficiency = rate on d devices / (d x rate on 1 device) for weak scaling and
speedup = rate on d / rate on 1 for strong scaling. Compile time is excluded (reported);
each rate is the best of ``--repeats`` runs of the compiled loop from the same carry.

    python benchmarks/scaling.py                               # CPU: one device per core
    python benchmarks/scaling.py --devices 1 2 4 8 --envs-per-device 16384 --large-envs 4096
    python benchmarks/scaling.py --algos mappo_large --shard envs --scaling weak

On CPU the script exposes one virtual device per core (``--cpu-devices`` to change it;
the count is fixed before JAX starts). Results: results/scaling[_<tag>].{json,md}.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jaxmarl_lite import parallel  # noqa: E402

# name -> (algorithm, preset, overrides): the loops measured (JaxMARL's settings where
# they exist; "mappo_large" is feed-forward MAPPO at a large batch, with minibatches
# stratified over 8 groups of envs so that none crosses devices on up to 8 env shards)
LOOPS = {
    "mappo_large": ("mappo", "jaxmarl_mappo_rnn_mpe",
                    dict(recurrent=False, hidden_size=64, num_envs=256, num_steps=32,
                         num_minibatches=4, minibatch_strata=8)),
    "ippo": ("ippo", "jaxmarl_ippo_ff_mpe", {}),
    "mappo_rnn": ("mappo", "jaxmarl_mappo_rnn_mpe", {}),
    "qmix": ("qmix", "jaxmarl_ql_rnn_mpe", {}),
    "vdn": ("vdn", "jaxmarl_ql_rnn_mpe", {}),
    "iql": ("iql", "jaxmarl_ql_rnn_mpe", {}),
    "maddpg": ("maddpg", "mpe_fast", {}),
}


def best_of(compiled, arg, repeats: int) -> float:
    import jax

    jax.block_until_ready(compiled(arg))  # warm
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(arg))
        best = min(best, time.perf_counter() - t0)
    return best


def env_stepping(env, num_envs: int, devices: int, steps: int, repeats: int):
    """``(compile_s, env-steps/s)`` of ``steps`` random-action steps of ``num_envs`` envs
    split over ``devices`` devices (a ``VecEnv`` under an ``envs`` mesh)."""
    import jax
    from jax.sharding import NamedSharding, PartitionSpec as P

    from jaxmarl_lite.wrappers import VecEnv

    placement = parallel.make_placement(1, num_envs, devices, "envs")
    venv = VecEnv(env, num_envs)

    def rollout(state, key):
        def body(state, key):
            act_key, step_key = jax.random.split(key)
            actions = venv.sample_actions(act_key, state)
            _, state, reward, *_ = venv.step(step_key, state, actions)
            return state, reward.sum()

        state, rewards = jax.lax.scan(body, state, jax.random.split(key, steps))
        return state, rewards.sum()

    with jax.set_mesh(placement.mesh):
        sharding = NamedSharding(placement.mesh, P(parallel.ENVS))
        state = jax.device_put(venv.reset(jax.random.key(0))[1], sharding)
        t0 = time.perf_counter()
        compiled = jax.jit(rollout, in_shardings=(sharding, None),
                           out_shardings=(sharding, placement.replicated())
                           ).lower(state, jax.random.key(1)).compile()
        compile_s = time.perf_counter() - t0
    run_s = best_of(lambda s: compiled(s, jax.random.key(1)), state, repeats)
    return compile_s, num_envs * steps / run_s


def training_loop(loop: str, seeds: int, num_envs: int, devices: int, shard: str,
                  updates: int, repeats: int):
    """``(compile_s, env-steps/s over all seeds, config)`` of ``updates`` updates."""
    import jax

    import jaxmarl_lite as jl
    from jaxmarl_lite.algorithms import get
    from jaxmarl_lite.algorithms._common.training import init_seeds

    algo, preset, overrides = LOOPS[loop]
    module = get(algo)
    cfg = module.PRESETS[preset].replace(**{**overrides, "num_envs": num_envs,
                                            "eval_every": 10**9})
    env = jl.make("simple_spread")
    steps_per_update = num_envs * (env.max_episode_steps if algo in ("iql", "vdn", "qmix")
                                   else cfg.num_steps)
    # one replace (a config validates itself): time the learning updates, not the warm-up
    cfg = cfg.replace(total_timesteps=steps_per_update * (updates + 1),
                      **({"learning_starts": 0} if hasattr(cfg, "learning_starts") else {}))
    stages = module.make_stages(cfg, env)
    placement = parallel.make_placement(seeds, num_envs, devices, shard)
    carry = parallel.place(init_seeds(stages, jax.random.split(jax.random.key(0), seeds)),
                           placement)
    t0 = time.perf_counter()
    compiled = parallel.compile_updates(stages, carry, updates, placement)
    compile_s = time.perf_counter() - t0
    run_s = best_of(compiled, carry, repeats)
    return compile_s, seeds * steps_per_update * updates / run_s, cfg


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, nargs="+", default=None,
                        help="device counts to compare (default: 1 and every power of two "
                             "up to all devices)")
    parser.add_argument("--cpu-devices", type=int, default=None,
                        help="virtual CPU devices (default: one per core)")
    parser.add_argument("--algos", nargs="*", default=list(LOOPS), choices=list(LOOPS))
    parser.add_argument("--shard", nargs="+", default=["seeds", "envs"], choices=["seeds", "envs"])
    parser.add_argument("--scaling", nargs="+", default=["weak", "strong"],
                        choices=["weak", "strong"])
    parser.add_argument("--seeds-per-device", type=int, default=2,
                        help="weak scaling over seeds: seeds per device")
    parser.add_argument("--seeds", type=int, default=4, help="strong scaling over seeds: total")
    parser.add_argument("--large-envs", type=int, default=512,
                        help="envs split, strong scaling: also this many envs in total (a "
                             "large batch) beside the loop's own num_envs")
    parser.add_argument("--env", default="simple_spread", help="env of the stepping benchmark")
    parser.add_argument("--envs-per-device", type=int, default=4096,
                        help="env stepping, weak scaling: envs per device")
    parser.add_argument("--total-envs", type=int, default=16384,
                        help="env stepping, strong scaling: envs in total")
    parser.add_argument("--steps", type=int, default=100, help="env stepping: steps per call")
    parser.add_argument("--updates", type=int, default=4, help="training: updates per call")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-env-stepping", action="store_true")
    parser.add_argument("--tag", default="", help="results/scaling_<tag>.{json,md}")
    args = parser.parse_args(argv)
    parallel.use_cpu_devices(args.cpu_devices)

    import jax

    from bench_utils import machine_info, markdown_table, write_result

    import jaxmarl_lite as jl
    from jaxmarl_lite.algorithms import get

    available = len(jax.devices())
    counts = args.devices or sorted({1, *[2 ** k for k in range(1, 8) if 2 ** k <= available]})
    if max(counts) > available:
        raise SystemExit(f"--devices {max(counts)}: only {available} devices exist")
    rows, records = [], []

    def add(what, shard, scaling, d, work, rate, compile_s, base):
        ratio = rate / base if base else 1.0
        eff = ratio / d if scaling == "weak" else ratio
        rec = dict(what=what, shard=shard, scaling=scaling, devices=d, work=work,
                   env_steps_per_s=rate, compile_s=compile_s,
                   speedup=ratio, efficiency=eff if scaling == "weak" else ratio / d)
        records.append(rec)
        label = "efficiency" if scaling == "weak" else "speedup"
        rows.append([what, shard, scaling, d, work, f"{rate:,.0f}",
                     f"{ratio:.2f}x", f"{rec['efficiency']:.0%}", f"{compile_s:.1f}"])
        print(f"{what:12s} {shard:5s} {scaling:6s} devices={d} {work:>22s} {rate:12,.0f} "
              f"env-steps/s  {label} {eff:.2f}  compile {compile_s:.1f}s", flush=True)

    if not args.no_env_stepping:
        env = jl.make(args.env)
        for scaling in args.scaling:
            base = None
            for d in counts:
                n = args.envs_per_device * d if scaling == "weak" else args.total_envs
                if n % d:
                    continue
                c, rate = env_stepping(env, n, d, args.steps, args.repeats)
                base = base or rate
                add(f"env {args.env}", "envs", scaling, d, f"{n} envs", rate, c, base)
    for loop in args.algos:
        algo, preset, overrides = LOOPS[loop]
        own_envs = get(algo).PRESETS[preset].replace(**overrides).num_envs
        for shard in args.shard:
            for scaling in args.scaling:
                # envs split: weak = the loop's own num_envs per device; strong = its own
                # num_envs in total, and --large-envs in total (a large batch)
                totals = [None] if shard == "seeds" or scaling == "weak" else \
                    sorted({own_envs, max(own_envs, args.large_envs)})
                for total in totals:
                    base = None
                    for d in counts:
                        if shard == "seeds":
                            seeds = args.seeds_per_device * d if scaling == "weak" else args.seeds
                            n = own_envs
                            if seeds % d:
                                continue
                            work = f"{seeds} seeds x {n} envs"
                        else:
                            seeds, n = 1, own_envs * d if scaling == "weak" else total
                            if n % d:
                                continue
                            work = f"1 seed x {n} envs"
                        c, rate, _ = training_loop(loop, seeds, n, d, shard, args.updates,
                                                   args.repeats)
                        base = base or rate
                        add(loop, shard, scaling, d, work, rate, c, base)
    info = machine_info()
    name = "scaling" + (f"_{args.tag}" if args.tag else "")
    md = (f"# Scaling over devices ({info['backend']}: {len(jax.devices())} device(s), "
          f"{info['cpu']}, {info['cpu_count']} cores; jax {info['versions']['jax']})\n\n"
          + markdown_table(["what", "split", "scaling", "devices", "work", "env-steps/s",
                            "vs 1 device", "efficiency (per device)", "compile s"], rows)
          + "\nWeak scaling: the work per device is fixed (seeds per device, or the loop's "
            "own num_envs per device); strong: the total is fixed (seeds; the loop's own "
            "num_envs, and a large batch). Efficiency = rate on d devices / (d x "
            "rate on 1 device). Loops: " + "; ".join(
                f"`{k}` = {a} `{p}`{(' + ' + str(o)) if o else ''}"
                for k, (a, p, o) in LOOPS.items() if k in args.algos)
          + f". {args.updates} updates per timed call, evaluation off, learning from the "
            f"first update; best of {args.repeats}.\n\n"
            f"Reproduce: `python benchmarks/scaling.py {' '.join(sys.argv[1:])}`\n")
    print(md)
    write_result(name, dict(devices=counts, results=records, args=vars(args)), md)


if __name__ == "__main__":
    main()
