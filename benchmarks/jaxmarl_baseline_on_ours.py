"""JaxMARL's own baseline script, unchanged, training on one of our envs through
``jaxmarl_lite.interop.jaxmarl.to_jaxmarl``, beside the same script on JaxMARL's env.

The script (default ``baselines/IPPO/ippo_ff_mpe.py`` of a FLAIROx/JaxMARL checkout, with
its own YAML config) is imported as it is; the only change is what its ``jaxmarl.make``
returns: ``to_jaxmarl(jl.make(OURS))`` instead of JaxMARL's ``MPE_simple_spread_v3``. Both
sides run its ``make_train`` with the same config, budget and keys (seeds vmapped); the
table gives the script's own metric, ``returned_episode_returns`` (team return, x agents
as its ``MPELogWrapper`` reports it), at the first and the last update, mean and 95% CI
over seeds.

    PYTHONPATH=. python benchmarks/jaxmarl_baseline_on_ours.py --jaxmarl <JaxMARL checkout>
"""
from __future__ import annotations

import argparse
import sys
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402

from bench_utils import load_jaxmarl_baseline, markdown_table, write_result  # noqa: E402

import jaxmarl_lite as jl  # noqa: E402
from jaxmarl_lite.interop.jaxmarl import to_jaxmarl  # noqa: E402
from jaxmarl_lite.stats import mean_ci  # noqa: E402


def run(module, config, make, keys):
    """The script's ``make_train(config)`` with ``jaxmarl.make`` answered by ``make``."""
    real = module.jaxmarl
    module.jaxmarl = types.SimpleNamespace(make=make)
    try:
        train = jax.jit(jax.vmap(module.make_train(dict(config))))
    finally:
        module.jaxmarl = real
    t0 = time.perf_counter()
    out = jax.block_until_ready(train(keys))
    seconds = time.perf_counter() - t0
    returns = np.asarray(out["metrics"]["returned_episode_returns"])  # [S, U, T, E*N]
    per_update = returns.reshape(returns.shape[0], returns.shape[1], -1).mean(-1)  # [S, U]
    return per_update, seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jaxmarl", required=True, help="a FLAIROx/JaxMARL checkout")
    parser.add_argument("--script", default="baselines/IPPO/ippo_ff_mpe.py")
    parser.add_argument("--config", default="baselines/IPPO/config/ippo_ff_mpe.yaml")
    parser.add_argument("--ours", default="simple_spread", help="our env (jl.make name)")
    parser.add_argument("--steps", type=int, default=1_000_000, help="TOTAL_TIMESTEPS")
    parser.add_argument("--seeds", type=int, default=4)
    args = parser.parse_args(argv)
    root = Path(args.jaxmarl)
    module = load_jaxmarl_baseline(root / args.script)
    config = yaml.safe_load((root / args.config).read_text())
    config["TOTAL_TIMESTEPS"] = args.steps
    keys = jax.random.split(jax.random.key(0), args.seeds)
    ours = jl.make(args.ours)
    sides = {
        f"ours: to_jaxmarl(jl.make({args.ours!r}))": lambda name, **kw: to_jaxmarl(ours),
        f"JaxMARL: {config['ENV_NAME']}": module.jaxmarl.make,
    }
    rows, record = [], {}
    for label, make in sides.items():
        per_update, seconds = run(module, config, make, keys)
        first, last = per_update[:, 0], per_update[:, -1]
        (m0, h0), (m1, h1) = mean_ci(first), mean_ci(last)
        rows.append([label, f"{float(m0):.2f} ± {float(h0):.2f}",
                     f"{float(m1):.2f} ± {float(h1):.2f}",
                     ", ".join(f"{v:.2f}" for v in last), f"{seconds:.0f}"])
        record[label] = dict(first=first.tolist(), last=last.tolist(), seconds=seconds,
                             curve_mean=per_update.mean(0).tolist())
        print(rows[-1], flush=True)
    md = (f"# JaxMARL's `{args.script}`, unchanged, on our env\n\n"
          f"Its config `{args.config}` with TOTAL_TIMESTEPS={args.steps:,}, {args.seeds} seeds "
          f"(keys `split(key(0), {args.seeds})`, vmapped). The script's own metric "
          "(`returned_episode_returns`, its `MPELogWrapper` scales rewards by the number of "
          "agents), mean over the envs of an update, then mean ± 95% CI over seeds:\n\n"
          + markdown_table(["env given to the script", "first update", "last update",
                            "last update per seed", "wall s (compile included)"], rows)
          + f"\nReproduce: `PYTHONPATH=. python benchmarks/jaxmarl_baseline_on_ours.py "
            f"{' '.join(sys.argv[1:] if argv is None else argv)}`\n")
    print(md)
    write_result("jaxmarl_baseline_on_ours", dict(args=vars(args), results=record), md)


if __name__ == "__main__":
    main()
