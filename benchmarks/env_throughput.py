"""Env-steps/second of every registered env: ``jit(lax.scan(vmap(step)))``, random actions.

    python benchmarks/env_throughput.py                 # all envs, num_envs 1 64 1024 16384
    python benchmarks/env_throughput.py --envs grid_meet --num-envs 1 1024 --steps 100

Compile time is reported separately from run time. Results: results/env_throughput.{json,md}.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax

sys.path.insert(0, str(Path(__file__).resolve().parent))
import jaxmarl_lite as jl  # noqa: E402
from bench_utils import markdown_table, machine_info, time_compiled, write_result  # noqa: E402


def make_rollout(env, num_envs: int, num_steps: int):
    def rollout(key):
        key, reset_key = jax.random.split(key)
        _, state = jax.vmap(env.reset)(jax.random.split(reset_key, num_envs))

        def body(state, key):
            act_key, step_key = jax.random.split(key)
            actions = jax.vmap(env.sample_actions)(jax.random.split(act_key, num_envs), state)
            _, state, reward, *_ = jax.vmap(env.step)(
                jax.random.split(step_key, num_envs), state, actions
            )
            return state, reward.sum()

        state, rewards = jax.lax.scan(body, state, jax.random.split(key, num_steps))
        return rewards.sum()

    return rollout


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="*", default=None, help="env names (default: all)")
    parser.add_argument("--num-envs", nargs="*", type=int, default=[1, 64, 1024, 16384])
    parser.add_argument("--steps", type=int, default=200, help="scan length per timed call")
    parser.add_argument("--out", default="env_throughput", help="result file stem")
    args = parser.parse_args(argv)
    names = args.envs or jl.registered_envs()
    rows, records = [], []
    for name in names:
        env = jl.make(name)
        for n in args.num_envs:
            fn = make_rollout(env, n, args.steps)
            compile_s, run_s = time_compiled(fn, jax.random.key(0))
            sps = n * args.steps / run_s
            records.append(dict(env=name, num_envs=n, steps=args.steps, compile_s=compile_s,
                                run_s=run_s, env_steps_per_s=sps))
            rows.append([name, n, f"{sps:,.0f}", f"{compile_s:.2f}"])
            print(f"{name:28s} num_envs={n:6d}  {sps:14,.0f} env-steps/s  compile {compile_s:5.2f}s",
                  flush=True)
    info = machine_info()
    md = (f"Env throughput ({info['cpu']}, {info['cpu_count']} cores, {info['backend']}, "
          f"jax {info['versions']['jax']}), {args.steps} steps per call, random legal actions.\n\n"
          + markdown_table(["env", "num_envs", "env-steps/s", "compile s"], rows))
    path = write_result(args.out, {"results": records}, md)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
