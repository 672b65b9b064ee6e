"""Types and helpers shared by every algorithm's ``make_train``.

Every ``train(key)`` returns a :class:`TrainResult`: the final carry (parameters,
optimiser state, env state, ...) and a dict of metric arrays with a leading
``[num_updates]`` axis (``[num_seeds, num_updates]`` under ``jax.vmap(train)``). Metric
names shared by all algorithms: ``env_steps`` (cumulative env steps per seed),
``episode_return`` (mean team return of the episodes that finished during the update,
carried forward when none finished), ``episode_length``, and, where the algorithm
evaluates, ``eval_return``.

Stages: every algorithm builds its loop from :class:`TrainStages` — ``init(key) -> carry``
and ``update(carry) -> (carry, metrics)`` (one whole update: rollout, learning, target
updates, evaluation) — and ``make_train`` is :func:`train_from_stages`. The front door runs
the same ``update`` in chunks between checkpoints (:func:`run_updates`), which gives
bitwise the same result as one uninterrupted ``train(key)``.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, NamedTuple, Optional

import jax
import jax.numpy as jnp

from jaxmarl_lite.parallel import seed_axis_name


class TrainResult(NamedTuple):
    carry: Any
    metrics: Dict[str, jax.Array]


class TrainStages(NamedTuple):
    init: Callable[[jax.Array], Any]  # key -> carry
    update: Callable[[Any], tuple]  # carry -> (carry, metrics of this update)
    num_updates: int


def run_updates(stages: TrainStages, carry: Any, num_updates: int) -> TrainResult:
    """``num_updates`` updates from ``carry`` in one ``lax.scan`` (jit it around)."""
    carry, metrics = jax.lax.scan(lambda c, _: stages.update(c), carry, None, num_updates)
    return TrainResult(carry, metrics)


def run_updates_seeds(stages: TrainStages, carry: Any, num_updates: int,
                      progress: Optional[Callable[[Any, Dict[str, Any]], None]] = None,
                      every: int = 0, batched_update: Optional[Callable] = None) -> TrainResult:
    """:func:`run_updates` for a carry of many seeds (leading axis ``[S]``): one ``lax.scan``
    over updates of the vmapped ``update``; metrics come back ``[S, num_updates]``.

    With ``progress`` and ``every > 0``, ``progress(i, metrics)`` runs on the host after
    every ``every``-th update of the scan (``i``: updates done in this call, ``metrics``:
    that update's ``[S]`` values) through ``jax.debug.callback``: the loop stays one
    compiled call and the results are bitwise those without the callback.
    ``batched_update`` replaces the vmapped ``stages.update`` by an update of the whole
    batch of runs (e.g. population-based training, :mod:`jaxmarl_lite.population`)."""
    update = batched_update or jax.vmap(stages.update, spmd_axis_name=seed_axis_name())

    def body(c, i):
        c, metrics = update(c)
        if progress is not None and every > 0:
            jax.lax.cond((i + 1) % every == 0,
                         lambda m: jax.debug.callback(progress, i + 1, m), lambda m: None,
                         metrics)
        return c, metrics

    carry, metrics = jax.lax.scan(body, carry, jnp.arange(num_updates))
    return TrainResult(carry, jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), metrics))


def train_from_stages(stages: TrainStages) -> Callable[[jax.Array], TrainResult]:
    """``train(key)``: init then all ``stages.num_updates`` updates, one compiled scan."""

    def train(key: jax.Array) -> TrainResult:
        return run_updates(stages, stages.init(key), stages.num_updates)

    return train


class EpisodeMetrics(NamedTuple):
    episode_return: jax.Array  # [] mean team return over finished episodes
    episode_length: jax.Array  # [] mean length over finished episodes
    num_episodes: jax.Array  # [] how many finished


def episode_metrics(info: Dict[str, jax.Array], previous: EpisodeMetrics) -> EpisodeMetrics:
    """Average the :class:`~jaxmarl_lite.wrappers.EpisodeStats` fields of ``info`` (any
    leading batch/time axes) over the episodes that finished; keep ``previous`` values
    when none did."""
    done = info["returned_episode"].astype(jnp.float32)
    n = done.sum()
    safe = jnp.maximum(n, 1.0)
    ret = (info["returned_team_return"] * done).sum() / safe
    length = (info["returned_episode_lengths"].astype(jnp.float32) * done).sum() / safe
    return EpisodeMetrics(
        episode_return=jnp.where(n > 0, ret, previous.episode_return),
        episode_length=jnp.where(n > 0, length, previous.episode_length),
        num_episodes=n,
    )


def initial_episode_metrics() -> EpisodeMetrics:
    nan = jnp.asarray(jnp.nan, jnp.float32)
    return EpisodeMetrics(nan, nan, jnp.zeros((), jnp.float32))


def init_seeds(stages: TrainStages, keys: jax.Array) -> Any:
    """Carries for a batch of seeds ``keys [S]``, stacked on a leading axis, for
    ``jax.vmap(lambda c: run_updates(stages, c, n))``. Initialises the seeds one by one
    with one compiled ``init`` (so each seed's carry equals its single-seed ``init``
    exactly; only the updates are vmapped)."""
    init = jax.jit(stages.init)
    carries = [init(k) for k in keys]
    return jax.tree.map(lambda *xs: jnp.stack(xs), *carries)


def train_seeds(stages: TrainStages, keys: jax.Array) -> TrainResult:
    """``jax.vmap(train)(keys)`` with :func:`init_seeds`: all seeds' updates in one
    compiled, vmapped scan."""
    carry = init_seeds(stages, keys)
    return jax.jit(jax.vmap(lambda c: run_updates(stages, c, stages.num_updates)))(carry)
