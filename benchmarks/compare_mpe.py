"""MPE throughput: jaxmarl-lite vs JaxMARL vs mpe2, side by side in one run.

Every implementation steps ``num_envs`` copies with uniformly random legal discrete
actions through its public auto-resetting ``step`` (ours through ``VecEnv``, JaxMARL's
``env.step`` under ``vmap``), inside one jitted ``lax.scan``; compile time is reported
separately. mpe2 (the reference, pure Python/NumPy) runs single-process, one env.

Needs JaxMARL and mpe2 next to this package, e.g. a separate virtualenv::

    python -m venv /tmp/bench && /tmp/bench/bin/pip install jaxmarl mpe2==1.1.1
    PYTHONPATH=. /tmp/bench/bin/python benchmarks/compare_mpe.py

Missing peers are skipped (and recorded as such). Numbers on a shared machine are
noisy: compare the ratios measured in the same run.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_utils import markdown_table, time_compiled, write_result  # noqa: E402

import jaxmarl_lite as jl  # noqa: E402
import jaxmarl_lite.envs.mpe  # noqa: E402,F401
from jaxmarl_lite.run_files import package_versions  # noqa: E402
from jaxmarl_lite.wrappers import VecEnv  # noqa: E402

TASKS = {  # ours -> (JaxMARL name, mpe2 module)
    "simple_spread": ("MPE_simple_spread_v3", "simple_spread_v3"),
    "simple_tag": ("MPE_simple_tag_v3", "simple_tag_v3"),
    "simple_world_comm": ("MPE_simple_world_comm_v3", "simple_world_comm_v3"),
}


def random_actions(key, num_envs, sizes):
    """``[num_envs, n]`` int32, agent i uniform in ``range(sizes[i])``."""
    u = jax.random.uniform(key, (num_envs, len(sizes)))
    return jnp.floor(u * jnp.asarray(sizes, jnp.float32)).astype(jnp.int32)


def ours_rollout(name, num_envs, steps):
    env = VecEnv(jl.make(name), num_envs)
    sizes = env.action_sizes

    def run(key):
        _, state = env.reset(key)

        def body(carry, key):
            state, total = carry
            k_act, k_step = jax.random.split(key)
            _, state, reward, _, _, _ = env.step(k_step, state, random_actions(k_act, num_envs, sizes))
            return (state, total + reward.sum()), None

        return jax.lax.scan(body, (state, 0.0), jax.random.split(key, steps))[0][1]

    return run


def jaxmarl_rollout(jaxmarl, name, num_envs, steps):
    env = jaxmarl.make(name, action_type="Discrete")  # world_comm defaults to continuous
    agents = list(env.agents)
    sizes = [env.action_space(a).n for a in agents]

    def run(key):
        _, state = jax.vmap(env.reset)(jax.random.split(key, num_envs))

        def body(carry, key):
            state, total = carry
            k_act, k_step = jax.random.split(key)
            acts = random_actions(k_act, num_envs, sizes)
            actions = {a: acts[:, i] for i, a in enumerate(agents)}
            _, state, reward, _, _ = jax.vmap(env.step)(jax.random.split(k_step, num_envs), state, actions)
            return (state, total + sum(reward[a].sum() for a in agents)), None

        return jax.lax.scan(body, (state, 0.0), jax.random.split(key, steps))[0][1]

    return run


def mpe2_steps_per_second(module_name, seconds):
    env = importlib.import_module(f"mpe2.{module_name}").parallel_env()
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    sizes = {a: env.action_space(a).n for a in env.possible_agents}
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        if not env.agents:
            env.reset()
        env.step({a: int(rng.integers(sizes[a])) for a in env.agents})
        steps += 1
    return steps / (time.perf_counter() - t0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-envs", type=int, nargs="+", default=[1, 256, 4096, 16384])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--env-steps", type=int, default=1_000_000, help="env-steps per timed call")
    parser.add_argument("--mpe2-seconds", type=float, default=3.0)
    parser.add_argument("--name", default="compare_mpe")
    args = parser.parse_args()

    try:
        jaxmarl = importlib.import_module("jaxmarl")
    except ImportError as err:  # measured without it
        print(f"JaxMARL not importable ({err}); skipping it")
        jaxmarl = None
    try:
        importlib.import_module("mpe2")
        have_mpe2 = True
    except ImportError:
        print("mpe2 not importable; skipping it")
        have_mpe2 = False

    results = []
    for task in args.tasks:
        jm_name, mpe2_name = TASKS[task]
        mpe2_sps = mpe2_steps_per_second(mpe2_name, args.mpe2_seconds) if have_mpe2 else None
        for num_envs in args.num_envs:
            steps = int(np.clip(args.env_steps // num_envs, 16, 2000))
            row = dict(task=task, num_envs=num_envs, steps_per_call=steps, mpe2=mpe2_sps)
            impls = [("ours", ours_rollout(task, num_envs, steps))]
            if jaxmarl is not None:
                impls.append(("jaxmarl", jaxmarl_rollout(jaxmarl, jm_name, num_envs, steps)))
            for label, fn in impls:
                compile_s, run_s = time_compiled(fn, jax.random.PRNGKey(0))
                row[label] = num_envs * steps / run_s
                row[f"{label}_compile_s"] = compile_s
            row["ours/jaxmarl"] = row["ours"] / row["jaxmarl"] if "jaxmarl" in row else None
            row["ours/mpe2"] = row["ours"] / mpe2_sps if mpe2_sps else None
            results.append(row)
            print(_fmt_row(row), flush=True)

    header = ["task", "num_envs", "ours (steps/s)", "JaxMARL (steps/s)", "mpe2 (steps/s)",
              "ours / JaxMARL", "ours / mpe2", "compile ours / JaxMARL (s)"]
    md = (
        f"# MPE throughput (random actions, auto-reset, CPU: {jax.devices()[0].device_kind}, "
        f"{jax.device_count()} device)\n\n" + markdown_table(header, [_fmt_row(r) for r in results])
        + "\nmpe2 runs one env in one process (its rate does not depend on num_envs). "
        "Noisy shared machine: compare ratios within this run.\n"
    )
    peers = package_versions(("jaxmarl", "mpe2", "pettingzoo", "jax", "jaxlib", "numpy"))
    path = write_result(args.name, {"results": results, "args": vars(args), "peers": peers}, md)
    print(md)
    print(f"wrote {path}")


def _fmt_row(r):
    def rate(v):
        return "-" if v is None else f"{v:,.0f}"

    def ratio(v):
        return "-" if v is None else f"{v:.2f}x"

    comp = f"{r['ours_compile_s']:.1f} / " + (f"{r['jaxmarl_compile_s']:.1f}" if "jaxmarl_compile_s" in r else "-")
    return [r["task"], r["num_envs"], rate(r["ours"]), rate(r.get("jaxmarl")), rate(r["mpe2"]),
            ratio(r["ours/jaxmarl"]), ratio(r["ours/mpe2"]), comp]


if __name__ == "__main__":
    main()
