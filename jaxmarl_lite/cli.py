"""``jaxmarl-lite`` command line (also ``python -m jaxmarl_lite``).

    jaxmarl-lite train ALGO ENV [--seeds N] [--total-steps N] [--preset NAME]
                       [--set field=value ...] [--env-set key=value ...] [--config FILE]
                       [--out DIR] [--save-every K] [--resume RUN_DIR]
                       [--devices N] [--shard auto|seeds|envs|both]
                       [--coordinator HOST:PORT --num-processes N --process-id I | --distributed]
    jaxmarl-lite eval RUN_DIR [--episodes N] [--gif PATH]
    jaxmarl-lite plot RUN_DIR [RUN_DIR ...] [--out PNG] [--metric NAME]
    jaxmarl-lite list
    jaxmarl-lite bench NAME [ARGS ...]

``--set`` values are parsed with the type of the algorithm ``Config`` field they set (the
dataclass is the only definition of the options); ``--config`` reads a JSON or YAML mapping
of the same fields. Bad names and values fail before anything compiles, listing the valid
choices. Integer flags take ``2e6`` and ``1_000_000`` as well as ``2000000``.

Placement: ``--devices N`` (default every device) and ``--shard`` (``auto``: seeds over
devices when they divide evenly, else envs) put the run on a device mesh
(:mod:`jaxmarl_lite.parallel`). Multi-host: start the same command once per process with
``--coordinator HOST:PORT --num-processes N --process-id I``, or with ``--distributed`` to
let JAX read the cluster from the environment (SLURM, Open MPI, cloud TPU).
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

from jaxmarl_lite import algorithms, parallel, population, runs
from jaxmarl_lite.registry import (import_env_module, make, registered_envs,
                                   unknown_name_message)


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


def count(minimum: int = 0):
    """An argparse type: an int ``>= minimum`` written as ``2000000``, ``2e6`` or
    ``1_000_000``."""

    def parse(text: str) -> int:
        try:
            value = parse_value(text, int, "")
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return value

    parse.__name__ = "integer"
    return parse


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

            try:
                loaded = yaml.safe_load(text) or {}
            except yaml.YAMLError as err:
                raise ValueError(f"--config {config_file} is not valid YAML: "
                                 f"{str(err).splitlines()[0]}") from None
        else:
            try:
                loaded = json.loads(text)
            except ValueError as err:
                raise ValueError(f"--config {config_file} is not valid JSON: {err}") from None
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
                wandb_project=args.wandb, devices=args.devices, shard=args.shard,
                on_nan=args.on_nan)


def resume_conflicts(args, run_dir: str) -> List[str]:
    """What a ``train --resume`` command line asks that the run does not have (a resumed run
    continues with its own settings, so differing ones are refused, not ignored)."""
    spec = runs.load_spec(run_dir)
    found = []
    for name, given, have in (("ALGO", args.algo, spec.algo), ("ENV", args.env, spec.env),
                              ("--seeds", args.seeds, spec.seeds),
                              ("--seed", args.seed, spec.seed),
                              ("--env-module", args.env_module, spec.env_module)):
        if given is not None and given != have:
            found.append(f"{name} {given} (the run has {have})")
    if args.set or args.config or args.preset or args.total_steps:
        overrides = parse_overrides(spec.algo, args.set, args.config)
        if args.total_steps:
            overrides["total_timesteps"] = args.total_steps
        wanted = runs.resolve_config(spec.algo, args.preset, overrides).to_dict()
        asked = set(overrides) | (set(wanted) if args.preset else set())
        for key in sorted(asked):
            if wanted[key] != spec.config.get(key):
                found.append(f"{key}={wanted[key]!r} (the run has {spec.config.get(key)!r})")
    if args.env_set:
        if spec.env_module:
            import_env_module(spec.env_module)
        kwargs = parse_env_kwargs(spec.env, args.env_set)
        for key, value in kwargs.items():
            if spec.env_kwargs.get(key, value) != value or key not in spec.env_kwargs:
                found.append(f"--env-set {key}={value!r} (the run has "
                             f"{spec.env_kwargs.get(key, 'the default')!r})")
    if args.grid or args.range or getattr(args, "pbt", False):
        found.append("--grid/--range/--pbt (a run's population is fixed when it starts)")
    return found


def _start_processes(args) -> None:
    """``jax.distributed`` from the multi-host flags (before anything touches a device)."""
    given = [args.coordinator, args.num_processes, args.process_id]
    if any(v is not None for v in given):
        if any(v is None for v in given):
            raise ValueError("multi-host needs --coordinator HOST:PORT, --num-processes N and "
                             "--process-id I together")
        parallel.initialize(args.coordinator, args.num_processes, args.process_id)
    elif args.distributed:
        parallel.initialize()


def parse_grid(items: List[str]) -> Dict[str, List[float]]:
    """``--grid name=v1,v2,...`` (repeatable) -> ``{name: [values]}``."""
    axes: Dict[str, List[float]] = {}
    for item in items:
        key, text = _split_assignment(item, "--grid")
        values = [parse_value(v.strip(), float, f"--grid {key}") for v in text.split(",")
                  if v.strip()]
        if not values:
            raise ValueError(f"--grid {key} needs at least one value, got {item!r}")
        if key in axes:
            raise ValueError(f"--grid {key} is given twice")
        axes[key] = values
    return axes


def parse_ranges(items: List[str]) -> Dict[str, population.Range]:
    """``--range name=LOW:HIGH[:log]`` (repeatable) -> ``{name: Range}``."""
    ranges: Dict[str, population.Range] = {}
    for item in items:
        key, text = _split_assignment(item, "--range")
        parts = text.split(":")
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "log"):
            raise ValueError(f"--range expects name=LOW:HIGH or name=LOW:HIGH:log, got {item!r}")
        low, high = (parse_value(x, float, f"--range {key}") for x in parts[:2])
        ranges[key] = population.Range(low, high, log=len(parts) == 3)
    return ranges


def _population(args, config) -> tuple:
    """``(Population or None, PBT or None)`` from --grid / --random / --range / --pbt."""
    axes, ranges = parse_grid(args.grid), parse_ranges(args.range)
    pbt_on = getattr(args, "pbt", False)
    size = getattr(args, "random", None) or getattr(args, "population", None)
    if not axes and not ranges:
        if pbt_on or getattr(args, "command", "") == "sweep":
            raise ValueError("give the hyperparameters to vary: --grid name=v1,v2,... or "
                             "--range name=LOW:HIGH[:log] (with --random N / --population N)")
        return None, None
    if axes and ranges and not pbt_on:
        raise ValueError("a sweep is either a --grid or --random N with --range, not both")
    if axes:
        pop = population.grid(config, axes)
        if pbt_on and size not in (None, pop.size):
            raise ValueError(f"--population {size} does not match the --grid's {pop.size} "
                             f"points")
    else:
        if not size:
            raise ValueError("--range needs the number of members: --random N (sweep) or "
                             "--population N (PBT)")
        import jax

        pop = population.random_points(config, ranges, size,
                                       jax.random.key((args.seed or 0) + 1))
    pbt = None
    if pbt_on:
        pbt = population.PBT(every=args.pbt_every, fraction=args.pbt_fraction,
                             metric=args.pbt_metric, ranges=ranges)
    return pop, pbt


def _cmd_train(args) -> int:
    # one CPU device per core (unless the user set a count in XLA_FLAGS, or asked for one
    # device), before JAX starts; accelerators are unaffected
    parallel.use_cpu_devices(1 if args.devices == 1 else None)
    _start_processes(args)
    if getattr(args, "resume", None):
        conflicts = resume_conflicts(args, args.resume)
        if conflicts:
            raise ValueError(f"--resume {args.resume} continues the run with its own settings; "
                             f"these differ: {'; '.join(conflicts)}")
        run_dir = runs.resume(args.resume, progress=not args.no_progress,
                              restart=args.restart, **_monitoring(args))
    else:
        if args.algo is None or args.env is None:
            raise ValueError("train needs ALGO and ENV (or --resume RUN_DIR)")
        overrides = parse_overrides(args.algo, args.set, args.config)
        if args.env_module:
            import_env_module(args.env_module)
        env_kwargs = parse_env_kwargs(args.env, args.env_set)
        config = runs.resolve_config(args.algo, args.preset, dict(
            overrides, **({"total_timesteps": args.total_steps} if args.total_steps else {})))
        sweep, pbt = _population(args, config)
        suffix = "_sweep" if args.command == "sweep" else ("_pbt" if pbt else "")
        out = args.out or f"runs/{args.algo}_{args.env}{suffix}"
        if getattr(args, "restart", False):
            raise ValueError("--restart goes with --resume RUN_DIR")
        run_dir = runs.train(args.algo, args.env, out=out, seeds=args.seeds or 1,
                             seed=args.seed or 0,
                             total_steps=args.total_steps, preset=args.preset,
                             overrides=overrides, env_kwargs=env_kwargs,
                             save_every=args.save_every, progress=not args.no_progress,
                             stop_after=args.stop_after, sweep=sweep, pbt=pbt,
                             env_module=args.env_module, **_monitoring(args))
    if not parallel.is_primary():
        return 0  # process 0 reports
    summary = Path(run_dir) / "summary.md"
    if summary.exists():
        print(summary.read_text())
    if args.plot and summary.exists():
        made = [Path(run_dir) / n for n in ("sweep.png", "pbt.png")
                if (Path(run_dir) / n).exists()]
        for path in made or [runs.plot_runs([run_dir], Path(run_dir) / "curves.png")]:
            print(f"plot: {path}")
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


def _training_args(p: argparse.ArgumentParser) -> None:
    """The options shared by ``train`` and ``sweep``."""
    p.add_argument("algo", nargs="?", help=f"one of {', '.join(sorted(algorithms.ALGORITHMS))}")
    p.add_argument("env", nargs="?", help="a registered env (see `list`) or an import "
                   "reference pkg.module:Factory of a custom env")
    p.add_argument("--env-module", metavar="MODULE",
                   help="import MODULE first (it registers a custom env by name); recorded "
                        "in the run, so --resume, eval and plot import it too")
    p.add_argument("--seeds", type=count(1), help="seeds trained at once (vmap; default 1)")
    p.add_argument("--seed", type=count(0), help="base PRNG key (default 0)")
    p.add_argument("--total-steps", type=count(1),
                   help="env steps per seed (Config.total_timesteps)")
    p.add_argument("--preset", help="a named config preset (see `list`)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a Config field (repeatable)")
    p.add_argument("--env-set", action="append", default=[], metavar="KEY=VALUE",
                   help="env constructor argument (repeatable)")
    p.add_argument("--config", help="JSON/YAML file of Config fields")
    p.add_argument("--out", help="new run directory (default runs/ALGO_ENV[_sweep|_pbt])")
    p.add_argument("--grid", action="append", default=[], metavar="FIELD=V1,V2,...",
                   help="values of a tunable Config field (repeatable: every combination)")
    p.add_argument("--range", action="append", default=[], metavar="FIELD=LOW:HIGH[:log]",
                   help="where --random / --population draws a tunable field's values")
    p.add_argument("--save-every", type=count(0), default=0,
                   help="updates between checkpoints (0: about 10 per run)")
    p.add_argument("--plot", action="store_true", help="write RUN_DIR/curves.png at the end")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--progress-every", type=count(0), default=0, metavar="K",
                   help="updates between progress callbacks from inside the compiled loop "
                        "(0: about 100 per run)")
    p.add_argument("--tensorboard", action="store_true",
                   help="log metrics to RUN_DIR/tensorboard (extra: jaxmarl-lite[tensorboard])")
    p.add_argument("--wandb", metavar="PROJECT",
                   help="log metrics to a W&B run (offline unless WANDB_MODE is set; "
                        "extra: jaxmarl-lite[wandb])")
    p.add_argument("--devices", type=count(1), metavar="N",
                   help="devices to train on (default: all, of every process)")
    p.add_argument("--shard", choices=parallel.SHARD_CHOICES, default="auto",
                   help="what the devices split: seeds (independent runs; with a sweep or "
                        "PBT: members x seeds), envs (data parallel, gradients averaged), "
                        "both (a seeds x envs mesh); auto: gcd(runs, devices) seed groups "
                        "and, on GPUs/TPUs, the envs over the devices left")
    p.add_argument("--coordinator", metavar="HOST:PORT",
                   help="multi-host: address of process 0's coordinator")
    p.add_argument("--num-processes", type=count(1), metavar="N", help="multi-host: processes")
    p.add_argument("--process-id", type=count(0), metavar="I",
                   help="multi-host: this process's index (0 writes the run directory)")
    p.add_argument("--distributed", action="store_true",
                   help="multi-host with the cluster read from the environment (SLURM, "
                        "Open MPI, cloud TPU)")
    p.add_argument("--on-nan", choices=runs.ON_NAN, default="stop",
                   help="when a run's parameters or losses become non-finite: stop (exit 3, "
                        "keep the last finite checkpoint) or warn and train on")
    p.add_argument("--stop-after", type=count(1), help=argparse.SUPPRESS)  # tests: interrupt


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jaxmarl-lite", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train an algorithm on an env (seeds vmapped)")
    _training_args(t)
    t.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run")
    t.add_argument("--restart", action="store_true",
                   help="with --resume: when no checkpoint can be restored, train the run "
                        "again from update 0 (otherwise that is an error)")
    t.add_argument("--pbt", action="store_true",
                   help="population-based training: members start from --grid points or "
                        "--population N draws from --range, and every --pbt-every updates "
                        "the worst copy the best and perturb their values")
    t.add_argument("--population", type=count(2), metavar="N",
                   help="PBT members drawn from the --range values")
    t.add_argument("--pbt-every", type=count(1), default=10, metavar="K",
                   help="updates between PBT exploit/explore rounds")
    t.add_argument("--pbt-fraction", type=float, default=0.25, metavar="F",
                   help="share of members replaced (and copied from) per round")
    t.add_argument("--pbt-metric", default="episode_return",
                   help="fitness: a metric averaged over the updates of each round")
    t.set_defaults(func=_cmd_train)
    sw = sub.add_parser("sweep", help="train a grid or a random sample of hyperparameter "
                                      "values x seeds in one compiled program")
    _training_args(sw)
    sw.add_argument("--random", type=count(1), metavar="N",
                    help="N points drawn from the --range values (instead of a --grid)")
    sw.set_defaults(func=_cmd_train)
    e = sub.add_parser("eval", help="evaluate a run's final policies")
    e.add_argument("run_dir")
    e.add_argument("--episodes", type=count(1), default=128, help="episodes per seed")
    e.add_argument("--seed", type=count(0), default=0)
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


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> str:
    return f"jaxmarl-lite: warning: {message}\n"


def main(argv: Optional[List[str]] = None) -> int:
    import warnings

    warnings.formatwarning = _one_line_warning  # a warning is one line on the command line
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except runs.NonFiniteError as err:
        print(f"jaxmarl-lite {args.command}: error: {err}", file=sys.stderr)
        return 3
    except (ValueError, TypeError, OSError, ImportError, RuntimeError) as err:
        # bad names, values and files (missing, unreadable, read-only, a file for a
        # directory, broken YAML/JSON), a locked run directory, corrupt checkpoints
        text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        print(f"jaxmarl-lite {args.command}: error: {text}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
