"""Run by tests/test_parallel.py in a fresh process with 4 virtual CPU devices (the device
count must be fixed before JAX starts). Trains tiny configs on meshes of 1, 2 and 4 devices
and prints one JSON line: per case, the largest parameter and metric difference to the
one-device run, and the messages of bad mesh requests."""
from __future__ import annotations

import json
import sys

from jaxmarl_lite import parallel

parallel.use_cpu_devices(4)

import jax  # noqa: E402
import numpy as np  # noqa: E402

import jaxmarl_lite as jl  # noqa: E402
from jaxmarl_lite import algorithms  # noqa: E402
from jaxmarl_lite.algorithms._common.training import init_seeds  # noqa: E402

UPDATES = 3
CASES = {
    "mappo": ("grid_meet", dict(num_envs=8, num_steps=8, num_minibatches=2, hidden_size=16,
                                eval_every=2, eval_episodes=8)),
    "qmix": ("grid_meet", dict(num_envs=8, learning_starts=0, batch_size=8, buffer_size=32,
                               hidden_size=16, mixer_embed_dim=8, hypernet_hidden=16,
                               eval_every=2, eval_episodes=8)),
    "maddpg": ("simple_spread", dict(num_envs=8, num_steps=4, learning_starts=0, batch_size=32,
                                     num_sgd_steps=2, buffer_size=128, hidden_size=16,
                                     eval_every=2, eval_episodes=8)),
}


def run(algo: str, seeds: int, devices: int, shard: str, calls=None, keys=None, **extra):
    """``calls``: a list that collects ``(i, metrics)`` of a progress callback every update."""
    env_name, overrides = CASES[algo]
    module = algorithms.get(algo)
    config = module.Config().replace(**overrides, **extra)
    stages = module.make_stages(config, jl.make(env_name))
    placement = parallel.make_placement(seeds, config.num_envs, devices, shard)
    keys = jax.random.split(jax.random.key(0), seeds) if keys is None else keys
    carry = parallel.place(init_seeds(stages, keys), placement)
    progress = None if calls is None else (
        lambda i, m: calls.append((int(i), {k: np.asarray(v).tolist() for k, v in m.items()})))
    result = parallel.compile_updates(stages, carry, UPDATES, placement, progress,
                                      every=1)(carry)
    mesh = dict(placement.mesh.shape)
    return parallel.gather(result.carry.params), jax.device_get(result.metrics), mesh


def alone_per_device(mesh_run, algo: str, seeds: int) -> dict:
    """Each seed of a run with one seed per device against that seed alone on one device
    (its own key, one compiled single-seed program): bitwise the same parameters."""
    keys = jax.random.split(jax.random.key(0), seeds)
    same = []
    for s in range(seeds):
        alone = run(algo, 1, 1, "seeds", keys=keys[s:s + 1])
        same.append(all(np.array_equal(x[s], y[0]) for x, y in
                        zip(jax.tree.leaves(mesh_run[0]), jax.tree.leaves(alone[0]))))
    return dict(bitwise_per_seed=same)


def difference(a, b) -> dict:
    params = max(float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))))
                 for x, y in zip(jax.tree.leaves(a[0]), jax.tree.leaves(b[0])))
    metrics = {k: float(np.nanmax(np.abs(a[1][k] - b[1][k]))) if np.isfinite(a[1][k]).any()
               else 0.0 for k in a[1]}
    same_nan = all(np.array_equal(np.isnan(a[1][k]), np.isnan(b[1][k])) for k in a[1])
    bitwise = all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a[0]),
                                                       jax.tree.leaves(b[0])))
    scale = max(float(np.max(np.abs(x))) for x in jax.tree.leaves(a[0]))
    return dict(params=params, metrics=metrics, same_nan=same_nan, bitwise=bitwise,
                param_scale=scale, mesh=b[2])


def bad(**kwargs) -> str:
    try:
        parallel.make_placement(**kwargs)
    except ValueError as err:
        return str(err)
    return "no error"


def main(which: str) -> None:
    out: dict = {"devices": len(jax.devices())}
    if which in ("seeds", "all"):
        # one seed per device (4 on 4: per-device programs, each seed unbatched, progress
        # gathered from every device) and two per device (maddpg: 4 seeds on 2 devices)
        calls: list = []
        mesh_run = run("qmix", 4, 4, "seeds", calls=calls)
        out["qmix/seeds4"] = difference(run("qmix", 4, 1, "seeds"), mesh_run)
        out["qmix/seeds4"].update(alone_per_device(mesh_run, "qmix", 4), calls=calls,
                                  returns=mesh_run[1]["episode_return"].tolist())
        out["mappo/seeds4"] = difference(run("mappo", 4, 1, "seeds"), run("mappo", 4, 4, "seeds"))
        out["maddpg/seeds4"] = difference(run("maddpg", 4, 1, "seeds"),
                                          run("maddpg", 4, 2, "seeds"))
    if which in ("envs", "all"):
        # MAPPO with stratified minibatches (each stays on its devices) on 2 and 4 env
        # shards; the uniform shuffle (minibatches gathered across devices) on the 2x2 mesh
        for algo, extra in (("mappo", dict(minibatch_strata=4)), ("qmix", {})):
            one = run(algo, 1, 1, "envs", **extra)
            for d in ((2, 4) if algo == "mappo" else (2,)):
                out[f"{algo}/envs{d}"] = difference(one, run(algo, 1, d, "envs", **extra))
        one = run("mappo", 2, 1, "seeds")
        out["mappo/both2x2"] = difference(one, run("mappo", 2, 4, "both"))
    out["bad"] = dict(
        too_many=bad(seeds=1, num_envs=8, devices=8),
        envs_indivisible=bad(seeds=1, num_envs=6, devices=4, shard="envs"),
        seeds_indivisible=bad(seeds=3, num_envs=8, devices=2, shard="seeds"),
        both_indivisible=bad(seeds=2, num_envs=8, devices=4, shard="both", seed_shards=3),
    )
    out["auto"] = {str(s): dict(parallel.make_placement(s, 8).mesh.shape) for s in (1, 2, 3, 4, 6, 8)}
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "all")
