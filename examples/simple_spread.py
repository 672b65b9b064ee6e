"""Cooperative navigation (MPE simple_spread): MAPPO (centralised critic, shared actor) and
MADDPG (centralised critics, deterministic actors with Gumbel-softmax for discrete actions),
several seeds each at the same budget, beside a random policy.

    python examples/simple_spread.py          # ~10 min on 2 CPU cores
    python examples/simple_spread.py --tiny   # a smoke run (what CI runs)
"""
import argparse

import jax
import numpy as np

import jaxmarl_lite as jl
from jaxmarl_lite.algorithms import evaluate, maddpg, mappo, random_policy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a few updates only (CI)")
    args = parser.parse_args()
    env = jl.make("simple_spread")  # 3 agents, 25-step episodes, discrete actions
    steps, seeds = (4_096, 2) if args.tiny else (300_000, 4)
    configs = {"mappo": (mappo, mappo.PRESETS["mappo_paper_mpe"].replace(recurrent=False)),
               "maddpg": (maddpg, maddpg.PRESETS["mpe_fast"])}
    for name, (module, config) in configs.items():
        budget = dict(total_timesteps=steps)
        if hasattr(config, "learning_starts"):  # MADDPG: start learning within the budget
            budget["learning_starts"] = min(config.learning_starts, steps // 2)
        config = config.replace(**budget)
        out = jax.jit(jax.vmap(module.make_train(config, env)))(
            jax.random.split(jax.random.key(0), seeds))
        policy = module.make_policy(config, env)
        returns = jax.vmap(lambda p, k: evaluate(env, policy, p, k, 64).team_return.mean())(
            out.carry.params, jax.random.split(jax.random.key(1), seeds))
        print(f"{name}: greedy return {np.mean(returns):.2f} "
              f"(per seed {np.round(np.asarray(returns), 2).tolist()})")
    rand = evaluate(env, random_policy(env), None, jax.random.key(2), 256).team_return.mean()
    print(f"random policy: {float(rand):.2f}")


if __name__ == "__main__":
    main()
