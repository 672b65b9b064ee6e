"""``jaxmarl-lite`` command line (also ``python -m jaxmarl_lite``).

    jaxmarl-lite train ALGO ENV [--seeds N] [--total-steps N] [--preset NAME]
                       [--set field=value ...] [--env-set key=value ...] [--config FILE]
                       [--out DIR] [--save-every K] [--resume RUN_DIR]
    jaxmarl-lite eval RUN_DIR [--episodes N] [--gif PATH]
    jaxmarl-lite plot RUN_DIR [RUN_DIR ...] [--out PNG] [--metric NAME]
    jaxmarl-lite list
    jaxmarl-lite bench NAME [ARGS ...]

``--set`` values are parsed with the type of the algorithm ``Config`` field they set (the
dataclass is the only definition of the options); ``--config`` reads a JSON or YAML mapping
of the same fields. Bad names and values fail before anything compiles, listing the valid
choices.
"""
from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any, Dict, List, Optional

from jaxmarl_lite import algorithms, runs
from jaxmarl_lite.registry import make, registered_envs, unknown_name_message


def parse_value(text: str, hint: Any, where: str) -> Any:
    """``text`` as a value of type ``hint`` (bool/int/float/str/Literal/tuple)."""
    origin = typing.get_origin(hint)
    if hint is bool:
        low = text.lower()
        if low in ("true", "1", "yes"):
            return True
        if low in ("false", "0", "no"):
            return False
        raise ValueError(f"{where} expects true/false, got {text!r}")
    if hint is int or hint is float:
        try:
            number = float(text.replace("_", ""))
        except ValueError:
            raise ValueError(f"{where} expects {hint.__name__}, got {text!r}") from None
        if hint is int:
            if number != int(number):
                raise ValueError(f"{where} expects int, got {text!r}")
            return int(number)
        return number
    if origin is typing.Literal:
        choices = typing.get_args(hint)
        if text not in choices:
            raise ValueError(f"{where} must be one of {', '.join(map(str, choices))}; got {text!r}")
        return text
    if hint is str:
        return text
    try:  # tuples, None, anything else Python-literal
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _split_assignment(item: str, flag: str) -> tuple[str, str]:
    if "=" not in item:
        raise ValueError(f"{flag} expects field=value, got {item!r}")
    key, value = item.split("=", 1)
    return key.strip(), value.strip()


def parse_overrides(algo: str, items: List[str], config_file: Optional[str]) -> Dict[str, Any]:
    """Config overrides from ``--config FILE`` then ``--set`` (later wins), type-parsed."""
    config_cls = algorithms.get(algo).Config
    hints = config_cls.field_types()
    values: Dict[str, Any] = {}
    if config_file:
        path = Path(config_file)
        text = path.read_text()
        if path.suffix in (".yaml", ".yml"):
            import yaml

            loaded = yaml.safe_load(text) or {}
        else:
            loaded = json.loads(text)
        if not isinstance(loaded, dict):
            raise ValueError(f"{config_file} must hold a mapping of {config_cls.__name__} fields")
        config_cls.check_names(loaded)
        values.update(loaded)
    for item in items:
        key, text = _split_assignment(item, "--set")
        config_cls.check_names([key])
        values[key] = parse_value(text, hints[key], f"{config_cls.__name__}.{key}")
    return values


def parse_env_kwargs(env: str, items: List[str]) -> Dict[str, Any]:
    kwargs = {}
    for item in items:
        key, text = _split_assignment(item, "--env-set")
        try:
            kwargs[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            kwargs[key] = text
    make(env, **kwargs)  # unknown envs/kwargs and bad values fail here, before compiling
    return kwargs


def _monitoring(args) -> Dict[str, Any]:
    return dict(progress_every=args.progress_every, tensorboard=args.tensorboard,
                wandb_project=args.wandb)


def _cmd_train(args) -> int:
    if args.resume:
        run_dir = runs.resume(args.resume, progress=not args.no_progress, **_monitoring(args))
    else:
        if args.algo is None or args.env is None:
            raise ValueError("train needs ALGO and ENV (or --resume RUN_DIR)")
        overrides = parse_overrides(args.algo, args.set, args.config)
        env_kwargs = parse_env_kwargs(args.env, args.env_set)
        out = args.out or f"runs/{args.algo}_{args.env}"
        run_dir = runs.train(args.algo, args.env, out=out, seeds=args.seeds, seed=args.seed,
                             total_steps=args.total_steps, preset=args.preset,
                             overrides=overrides, env_kwargs=env_kwargs,
                             save_every=args.save_every, progress=not args.no_progress,
                             stop_after=args.stop_after, **_monitoring(args))
    summary = Path(run_dir) / "summary.md"
    if summary.exists():
        print(summary.read_text())
    if args.plot and summary.exists():
        print(f"plot: {runs.plot_runs([run_dir], Path(run_dir) / 'curves.png')}")
    print(f"run directory: {run_dir}")
    return 0


def _cmd_eval(args) -> int:
    report = runs.evaluate_run(args.run_dir, episodes=args.episodes, seed=args.seed, gif=args.gif)
    lo, hi = report["mean_ci"]
    ilo, ihi = report["iqm_ci"]
    print(f"{report['algo']} on {report['env']}: {report['episodes']} episodes\n"
          f"  mean return {report['mean']:.3f}  (95% bootstrap CI {lo:.3f} .. {hi:.3f})\n"
          f"  IQM  return {report['iqm']:.3f}  (95% bootstrap CI {ilo:.3f} .. {ihi:.3f})\n"
          f"  per seed: {', '.join(f'{v:.3f}' for v in report['per_seed_mean'])}")
    if args.gif:
        print(f"  gif: {report['gif']}")
    return 0


def _cmd_plot(args) -> int:
    print(runs.plot_runs(args.run_dirs, args.out, metric=args.metric))
    return 0


def _cmd_list(args) -> int:
    print("environments:\n  " + "\n  ".join(registered_envs()))
    print("algorithms and presets:")
    for name in sorted(algorithms.ALGORITHMS):
        try:
            presets = ", ".join(sorted(algorithms.get(name).PRESETS)) or "-"
        except ValueError:
            presets = "(not implemented yet)"
        print(f"  {name}: {presets}")
    return 0


def _cmd_bench(args) -> int:
    bench_dir = Path(__file__).resolve().parents[1] / "benchmarks"
    scripts = sorted(p.stem for p in bench_dir.glob("*.py") if p.stem != "bench_utils")
    if not scripts:
        raise ValueError("benchmarks/ not found: `bench` runs from a source checkout")
    if args.name not in scripts:
        raise ValueError(unknown_name_message("benchmark", args.name, scripts))
    return subprocess.call([sys.executable, str(bench_dir / f"{args.name}.py"), *args.args])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jaxmarl-lite", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train an algorithm on an env (seeds vmapped)")
    t.add_argument("algo", nargs="?", help=f"one of {', '.join(sorted(algorithms.ALGORITHMS))}")
    t.add_argument("env", nargs="?", help="a registered env (see `list`)")
    t.add_argument("--seeds", type=int, default=1, help="seeds trained at once (vmap)")
    t.add_argument("--seed", type=int, default=0, help="base PRNG key")
    t.add_argument("--total-steps", type=int, help="env steps per seed (Config.total_timesteps)")
    t.add_argument("--preset", help="a named config preset (see `list`)")
    t.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a Config field (repeatable)")
    t.add_argument("--env-set", action="append", default=[], metavar="KEY=VALUE",
                   help="env constructor argument (repeatable)")
    t.add_argument("--config", help="JSON/YAML file of Config fields")
    t.add_argument("--out", help="new run directory (default runs/ALGO_ENV)")
    t.add_argument("--save-every", type=int, default=0, help="updates between checkpoints")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run")
    t.add_argument("--plot", action="store_true", help="write RUN_DIR/curves.png at the end")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--progress-every", type=int, default=0, metavar="K",
                   help="updates between progress callbacks from inside the compiled loop "
                        "(0: about 100 per run)")
    t.add_argument("--tensorboard", action="store_true",
                   help="log metrics to RUN_DIR/tensorboard (extra: jaxmarl-lite[tensorboard])")
    t.add_argument("--wandb", metavar="PROJECT",
                   help="log metrics to a W&B run (offline unless WANDB_MODE is set; "
                        "extra: jaxmarl-lite[wandb])")
    t.add_argument("--stop-after", type=int, help=argparse.SUPPRESS)  # tests: interrupt
    t.set_defaults(func=_cmd_train)
    e = sub.add_parser("eval", help="evaluate a run's final policies")
    e.add_argument("run_dir")
    e.add_argument("--episodes", type=int, default=128, help="episodes per seed")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--gif", help="write one episode of seed 0 as a GIF")
    e.set_defaults(func=_cmd_eval)
    p = sub.add_parser("plot", help="learning curves of runs (mean and 95%% CI over seeds)")
    p.add_argument("run_dirs", nargs="+")
    p.add_argument("--out", default="curves.png")
    p.add_argument("--metric", default="eval_return")
    p.set_defaults(func=_cmd_plot)
    ls = sub.add_parser("list", help="environments, algorithms, presets")
    ls.set_defaults(func=_cmd_list)
    b = sub.add_parser("bench", help="run a benchmark script from benchmarks/")
    b.add_argument("name")
    b.add_argument("args", nargs=argparse.REMAINDER)
    b.set_defaults(func=_cmd_bench)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError, FileExistsError, ImportError) as err:
        print(f"jaxmarl-lite {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
