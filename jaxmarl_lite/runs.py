"""Training runs on disk: train (with checkpoints and resume), evaluate, plot.

The Python side of the ``jaxmarl-lite`` command line; every command is a function here::

    from jaxmarl_lite import runs
    run_dir = runs.train("qmix", "grid_meet", seeds=4, total_steps=50_000, out="runs/qmix")
    report = runs.evaluate_run(run_dir, episodes=256, gif="episode.gif")
    runs.plot_runs([run_dir], "curves.png")

A run directory holds ``config.json`` (algorithm, env, env kwargs, the resolved algorithm
config, seeds, base key), ``system.json`` (package versions, device), ``checkpoints/`` (the
whole vmapped training carry every ``save_every`` updates, orbax), ``metrics/seed_<i>.csv``
(one row per update; these files are read and written by :mod:`jaxmarl_lite.run_files`)
and ``summary.md``. The compiled loop runs ``chunk`` updates per
call (one checkpoint interval); the progress bar is fed from inside it by a host callback
every ``progress_every`` updates (``jax.debug.callback``; results are bitwise the same with
or without it) and after every chunk. Optional TensorBoard / W&B loggers
(:mod:`jaxmarl_lite.logging_backends`) receive each chunk's metrics. A resumed run continues
from the newest loadable checkpoint and ends bitwise identical to an uninterrupted run.
"""
from __future__ import annotations

import dataclasses
import json
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

import jax
import numpy as np

from jaxmarl_lite import algorithms, parallel, population
from jaxmarl_lite.algorithms._common.evaluation import evaluate
from jaxmarl_lite.algorithms._common.training import NAN_ALLOWED, init_seeds
from jaxmarl_lite.checkpoint import CheckpointError, Checkpointer
from jaxmarl_lite.locking import RunLock
from jaxmarl_lite.logging_backends import check_available, make_loggers
from jaxmarl_lite.env import MultiAgentEnv
from jaxmarl_lite.registry import env_reference, import_env_module, make
from jaxmarl_lite.stats import bootstrap_ci, iqm, mean_ci
from jaxmarl_lite.run_files import (CONFIG_FILE, NONFINITE_FILE, append_metrics, final_table,
                                   placement_text, read_metrics, record_nonfinite,
                                   record_replicas, record_session, truncate_metrics,
                                   write_json)

ON_NAN = ("stop", "warn")


class NonFiniteError(RuntimeError):
    """A run's parameters or losses became non-finite (``on_nan="stop"``); ``report`` holds
    every affected run: seed (and member), the first non-finite update, the metrics."""

    def __init__(self, message: str, report: list):
        super().__init__(message)
        self.report = report


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """Everything needed to rebuild a run (written to ``config.json``)."""

    algo: str
    env: str
    env_kwargs: Dict[str, Any]
    config: Dict[str, Any]
    seeds: int
    seed: int
    save_every: int
    env_module: Optional[str] = None
    """A module imported before ``env`` is built (it registers a custom env); ``env`` may
    also be an import reference ``'pkg.module:Factory'`` (:func:`jaxmarl_lite.make`)."""
    population: Optional[Dict[str, Any]] = None
    """Sweep / PBT runs: ``{"values": {field: [P values]}, "pbt": PBT settings or None}``;
    the run then trains ``P x seeds`` runs, run ``r`` = member ``r // seeds``, seed
    ``r % seeds`` (:mod:`jaxmarl_lite.population`)."""

    def make_env(self):
        """The run's env, rebuilt from its record."""
        if self.env_module:
            import_env_module(self.env_module)
        return make(self.env, **self.env_kwargs)

    @property
    def num_runs(self) -> int:
        return self.seeds * (len(next(iter(self.population["values"].values())))
                             if self.population else 1)


def resolve_config(algo: str, preset: Optional[str] = None,
                   overrides: Optional[Mapping[str, Any]] = None):
    """The algorithm's ``Config`` from a named preset (or the defaults) and overrides;
    unknown presets/fields and invalid values raise ``ValueError``/``TypeError`` here,
    before anything compiles."""
    module = algorithms.get(algo)
    if preset is None:
        config = module.Config()
    elif preset not in module.PRESETS:
        from jaxmarl_lite.registry import unknown_name_message

        raise ValueError(unknown_name_message(f"{algo} preset", preset, sorted(module.PRESETS)))
    else:
        config = module.PRESETS[preset]
    return config.replace(**dict(overrides or {}))


class _Loop:
    """Compiled pieces of one run: vmapped init and a vmapped chunk of updates, placed on
    ``placement``'s mesh (``None``: the default device)."""

    def __init__(self, spec: RunSpec, placement: Optional[parallel.Placement] = None):
        self.module = algorithms.get(spec.algo)
        self.env = spec.make_env()
        self.config = self.module.Config.from_dict(spec.config)
        self.population = self.pbt = None
        self.batched_update = None
        if spec.population:
            self.population = population.make_population(self.config,
                                                         spec.population["values"])
            if spec.population.get("pbt"):
                self.pbt = population.PBT.from_dict(spec.population["pbt"])
        names = self.population.names if self.population else ()
        self.stages = self.module.make_stages(self.config, self.env, hyper=names)
        self.keys = jax.random.split(jax.random.key(spec.seed), spec.seeds)
        if self.pbt:
            self.batched_update = population.pbt_update(self.stages, self.config, self.pbt,
                                                        self.population, spec.seeds)
        self.pbt_key = jax.random.fold_in(jax.random.key(spec.seed), 2**31 - 1)
        self.placement = placement
        self._chunks: Dict[int, Callable] = {}
        self.on_progress: Optional[Callable[[int, Dict[str, np.ndarray]], None]] = None
        self.progress_every = 0

    def init(self):
        """Every run's initial carry (seeds, or population members x seeds), on the mesh."""
        if self.population is None:
            carry = init_seeds(self.stages, self.keys)
        else:
            carry = population.init_runs(self.stages, self.keys, self.population)
            if self.pbt:
                carry = population.init_pbt(carry, self.pbt_key)
        return carry if self.placement is None else parallel.place(carry, self.placement)

    def compiled_chunk(self, carry, n: int) -> Callable:
        if n not in self._chunks:
            callback = (lambda i, m: self.on_progress(int(i), m)) if self.on_progress else None
            self._chunks[n] = parallel.compile_updates(self.stages, carry, n, self.placement,
                                                       callback, self.progress_every,
                                                       batched_update=self.batched_update)
        return self._chunks[n]

    def chunk(self, carry, n: int):
        return self.compiled_chunk(carry, n)(carry)


def load_spec(run_dir: str | Path) -> RunSpec:
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no {CONFIG_FILE})")
    return RunSpec(**json.loads(path.read_text()))


def _resolve_env(env: Any, env_kwargs: Optional[Mapping[str, Any]],
                 env_module: Optional[str]) -> Tuple[str, Dict[str, Any], MultiAgentEnv]:
    """``(name, kwargs, env object)`` of :func:`train`'s ``env`` argument."""
    if isinstance(env, MultiAgentEnv):
        if env_kwargs:
            raise ValueError("env_kwargs apply to an env name; an env object carries its own "
                             f"configuration, got env_kwargs={dict(env_kwargs)}")
        name, kwargs = env_reference(env)
        if name.startswith("__main__:"):
            warnings.warn(f"{type(env).__name__} is defined in the main script: this run can be "
                          "resumed from that script, not from the command line (move the env "
                          "into a module to resume or evaluate it anywhere)", stacklevel=3)
        return name, kwargs, env
    if not isinstance(env, str):
        raise TypeError("env must be a registered env name, an import reference "
                        f"'pkg.module:Factory' or a MultiAgentEnv, got {type(env).__name__}")
    if env_module is not None:
        import_env_module(env_module)
    kwargs = dict(env_kwargs or {})
    environment = make(env, **kwargs)
    if not isinstance(environment, MultiAgentEnv):
        raise TypeError(f"{env!r} built a {type(environment).__name__}, not a jaxmarl_lite "
                        "MultiAgentEnv")
    return env, kwargs, environment


def train(algo: str, env: Any, *, out: str | Path, seeds: int = 1, seed: int = 0,
          total_steps: Optional[int] = None, preset: Optional[str] = None,
          overrides: Optional[Mapping[str, Any]] = None,
          env_kwargs: Optional[Mapping[str, Any]] = None, save_every: int = 0,
          chunk: int = 0, progress: bool = True, stop_after: Optional[int] = None,
          progress_every: int = 0, tensorboard: bool = False,
          wandb_project: Optional[str] = None, devices: Optional[int] = None,
          shard: str = "auto", sweep: Optional[population.Population] = None,
          pbt: Optional[population.PBT] = None, on_nan: str = "stop",
          env_module: Optional[str] = None) -> Path:
    """Train ``seeds`` seeds of ``algo`` on ``env`` into the new run directory ``out``.

    ``env``: a registered name (built with ``env_kwargs``; ``env_module`` is imported first
    when it registers the env), an import reference ``'pkg.module:Factory'``, or an env
    object, recorded as the name or reference that rebuilds it
    (:func:`jaxmarl_lite.registry.env_reference`) so that resume, eval and plot work.

    ``sweep``: a :class:`~jaxmarl_lite.population.Population` of tunable values: every
    member x seed is trained in the same compiled program (a sweep; with ``pbt``, a
    population-based training run whose members start from those values).

    ``on_nan``: when a run's parameters or losses become non-finite, ``"stop"`` (default)
    ends training with :class:`NonFiniteError` naming the seed, update and metrics,
    keeping the last (finite) checkpoint and writing none after it; ``"warn"`` warns and
    trains on (the summary leaves non-finite runs out of its results). Either way
    ``nonfinite.json`` records them, and the per-update ``finite`` metric marks them.

    ``save_every`` updates between checkpoints (0: about 10 per run); ``chunk`` updates per
    compiled call (0: ``save_every``); ``progress_every`` updates between in-loop progress
    callbacks (0: about 100 per run; only with ``progress``); ``tensorboard`` /
    ``wandb_project`` turn on those loggers; ``stop_after`` ends after that many updates as
    if interrupted (for tests and staged runs). ``devices`` / ``shard`` place the run on a
    device mesh (:func:`jaxmarl_lite.parallel.make_placement`; default every device,
    ``auto``). In a multi-process run (:func:`jaxmarl_lite.parallel.initialize`) every
    process calls this with the same arguments; process 0 writes the run directory."""
    parallel.use_cpu_devices()  # one CPU device per core when JAX has not started yet
    if on_nan not in ON_NAN:
        raise ValueError(f"on_nan must be one of {', '.join(ON_NAN)}, got {on_nan!r}")
    overrides = dict(overrides or {})
    if total_steps is not None:
        overrides["total_timesteps"] = total_steps
    config = resolve_config(algo, preset, overrides)
    env, env_kwargs, environment = _resolve_env(env, env_kwargs, env_module)
    if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
        raise ValueError(f"seeds must be an int >= 1, got {seeds!r}")
    num_updates = algorithms.get(algo).make_stages(config, environment).num_updates
    if pbt is not None and sweep is None:
        raise ValueError("PBT needs a starting population (sweep=Population(...))")
    if pbt is not None and sweep.size < 2:
        raise ValueError(f"PBT needs a population of >= 2 members, got {sweep.size}")
    pop = None
    if sweep is not None:
        population.check_values(config, sweep.values)
        pop = dict(values=sweep.to_dict(), pbt=pbt.to_dict() if pbt else None)
    save_every = save_every or max(1, num_updates // 10)
    spec = RunSpec(algo, env, env_kwargs, config.to_dict(), seeds, seed, save_every,
                   env_module, pop)
    placement = parallel.make_placement(spec.num_runs, config.num_envs, devices, shard)
    run_dir = Path(out)
    if run_dir.exists() and not run_dir.is_dir():
        raise FileExistsError(f"--out {run_dir} is a file, not a directory")
    if (run_dir / CONFIG_FILE).exists():
        raise FileExistsError(f"{run_dir} already holds a run; resume it or pick another --out")
    if run_dir.is_dir() and any(run_dir.iterdir()):
        raise FileExistsError(f"--out {run_dir} exists and is not a run directory (no "
                              f"{CONFIG_FILE}); pick a new or empty directory")
    check_available(tensorboard=tensorboard, wandb_project=wandb_project)
    parallel.sync("jaxmarl-lite:checked")  # every process checked before process 0 writes
    loggers = ()
    lock = None
    if parallel.is_primary():
        run_dir.mkdir(parents=True, exist_ok=True)
        lock = RunLock(run_dir).acquire()
        (run_dir / "metrics").mkdir(parents=True, exist_ok=True)
        write_json(run_dir / CONFIG_FILE, dataclasses.asdict(spec))
        record_session(run_dir, placement)
        loggers = make_loggers(run_dir, tensorboard=tensorboard, wandb_project=wandb_project,
                               config=dataclasses.asdict(spec), name=run_dir.name)
    parallel.sync("jaxmarl-lite:created")
    try:
        return _run(run_dir, spec, placement, chunk, progress, stop_after, progress_every,
                    loggers, on_nan=on_nan)
    finally:
        if lock is not None:
            lock.release()


def resume(run_dir: str | Path, *, chunk: int = 0, progress: bool = True,
           stop_after: Optional[int] = None, progress_every: int = 0,
           tensorboard: bool = False, wandb_project: Optional[str] = None,
           devices: Optional[int] = None, shard: str = "auto", on_nan: str = "stop",
           restart: bool = False) -> Path:
    """Continue ``run_dir`` from its newest loadable checkpoint (options as :func:`train`).
    The mesh may differ from the interrupted session's (orbax restores onto the new one);
    with a different placement the continuation agrees with an uninterrupted run up to
    float rounding instead of bitwise. A finished run is left as it is (a message says
    so). When checkpoints exist but none restores, :class:`CheckpointError`, unless
    ``restart`` (then training starts over from update 0)."""
    parallel.use_cpu_devices()
    if on_nan not in ON_NAN:
        raise ValueError(f"on_nan must be one of {', '.join(ON_NAN)}, got {on_nan!r}")
    run_dir = Path(run_dir)
    spec = load_spec(run_dir)
    module = algorithms.get(spec.algo)
    config = module.Config.from_dict(spec.config)
    total = module.make_stages(config, spec.make_env()).num_updates
    if finished(run_dir, total):
        print(f"{run_dir} is finished ({total} of {total} updates); nothing to resume")
        return run_dir
    placement = parallel.make_placement(spec.num_runs, config.num_envs, devices, shard)
    parallel.sync("jaxmarl-lite:checked")
    loggers = ()
    lock = None
    if parallel.is_primary():
        lock = RunLock(run_dir).acquire()
        record_session(run_dir, placement)
        loggers = make_loggers(run_dir, tensorboard=tensorboard, wandb_project=wandb_project,
                               config=dataclasses.asdict(spec), name=run_dir.name)
    try:
        return _run(run_dir, spec, placement, chunk, progress, stop_after, progress_every,
                    loggers, on_nan=on_nan, restart=restart)
    finally:
        if lock is not None:
            lock.release()


def finished(run_dir: Path, total: int) -> bool:
    """The run reached its last update (its summary written, its last checkpoint there)."""
    ckpts = Path(run_dir) / "checkpoints"
    return (Path(run_dir) / "summary.md").exists() and (ckpts / str(total)).is_dir()


def _run(run_dir: Path, spec: RunSpec, placement: parallel.Placement, chunk: int,
         progress: bool, stop_after: Optional[int], progress_every: int = 0,
         loggers=(), on_nan: str = "stop", restart: bool = False) -> Path:
    primary = parallel.is_primary()
    loop = _Loop(spec, placement)
    total = loop.stages.num_updates
    # every process compiles the same program (callback included); process 0 shows it
    what = (f"{spec.seeds} seed(s)" if not spec.population else
            f"{spec.num_runs // spec.seeds} members x {spec.seeds} seed(s)")
    bar = _Progress(progress and primary, total, f"{spec.algo} on {spec.env}, {what}")
    if progress:
        loop.progress_every = progress_every or max(1, total // 100)
        loop.on_progress = bar.inside
    chunk = min(chunk or spec.save_every, total)
    t0 = time.perf_counter()
    carry = loop.init()
    jax.block_until_ready(carry)
    ckpt = Checkpointer(run_dir / "checkpoints", max_to_keep=3)
    done = 0
    restored = ckpt.restore_latest(carry)
    if restored is not None:
        done, carry = restored
    elif ckpt.steps() and not restart:
        ckpt.close()
        raise CheckpointError(f"{run_dir}: none of the checkpoints {ckpt.steps()} can be "
                              f"restored (all corrupt or partial); resume with --restart "
                              f"to train it again from update 0")
    if primary:
        truncate_metrics(run_dir, done)
    if done < total:  # compile the usual chunk up front, so training time excludes it
        loop.compiled_chunk(carry, min(chunk, spec.save_every))
    compile_s = time.perf_counter() - t0
    bar.start(done, compile_s)
    last_save, train_s = done, 0.0
    warned: set = set()
    while done < total and (stop_after is None or done < stop_after):
        n = min(chunk, total - done, spec.save_every - done % spec.save_every)
        t = time.perf_counter()
        bar.chunk_start = done
        result = loop.chunk(carry, n)
        carry, metrics = result.carry, parallel.gather(result.metrics)
        train_s += time.perf_counter() - t
        if primary:
            append_metrics(run_dir, metrics, done)
        for logger in loggers:
            logger.log(metrics, done)
        bad = _nonfinite(metrics, done, spec)
        if bad:
            if primary:
                record_nonfinite(run_dir, bad)
            if on_nan == "stop":
                bar.stop()
                ckpt.close()
                for logger in loggers:
                    logger.close()
                raise NonFiniteError(_nonfinite_message(spec, bad, last_save), bad)
            for b in bad:
                if b["run"] not in warned:
                    warned.add(b["run"])
                    warnings.warn(_nonfinite_message(spec, [b], None), RuntimeWarning,
                                  stacklevel=3)
        done += n
        if done % spec.save_every == 0 or done == total:
            ckpt.save(done, carry)
            last_save = done
        bar.after_chunk(done, metrics)
    if last_save != done:
        ckpt.save(done, carry)
    ckpt.close()
    for logger in loggers:
        logger.close()
    bar.stop()
    if jax.process_count() > 1:
        record_replicas(run_dir, runs_carry(carry).params, placement)
    if done == total and primary:
        _write_summary(run_dir, spec, train_s, compile_s, placement)
    parallel.sync("jaxmarl-lite:done")
    return run_dir


class _Progress:
    """A rich progress bar over updates, fed after every chunk (:meth:`after_chunk`) and,
    from inside the compiled loop, by the host callback (:meth:`inside`). Shows env steps,
    env-steps/s and the latest return; compile time separately."""

    def __init__(self, enabled: bool, total: int, title: str):
        self.enabled, self.total, self.title = enabled, total, title
        self.chunk_start = 0
        self._bar = None

    def start(self, done: int, compile_s: float) -> None:
        if not self.enabled:
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(TextColumn("{task.description}"), BarColumn(),
                             TextColumn("{task.completed}/{task.total} updates"),
                             TimeElapsedColumn(), TextColumn("{task.fields[info]}"))
        self._task = self._bar.add_task(self.title, total=self.total, completed=done,
                                        info=f"compiled in {compile_s:.1f} s")
        self._bar.start()
        self._t0, self._steps0 = time.perf_counter(), None

    def inside(self, i: int, metrics: Dict[str, Any]) -> None:
        """Host callback from the compiled loop: ``metrics`` of one update, ``[S]`` each."""
        self._show(self.chunk_start + i, {k: np.asarray(v) for k, v in metrics.items()})

    def after_chunk(self, done: int, metrics: Dict[str, np.ndarray]) -> None:
        self._show(done, {k: np.asarray(v)[:, -1] for k, v in metrics.items()})

    def _show(self, done: int, last: Dict[str, np.ndarray]) -> None:
        if self._bar is None:
            return
        steps = float(np.mean(last["env_steps"]))
        if self._steps0 is None:
            self._steps0, self._t0 = steps, time.perf_counter()
        rate = (steps - self._steps0) / max(time.perf_counter() - self._t0, 1e-9)
        ret = last["episode_return"]
        ret = float(np.nanmean(ret)) if np.isfinite(ret).any() else float("nan")
        self._bar.update(self._task, completed=done,
                         info=f"env steps {steps:,.0f}  {rate:,.0f} steps/s  return {ret:.2f}")

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def random_baseline(env, episodes: int = 256, seed: int = 0) -> float:
    """Mean team return of uniformly random legal actions (the floor to beat)."""
    from jaxmarl_lite.algorithms._common.evaluation import random_policy

    result = jax.jit(lambda k: evaluate(env, random_policy(env), None, k, episodes))(
        jax.random.key(seed))
    return float(np.mean(result.team_return))


def _write_summary(run_dir: Path, spec: RunSpec, train_s: float, compile_s: float,
                   placement: Optional[parallel.Placement] = None) -> None:
    metrics = read_metrics(run_dir)
    steps = float(metrics["env_steps"][:, -1].sum())
    headline = ""
    if spec.population:
        pop = population.Population({k: tuple(v) for k, v in
                                     spec.population["values"].items()})
        pbt = bool(spec.population.get("pbt"))
        kind = "PBT" if pbt else "Sweep"
        headline = (f"{kind} of {pop.size} members x {spec.seeds} seed(s) in one compiled "
                    f"program ({', '.join(pop.names)}; `population.csv`"
                    f"{', `lineage.csv`, `pbt.png`' if pbt else ', `sweep.png`'}):\n\n"
                    + population.report(run_dir, pop, spec.seeds, metrics, pbt) + "\n")
    elif "eval_return" in metrics:
        ok = metrics["finite"][:, -1] > 0 if "finite" in metrics else np.ones(
            metrics["eval_return"].shape[0], bool)
        if not ok.any():
            raise NonFiniteError(f"{spec.algo} on {spec.env}: every run is non-finite; no "
                                 f"result to report", [])
        mean, half = mean_ci(metrics["eval_return"][ok, -1])
        rand = random_baseline(spec.make_env())
        left_out = (f" ({int((~ok).sum())} non-finite seed(s) left out: "
                    f"`{NONFINITE_FILE}`)" if not ok.all() else "")
        headline = (f"**Final greedy return {float(mean):.3f} ± {float(half):.3f}** (mean, 95% "
                    f"CI over seeds{left_out}) vs {rand:.3f} for a random policy.\n\n")
    runs = (f"{spec.seeds} seed(s)" if not spec.population
            else f"{spec.num_runs} runs ({spec.seeds} seed(s) per member)")
    text = (f"# {spec.algo} on {spec.env}\n\n{headline}{runs} from key {spec.seed}, "
            f"{int(metrics['update'][0, -1])} updates, {steps:,.0f} env steps in total; "
            f"setup+compile {compile_s:.1f} s, training {train_s:.1f} s "
            f"({steps / max(train_s, 1e-9):,.0f} env steps/s; the last session's time)"
            f"{placement_text(placement)}.\n\n"
            f"Final values (last update):\n\n{final_table(metrics)}\n"
            f"Config: `config.json`; per-update metrics: `metrics/seed_<i>.csv`; "
            f"checkpoints: `checkpoints/`.\n")
    (run_dir / "summary.md").write_text(text)


def _nonfinite(metrics: Dict[str, np.ndarray], first_update: int, spec: RunSpec) -> list:
    """The runs whose ``finite`` flag dropped in this chunk: run, seed, member, the first
    non-finite update and the metrics non-finite there ("parameters" if only they)."""
    flags = np.asarray(metrics["finite"])
    bad = []
    for r in np.nonzero((flags < 1).any(axis=1))[0]:
        i = int(np.argmax(flags[r] < 1))
        names = sorted(k for k, v in metrics.items() if k != "finite"
                       and not k.startswith(NAN_ALLOWED) and not np.isfinite(v[r, i]))
        bad.append(dict(run=int(r), seed=int(r % spec.seeds), member=int(r // spec.seeds),
                        update=first_update + i + 1, metrics=names or ["parameters"]))
    return bad


def _nonfinite_message(spec: RunSpec, bad: list, last_save: Optional[int]) -> str:
    first = min(bad, key=lambda b: b["update"])
    who = (f"seed {first['seed']}" if not spec.population
           else f"member {first['member']} seed {first['seed']}")
    more = f" ({len(bad)} runs in all)" if len(bad) > 1 else ""
    kept = "" if last_save is None else (
        f" Training stopped; the last checkpoint (update {last_save}) is kept and none was "
        f"written after it." if last_save > 0 else
        " Training stopped before its first checkpoint; none was written.")
    return (f"{spec.algo} on {spec.env}: {who} became non-finite at update {first['update']} "
            f"({', '.join(first['metrics'])}){more}.{kept} Hint: a smaller learning rate or "
            f"gradient clip, finite rewards and observations; --on-nan warn trains on.")


def runs_carry(carry):
    """The algorithm carries ``[R]`` of a run's carry (a PBT loop wraps them)."""
    return carry.runs if isinstance(carry, population.PopulationCarry) else carry


def load_final(run_dir: str | Path):
    """``(spec, loop, carry)`` with the newest checkpoint of ``run_dir``."""
    spec = load_spec(run_dir)
    loop = _Loop(spec)
    like = loop.init()
    ckpt = Checkpointer(Path(run_dir) / "checkpoints")
    restored = ckpt.restore_latest(like)
    ckpt.close()
    if restored is None:
        raise FileNotFoundError(f"{run_dir} has no loadable checkpoint")
    return spec, loop, restored[1]


def evaluate_run(run_dir: str | Path, *, episodes: int = 128, seed: int = 0,
                 gif: Optional[str | Path] = None) -> Dict[str, Any]:
    """Greedy/deterministic evaluation of every seed's final policy: ``episodes`` vmapped
    episodes per seed; mean and IQM with 95% bootstrap CIs over all episodes, per-seed
    means; optionally a GIF of one episode of seed 0."""
    spec, loop, carry = load_final(run_dir)
    policy = loop.module.make_policy(loop.config, loop.env)
    keys = jax.random.split(jax.random.key(seed), spec.num_runs)
    carry = runs_carry(carry)
    result = jax.jit(jax.vmap(lambda p, k: evaluate(loop.env, policy, p, k, episodes)))(
        carry.params, keys)
    returns = np.asarray(result.team_return)  # [seeds, episodes]
    flat = returns.reshape(-1)
    mean, inter = bootstrap_ci(flat, np.mean), bootstrap_ci(flat, iqm)
    report = dict(run=str(run_dir), algo=spec.algo, env=spec.env, episodes=int(flat.size),
                  mean=mean.value, mean_ci=[mean.low, mean.high],
                  iqm=inter.value, iqm_ci=[inter.low, inter.high],
                  per_seed_mean=returns.mean(1).tolist())
    if gif is not None:
        params0 = jax.tree.map(lambda x: x[0], carry.params)
        report["gif"] = str(record_episode(loop.env, policy, params0, jax.random.key(seed), gif))
    write_json(Path(run_dir) / "eval.json", report)
    return report


def record_episode(env, policy, params, key, path: str | Path, fps: float = 8.0) -> Path:
    """Render one episode of ``policy`` to a GIF (host loop over ``env.render``)."""
    from jaxmarl_lite.render import save_gif

    act = jax.jit(policy.act)
    step = jax.jit(env.step)
    key, reset_key = jax.random.split(key)
    obs, state = env.reset(reset_key)
    carry, first = policy.init_carry(1), np.ones((1,), bool)
    frames = [env.render(state)]
    for _ in range(env.max_episode_steps):
        key, act_key, step_key = jax.random.split(key, 3)
        mask = env.action_mask(state)[None]
        actions, carry = act(params, carry, obs[None], mask, first, act_key)
        obs, next_state, _, term, trunc, info = step(step_key, state, actions[0])
        first = np.zeros((1,), bool)
        if bool(np.all(np.asarray(term | trunc))):
            break  # the returned state is already the next episode's: stop before it
        state = next_state
        frames.append(env.render(state))
    return save_gif(frames, path, fps=fps)


def plot_runs(run_dirs: Sequence[str | Path], out: str | Path, *,
              metric: str = "eval_return") -> Path:
    """Learning curves (mean and 95% CI over seeds, one line per run) as PNG."""
    from jaxmarl_lite.plotting import plot_curves

    curves = {}
    for run_dir in run_dirs:
        spec, metrics = load_spec(run_dir), read_metrics(run_dir)
        if metric not in metrics:
            raise ValueError(f"{run_dir} has no metric {metric!r}; it has "
                             f"{', '.join(sorted(metrics))}")
        label = f"{spec.algo} / {spec.env} ({Path(run_dir).name})"
        curves[label] = (metrics["env_steps"][0], metrics[metric])
    return plot_curves(curves, out, ylabel=metric.replace("_", " "))
