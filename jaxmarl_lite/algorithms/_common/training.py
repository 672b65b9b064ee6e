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

from typing import Any, Callable, Dict, NamedTuple, Optional, Sequence

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


def count_updates(total_timesteps: int, steps_per_update: int, per_update: str) -> int:
    """``total_timesteps // steps_per_update``; ``ValueError`` when that is no update at all
    (``per_update`` names the product, e.g. ``"num_envs * num_steps"``)."""
    num_updates = total_timesteps // steps_per_update
    if num_updates < 1:
        raise ValueError(f"total_timesteps={total_timesteps} is less than one update "
                         f"({per_update} = {steps_per_update})")
    return num_updates


def loop_metrics(env_steps: jax.Array, episode_return, episode_length, eval_return,
                 **extra) -> Dict[str, jax.Array]:
    """The metrics every algorithm reports per update (see the module docstring), then its
    own ``extra`` ones."""
    return dict(env_steps=env_steps.astype(jnp.float32), episode_return=episode_return,
                episode_length=episode_length, eval_return=eval_return, **extra)


def run_updates(stages: TrainStages, carry: Any, num_updates: int) -> TrainResult:
    """``num_updates`` updates from ``carry`` in one ``lax.scan`` (jit it around); the
    metrics gain ``finite`` (:func:`finite_flags`)."""
    def body(c, _):
        c, metrics = stages.update(c)
        return c, dict(metrics, finite=finite_flags(c, metrics))

    carry, metrics = jax.lax.scan(body, carry, None, num_updates)
    return TrainResult(carry, metrics)


# ------------------------------------------------------- leaves shared by every seed
def _closed(sub):
    return sub.jaxpr if hasattr(sub, "jaxpr") and hasattr(sub, "consts") else sub


def _scan_counts(eqn):
    """``(num_consts, num_carry)`` of a scan equation, or ``None`` where this JAX version
    describes its operands in a way not read here. jax < 0.11 names the counts; jax 0.11
    packs one leaf per operand as ``ft_in = (consts, carry, xs)``."""
    if "num_consts" in eqn.params and "num_carry" in eqn.params:
        return eqn.params["num_consts"], eqn.params["num_carry"]
    try:
        consts, carry, xs = (len(part.vals) for part in eqn.params["ft_in"].unpack())
    except (KeyError, AttributeError, TypeError, ValueError):
        return None
    return (consts, carry) if consts + carry + xs == len(eqn.invars) else None


def _depends(jaxpr, tainted: Sequence[bool]) -> list:
    """Which outputs of ``jaxpr`` depend on the ``tainted`` inputs (a conservative
    data-flow pass: nested calls and scans are followed, other control flow, and a scan
    whose operands :func:`_scan_counts` cannot split, taints all its outputs when any input
    is tainted)."""
    from jax.extend.core import Literal

    env = {v: bool(t) for v, t in zip(jaxpr.invars, tainted)}
    read = lambda a: False if isinstance(a, Literal) else env.get(a, False)  # noqa: E731
    for eqn in jaxpr.eqns:
        ins = [read(a) for a in eqn.invars]
        sub = next((eqn.params[k] for k in ("jaxpr", "call_jaxpr", "fun_jaxpr")
                    if k in eqn.params), None)
        counts = _scan_counts(eqn) if eqn.primitive.name == "scan" else None
        if not any(ins):
            outs = [False] * len(eqn.outvars)
        elif counts is not None:
            body, (consts, n_carry) = _closed(sub), counts
            carry = ins[consts:consts + n_carry]
            while True:  # the loop's carry: tainted once any iteration taints it
                outs = _depends(body, ins[:consts] + carry + ins[consts + n_carry:])
                new = [a or b for a, b in zip(carry, outs[:n_carry])]
                if new == carry:
                    break
                carry = new
            outs = carry + outs[n_carry:]
        elif sub is not None and eqn.primitive.name not in ("while", "scan"):  # a call
            outs = _depends(_closed(sub), ins)
            outs = outs if len(outs) == len(eqn.outvars) else [True] * len(eqn.outvars)
        else:
            outs = [True] * len(eqn.outvars)
        env.update(zip(eqn.outvars, outs))
    return [read(v) for v in jaxpr.outvars]


def seed_invariant_and_update(stages: TrainStages, carry: Any):
    """Per leaf of a seeds carry (leading ``[S]``), whether it is the same for every seed:
    an integer or boolean leaf that ``init`` makes without the key and that every
    ``update`` computes from such leaves only (update counters, replay-buffer positions,
    pool slots). :func:`run_updates_seeds` keeps those unbatched in its vmap, as
    ``jax.vmap(train)`` does by itself, so that e.g. a buffer write stays an in-place update
    at one position and a ``lax.cond`` on the update count stays a branch instead of both
    branches and a select. Returns ``(invariance tree, update)``: ``update`` replays the one
    trace of ``stages.update`` the analysis made, so vmapping it traces nothing again."""
    one = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), carry)
    leaves, tree = jax.tree.flatten(one)
    update, out_shape = jax.make_jaxpr(stages.update, return_shape=True)(one)
    out_tree = jax.tree.structure(out_shape)

    def traced_update(c):  # the update from its one trace (no second trace to vmap it)
        from jax.extend.core import jaxpr_as_fun

        return jax.tree.unflatten(out_tree, jaxpr_as_fun(update)(*jax.tree.leaves(c)))

    init = jax.make_jaxpr(stages.init)(jax.random.key(0))
    free = [not t for t in _depends(init.jaxpr, [True] * len(init.jaxpr.invars))]
    if len(free) != len(leaves):
        return jax.tree.unflatten(tree, [False] * len(leaves)), traced_update
    free = [f and (jnp.issubdtype(x.dtype, jnp.integer) or x.dtype == jnp.bool_)
            for f, x in zip(free, leaves)]
    while True:
        outs = _depends(update.jaxpr, [not f for f in free])[:len(leaves)]
        new = [f and not o for f, o in zip(free, outs)]
        if new == free:
            return jax.tree.unflatten(tree, free), traced_update
        free = new


def vmapped_update(stages: TrainStages, carry: Any):
    """``stages.update`` vmapped over a seeds carry, with its :func:`seed_invariant_and_update` leaves
    unbatched; returns ``(update, squeeze, expand)``: ``squeeze(carry)`` takes one copy of
    the invariant leaves before the loop, ``expand(carry)`` restores the ``[S]`` layout.

    A carry of one seed runs the update unbatched (``squeeze`` drops the size-1 axis,
    metrics still come back ``[1]``): XLA:CPU compiles a size-1 batch axis into slower
    programs (on 2 cores the PQN loop ran 2.3x, QMIX/VDN/IQL 1.7-1.8x faster without it
    than ``jax.vmap(train)`` over one key; ``benchmarks/single_seed.py``). Its results
    equal ``jax.jit(train)(key)``'s, and the same seed's vmapped with others up to float
    rounding."""
    size = jax.tree.leaves(carry)[0].shape[0]
    if size == 1:
        def one_run(c):
            c, metrics = stages.update(c)
            return c, jax.tree.map(lambda x: x[None], metrics)

        return (one_run, lambda c: jax.tree.map(lambda x: x[0], c),
                lambda c: jax.tree.map(lambda x: x[None], c))
    invariant, traced_update = seed_invariant_and_update(stages, carry)
    axes = jax.tree.map(lambda inv: None if inv else 0, invariant)
    update = jax.vmap(traced_update, in_axes=(axes,), out_axes=(axes, 0),
                      spmd_axis_name=seed_axis_name())
    squeeze = lambda c: jax.tree.map(lambda x, inv: x[0] if inv else x, c, invariant)  # noqa: E731
    expand = lambda c: jax.tree.map(  # noqa: E731
        lambda x, inv: jnp.broadcast_to(x[None], (size,) + x.shape) if inv else x, c, invariant)
    return update, squeeze, expand


def run_updates_seeds(stages: TrainStages, carry: Any, num_updates: int,
                      progress: Optional[Callable[[Any, Dict[str, Any]], None]] = None,
                      every: int = 0, batched_update: Optional[Callable] = None,
                      check_finite: bool = True, seed_axis: Optional[str] = None) -> TrainResult:
    """:func:`run_updates` for a carry of many seeds (leading axis ``[S]``): one ``lax.scan``
    over updates of the vmapped ``update``; metrics come back ``[S, num_updates]``.

    With ``progress`` and ``every > 0``, ``progress(i, metrics)`` runs on the host after
    every ``every``-th update of the scan (``i``: updates done in this call, ``metrics``:
    that update's ``[S]`` values) through ``jax.debug.callback``: the loop stays one
    compiled call and the results are bitwise those without the callback.
    ``batched_update`` replaces the vmapped ``stages.update`` by an update of the whole
    batch of runs (e.g. population-based training, :mod:`jaxmarl_lite.population`).
    ``check_finite`` adds the per-run ``finite`` metric (:func:`finite_flags`).
    ``seed_axis``: the mesh axis name when this runs per device inside ``shard_map`` over
    the seeds (:func:`jaxmarl_lite.parallel.compile_updates`): ``progress`` then gets every
    device's seeds, once."""
    if batched_update is None:
        update, squeeze, expand = vmapped_update(stages, carry)
    else:
        update, squeeze, expand = batched_update, (lambda c: c), (lambda c: c)

    def body(c, i):
        c, metrics = update(c)
        if check_finite:
            metrics = dict(metrics, finite=finite_flags(expand(c), metrics))
        if progress is not None and every > 0:
            def show(m):
                if seed_axis is None:
                    jax.debug.callback(progress, i + 1, m)
                else:  # every device gathers (only on due updates), device 0 reports once
                    m = jax.lax.all_gather(m, seed_axis, tiled=True)
                    jax.lax.cond(jax.lax.axis_index(seed_axis) == 0,
                                 lambda m: jax.debug.callback(progress, i + 1, m),
                                 lambda m: None, m)

            jax.lax.cond((i + 1) % every == 0, show, lambda m: None, metrics)
        return c, metrics

    carry, metrics = jax.lax.scan(body, squeeze(carry), jnp.arange(num_updates))
    return TrainResult(expand(carry), jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), metrics))


NAN_ALLOWED = ("episode_", "eval_")
"""Metric name prefixes that are NaN by design (no finished episode yet, no evaluation yet)."""


def finite_flags(carry: Any, metrics: Dict[str, jax.Array]) -> jax.Array:
    """``[R]`` float32: 1 where a run's parameters and its loss-like metrics (every metric
    but ``episode_*`` / ``eval_*``) are all finite after an update, else 0. One reduction
    over the parameters per update; the CLI stops a run (or warns) on the first 0."""
    carry = getattr(carry, "runs", carry)  # a population loop wraps the runs
    params = getattr(carry, "params", carry)
    shape = jnp.shape(next(iter(metrics.values())))[:1]  # [R], or () for one run
    ok = jnp.ones(shape, bool)
    for x in jax.tree.leaves(params) + [v for k, v in metrics.items()
                                        if not k.startswith(NAN_ALLOWED)]:
        x = jnp.asarray(x)
        if jnp.issubdtype(x.dtype, jnp.floating) and x.shape[:len(shape)] == shape:
            ok &= jnp.all(jnp.isfinite(x).reshape(shape + (-1,)), axis=-1)
    return ok.astype(jnp.float32)


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
