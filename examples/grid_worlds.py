"""The seed tutorials' two grid worlds: independent Q-learners walking to a goal, and QMIX
agents that must meet, each trained on many seeds at once and compared with a random policy.

    python examples/grid_worlds.py          # ~1-2 min on 2 CPU cores
    python examples/grid_worlds.py --tiny   # a smoke run (what CI runs)
"""
import argparse

import jax

import jaxmarl_lite as jl
from jaxmarl_lite.algorithms import evaluate, iql, qmix, random_policy


def train_and_compare(module, env, steps: int, seeds: int) -> None:
    config = module.PRESETS["grid_quick"].replace(total_timesteps=steps)
    train = jax.jit(jax.vmap(module.make_train(config, env)))
    out = train(jax.random.split(jax.random.key(0), seeds))  # one seed per key, all at once
    policy = module.make_policy(config, env)  # greedy
    returns = jax.vmap(lambda p, k: evaluate(env, policy, p, k, 64).team_return.mean())(
        out.carry.params, jax.random.split(jax.random.key(1), seeds))
    rand = evaluate(env, random_policy(env), None, jax.random.key(2), 256).team_return.mean()
    print(f"{module.__name__.split('.')[-1]} on {type(env).__name__}: greedy return per seed "
          f"{[round(float(r), 2) for r in returns]}, random policy {float(rand):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a few updates only (CI)")
    args = parser.parse_args()
    steps, seeds = (2_048, 2) if args.tiny else (100_000, 4)
    # IQL: two agents walk from (0, 0) to the goal (3, 3) of a 4x4 grid, +1 each on arrival
    train_and_compare(iql, jl.make("grid_goal"), steps, seeds)
    # QMIX: agents start in opposite corners of a 5x5 grid and must meet (optimal return 7)
    train_and_compare(qmix, jl.make("grid_meet"), steps, seeds)


if __name__ == "__main__":
    main()
