"""Hyperparameters as data: sweeps and population-based training (PBT) in one compiled loop.

A population is ``P`` members (sweep points or PBT members), each a value of every tunable
hyperparameter it names (:mod:`jaxmarl_lite.algorithms._common.hyper`); with ``S`` seeds
the loop trains ``R = P x S`` runs at once, run ``r`` being member ``r // S`` with seed
``r % S``. The runs sit on the leading axis of the carry, the one the device mesh splits
(:mod:`jaxmarl_lite.parallel`: the run axes population x seeds go to the mesh's ``seeds``
axis), and every member's hyperparameters are arrays in its carry (``carry.hyper``), so the
whole sweep is one compilation. Seed ``s`` of every member starts from the key of seed
``s`` of a plain run (common random numbers): a member equals the separate run with its
values, up to float rounding.

PBT (Jaderberg et al. 2017) runs inside the same loop: every ``every`` updates, within each
seed, the members are ranked by the mean of a fitness metric over the last ``every``
updates; each member in the bottom ``fraction`` copies the whole state of a member drawn
uniformly from the top ``fraction`` (parameters, optimiser state, replay buffer, env state,
hyperparameters: exploit), then multiplies each of its hyperparameters by one of
``perturb`` (or, with ``resample_prob``, draws it anew from its range) and clips it to the
field's bounds (explore). It continues on a fresh key (the copy's own key folded with the
round). All of it is array operations on the run axis with keys threaded explicitly, so a
PBT run is bitwise reproducible and resumes bitwise from its checkpoints. Every update's
metrics carry the lineage: ``pbt_parent`` (the run a run copied at this update, else
itself) and ``hp_<name>`` (each run's values).
"""
from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any, Dict, Mapping, NamedTuple, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmarl_lite.algorithms._common.hyper import bounds, check_values
from jaxmarl_lite.algorithms._common.training import TrainStages, init_seeds


@dataclasses.dataclass(frozen=True)
class Population:
    """``P`` members: ``values[name]`` is a length-``P`` tuple per tunable field."""

    values: Dict[str, Tuple[float, ...]]

    @property
    def names(self) -> Tuple[str, ...]:
        return tuple(self.values)

    @property
    def size(self) -> int:
        return len(next(iter(self.values.values())))

    def member(self, p: int) -> Dict[str, float]:
        return {name: column[p] for name, column in self.values.items()}

    def to_dict(self) -> Dict[str, list]:
        return {name: list(column) for name, column in self.values.items()}


def make_population(config, values: Mapping[str, Sequence[float]]) -> Population:
    """A population from explicit columns (equal lengths), each value checked against the
    config's validation (e.g. ``gamma`` in [0, 1]) and the field being tunable."""
    if not values:
        raise ValueError("a population needs at least one hyperparameter")
    columns = {name: tuple(float(v) for v in column) for name, column in values.items()}
    sizes = {len(c) for c in columns.values()}
    if len(sizes) != 1 or 0 in sizes:
        raise ValueError(f"every hyperparameter needs the same number (>= 1) of values, "
                         f"got {({k: len(v) for k, v in columns.items()})}")
    check_values(config, columns)
    return Population(columns)


def grid(config, axes: Mapping[str, Sequence[float]]) -> Population:
    """Every combination of the given values (the first name varies slowest)."""
    names = list(axes)
    points = list(itertools.product(*(axes[n] for n in names)))
    return make_population(config, {n: [p[i] for p in points] for i, n in enumerate(names)})


@dataclasses.dataclass(frozen=True)
class Range:
    """Where a random sweep or a PBT resample draws a value: uniform in ``[low, high]``, or
    log-uniform with ``log``."""

    low: float
    high: float
    log: bool = False

    def __post_init__(self):
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low <= self.high):
            raise ValueError(f"a range needs finite low <= high, got {self.low}..{self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, got {self.low}")

    def sample(self, key, shape=()):
        u = jax.random.uniform(key, shape)
        if self.log:
            return jnp.exp(jnp.log(self.low) + u * (jnp.log(self.high) - jnp.log(self.low)))
        return self.low + u * (self.high - self.low)


def random_points(config, ranges: Mapping[str, Range], size: int, key) -> Population:
    """``size`` members, each value drawn from its :class:`Range` (one key per name)."""
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"a random population needs size >= 1, got {size!r}")
    keys = jax.random.split(key, len(ranges))
    values = {name: np.asarray(r.sample(k, (size,)), np.float64).tolist()
              for (name, r), k in zip(ranges.items(), keys)}
    return make_population(config, values)


@dataclasses.dataclass(frozen=True)
class PBT:
    """Population-based training settings (static)."""

    every: int
    """Updates between exploit/explore rounds."""
    fraction: float = 0.25
    """Share of members (per seed) replaced each round, and share they copy from."""
    perturb: Tuple[float, ...] = (0.8, 1.2)
    """Factors a copied member's hyperparameters are multiplied by (one drawn per value)."""
    resample_prob: float = 0.25
    """Chance a copied value is drawn anew from its range instead of perturbed."""
    metric: str = "episode_return"
    """Fitness: the mean of this metric over the updates since the last round."""
    ranges: Dict[str, Range] = dataclasses.field(default_factory=dict)
    """Resampling ranges per name (default: the initial population's min..max)."""

    def __post_init__(self):
        if not isinstance(self.every, int) or self.every < 1:
            raise ValueError(f"PBT.every must be an int >= 1 (updates), got {self.every!r}")
        if not 0.0 < self.fraction <= 0.5:
            raise ValueError(f"PBT.fraction must be in (0, 0.5], got {self.fraction!r}")
        if not self.perturb or any(not (f > 0) for f in self.perturb):
            raise ValueError(f"PBT.perturb needs positive factors, got {self.perturb!r}")
        if not 0.0 <= self.resample_prob <= 1.0:
            raise ValueError(f"PBT.resample_prob must be in [0, 1], got {self.resample_prob!r}")

    def to_dict(self) -> Dict[str, Any]:
        d = dataclasses.asdict(self)
        d["ranges"] = {k: dataclasses.asdict(v) for k, v in self.ranges.items()}
        d["perturb"] = list(self.perturb)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "PBT":
        d = dict(d)
        d["ranges"] = {k: Range(**v) for k, v in d.get("ranges", {}).items()}
        d["perturb"] = tuple(d.get("perturb", (0.8, 1.2)))
        return cls(**d)


def num_replaced(pbt: PBT, members: int) -> int:
    """Members replaced (and members copied from) per round and seed."""
    return max(1, int(members * pbt.fraction)) if members >= 2 else 0


# --------------------------------------------------------------------------- the loop
class PopulationCarry(NamedTuple):
    """The carry of a PBT loop: the runs' carries ``[R]`` and the PBT state."""

    runs: Any  # algorithm carries, leading [R = P * S]
    key: jax.Array  # PBT's own key (exploit draws, explore draws)
    fitness_sum: jax.Array  # [R] sum of the fitness metric since the last round
    fitness_count: jax.Array  # [R] finite values summed
    update_count: jax.Array  # [] updates done
    round: jax.Array  # [] rounds done


def init_runs(stages: TrainStages, keys: jax.Array, population: Population) -> Any:
    """Carries of ``R = P x S`` runs (member-major): seed ``s`` of every member starts from
    ``init(keys[s])`` with the member's hyperparameters in ``carry.hyper``."""
    base = init_seeds(stages, keys)
    p, s = population.size, len(keys)
    runs = jax.tree.map(lambda x: jnp.reshape(jnp.broadcast_to(x[None], (p,) + x.shape),
                                              (p * s,) + x.shape[1:]), base)
    missing = [n for n in population.names if n not in base.hyper]
    if missing:
        raise ValueError(f"the stages carry no {missing}: build them with "
                         f"make_stages(config, env, hyper={list(population.names)})")
    hyper = {name: jnp.repeat(jnp.asarray(population.values[name], jnp.float32), s)
             for name in population.names}
    return runs._replace(hyper={**runs.hyper, **hyper})


def init_pbt(runs: Any, key: jax.Array) -> PopulationCarry:
    r = jax.tree.leaves(runs)[0].shape[0]
    zeros = jnp.zeros((r,), jnp.float32)
    return PopulationCarry(runs, key, zeros, zeros, jnp.zeros((), jnp.int32),
                           jnp.zeros((), jnp.int32))


def _rekey(keys, copied, round_):
    """Fresh keys for copied runs (each its own key folded with the round)."""
    data = jax.random.key_data(keys)
    fresh = jax.random.key_data(jax.vmap(lambda k: jax.random.fold_in(k, round_))(keys))
    mask = copied.reshape(copied.shape + (1,) * (data.ndim - 1))
    return jax.random.wrap_key_data(jnp.where(mask, fresh, data),
                                    impl=jax.random.key_impl(keys))


def exploit_explore(pc: PopulationCarry, config, pbt: PBT, population: Population,
                    seeds: int) -> Tuple[PopulationCarry, jax.Array]:
    """One PBT round on the run axis -> ``(carry, parent [R])`` (``parent[r] = r`` for runs
    that kept their state)."""
    p, s = population.size, seeds
    k = num_replaced(pbt, p)
    key, pick_key, factor_key, resample_key, value_key = jax.random.split(pc.key, 5)
    mean = pc.fitness_sum / jnp.maximum(pc.fitness_count, 1.0)
    fitness = jnp.where(pc.fitness_count > 0, mean, -jnp.inf).reshape(p, s)
    order = jnp.argsort(-fitness, axis=0, stable=True)  # [P, S] best first, per seed
    top, bottom = order[:k], order[p - k:]  # [k, S]
    drawn = jax.random.randint(pick_key, (k, s), 0, k)
    parents = jnp.take_along_axis(top, drawn, axis=0)  # [k, S] member copied by each loser
    src = jnp.broadcast_to(jnp.arange(p)[:, None], (p, s))
    src = src.at[bottom, jnp.arange(s)[None, :]].set(parents)  # [P, S]
    flat = (src * s + jnp.arange(s)[None, :]).reshape(-1)  # run indices
    copied = flat != jnp.arange(p * s)
    runs = jax.tree.map(lambda x: x[flat], pc.runs)
    runs = runs._replace(key=_rekey(runs.key, copied, pc.round))
    hyper = dict(runs.hyper)
    names = population.names
    fkeys = jax.random.split(factor_key, len(names))
    rkeys = jax.random.split(resample_key, len(names))
    vkeys = jax.random.split(value_key, len(names))
    factors = jnp.asarray(pbt.perturb, jnp.float32)
    for i, name in enumerate(names):
        old = hyper[name]
        lo, hi = bounds(config, name)
        column = population.values[name]
        rng = pbt.ranges.get(name) or Range(min(column), max(column),
                                            log=min(column) > 0 and max(column) > 0
                                            and max(column) / min(column) >= 10)
        perturbed = old * factors[jax.random.randint(fkeys[i], old.shape, 0, len(pbt.perturb))]
        resampled = rng.sample(vkeys[i], old.shape).astype(old.dtype)
        new = jnp.where(jax.random.uniform(rkeys[i], old.shape) < pbt.resample_prob,
                        resampled, perturbed)
        hyper[name] = jnp.where(copied, jnp.clip(new, lo, hi), old)
    runs = runs._replace(hyper=hyper)
    zeros = jnp.zeros_like(pc.fitness_sum)
    return pc._replace(runs=runs, key=key, fitness_sum=zeros, fitness_count=zeros,
                       round=pc.round + 1), flat


def pbt_update(stages: TrainStages, config, pbt: PBT, population: Population, seeds: int):
    """The population-level update of a PBT loop: every run's update (vmapped over the run
    axis), the fitness bookkeeping, and every ``pbt.every`` updates a round of
    :func:`exploit_explore`. Metrics ``[R]`` gain ``pbt_parent`` and ``hp_<name>``."""
    from jaxmarl_lite.algorithms._common.training import vmapped_update

    def update(pc: PopulationCarry):
        run_update, squeeze, expand = vmapped_update(stages, pc.runs)
        runs, metrics = run_update(squeeze(pc.runs))
        runs = expand(runs)
        if pbt.metric not in metrics:
            raise ValueError(f"PBT metric {pbt.metric!r} is not a metric of this algorithm; "
                             f"it has {', '.join(sorted(metrics))}")
        value = metrics[pbt.metric].astype(jnp.float32)
        finite = jnp.isfinite(value)
        pc = pc._replace(runs=runs,
                         fitness_sum=pc.fitness_sum + jnp.where(finite, value, 0.0),
                         fitness_count=pc.fitness_count + finite.astype(jnp.float32),
                         update_count=pc.update_count + 1)
        identity = jnp.arange(value.shape[0])
        pc, parent = jax.lax.cond(
            pc.update_count % pbt.every == 0,
            lambda c: exploit_explore(c, config, pbt, population, seeds),
            lambda c: (c, identity), pc)
        metrics = dict(metrics, pbt_parent=parent.astype(jnp.float32),
                       **{f"hp_{n}": pc.runs.hyper[n] for n in population.names})
        return pc, metrics

    return update


def sweep_stages(module, config, env, population: Population) -> TrainStages:
    """The algorithm's stages with the population's fields carried as data."""
    return module.make_stages(config, env, hyper=population.names)


def summarise(metrics: Mapping[str, np.ndarray], population: Population, seeds: int,
              metric: str) -> list:
    """Per member: its values and the final ``metric`` per seed (``metrics[name]`` is
    ``[R, updates]``, run-major as :func:`init_runs`)."""
    final = np.asarray(metrics[metric])[:, -1].reshape(population.size, seeds)
    return [dict(member=p, values=population.member(p), final=final[p].tolist())
            for p in range(population.size)]


__all__ = ["Population", "Range", "PBT", "PopulationCarry", "make_population", "grid",
           "random_points", "init_runs", "init_pbt", "pbt_update", "exploit_explore",
           "sweep_stages", "summarise", "num_replaced"]



# ------------------------------------------------------------------- run directory (host)
def report(run_dir, pop: Population, seeds: int, metrics: Mapping[str, np.ndarray],
           pbt: bool) -> str:
    """Write ``population.csv`` (run -> member, seed, starting values), for PBT
    ``lineage.csv`` (every copy: update, run, parent run, values after the explore), and a
    plot (``sweep.png``: the final return per member; ``pbt.png``: every member's values
    over training); return the summary's markdown table (the final return per member,
    mean and 95% CI over seeds)."""
    import csv
    from pathlib import Path

    from jaxmarl_lite.stats import mean_ci

    run_dir = Path(run_dir)
    metric = "eval_return" if "eval_return" in metrics else "episode_return"
    p = pop.size
    with (run_dir / "population.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["run", "member", "seed", *pop.names])
        for r in range(p * seeds):
            w.writerow([r, r // seeds, r % seeds, *pop.member(r // seeds).values()])
    final = np.asarray(metrics[metric])[:, -1].reshape(p, seeds)
    names = pop.names
    if pbt:
        values = {n: np.asarray(metrics[f"hp_{n}"])[:, -1].reshape(p, seeds) for n in names}
        parent = np.asarray(metrics["pbt_parent"]).astype(int)
        updates = np.asarray(metrics["update"])[0].astype(int)
        with (run_dir / "lineage.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["update", "run", "member", "seed", "parent_run", "parent_member",
                        *names])
            for r, i in zip(*np.nonzero(parent != np.arange(p * seeds)[:, None])):
                w.writerow([updates[i], r, r // seeds, r % seeds, parent[r, i],
                            parent[r, i] // seeds,
                            *(float(metrics[f"hp_{n}"][r, i]) for n in names)])
        header = ["member", *(f"{n} (final, per seed)" for n in names),
                  f"final {metric} (mean ± 95% CI)", "per seed"]
        rows = [[m, *(", ".join(f"{v:.3g}" for v in values[n][m]) for n in names)]
                for m in range(p)]
    else:
        header = ["member", *names, f"final {metric} (mean ± 95% CI)", "per seed"]
        rows = [[m, *(f"{pop.values[n][m]:.4g}" for n in names)] for m in range(p)]
    means = []
    for m in range(p):
        mean, half = mean_ci(final[m])
        means.append(float(mean))
        rows[m] += [f"{float(mean):.3f} ± {float(half):.3f}",
                    ", ".join(f"{v:.3f}" for v in final[m])]
    if np.isfinite(means).any():
        best = int(np.nanargmax(means))
        rows[best][0] = f"**{best}** (best)"
    _plot(run_dir, pop, seeds, metrics, final, metric, pbt)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _plot(run_dir, pop: Population, seeds: int, metrics, final, metric: str, pbt: bool):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jaxmarl_lite.stats import mean_ci

    p = pop.size
    if pbt:
        names = pop.names
        fig, axes = plt.subplots(len(names) + 1, 1, figsize=(6.4, 2.2 * (len(names) + 1)),
                                 dpi=110, sharex=True)
        x = np.asarray(metrics["env_steps"])[0]
        for ax, name in zip(axes, names):
            for m in range(p):
                ax.plot(x, np.asarray(metrics[f"hp_{name}"])[m * seeds], lw=1)
            ax.set_ylabel(name)
            column = pop.values[name]
            if min(column) > 0 and max(column) / min(column) >= 10:
                ax.set_yscale("log")
        for m in range(p):
            axes[-1].plot(x, np.asarray(metrics[metric])[m * seeds], lw=1, label=f"member {m}")
        axes[-1].set_ylabel(metric)
        axes[-1].set_xlabel("env steps (seed 0's runs)")
        axes[0].set_title("PBT: each member's hyperparameters and return")
        path = run_dir / "pbt.png"
    else:
        fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
        stats = [mean_ci(final[m]) for m in range(p)]
        mean = np.array([float(s[0]) for s in stats])
        half = np.array([float(s[1]) for s in stats])
        if len(pop.names) == 1:
            xs = np.asarray(pop.values[pop.names[0]])
            order = np.argsort(xs)
            ax.errorbar(xs[order], mean[order], yerr=half[order], marker="o", capsize=3)
            ax.set_xlabel(pop.names[0])
            if xs.min() > 0 and xs.max() / xs.min() >= 10:
                ax.set_xscale("log")
        else:
            labels = [", ".join(f"{n}={pop.values[n][m]:.3g}" for n in pop.names)
                      for m in range(p)]
            ax.bar(range(p), mean, yerr=half, capsize=3)
            ax.set_xticks(range(p), labels, rotation=60, ha="right", fontsize="small")
        ax.set_ylabel(f"final {metric} (mean, 95% CI over {seeds} seeds)")
        ax.grid(alpha=0.3)
        path = run_dir / "sweep.png"
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
