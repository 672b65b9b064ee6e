"""Tunable hyperparameters as data: the part of a config that can differ between the members
of one compiled population (sweep points, PBT members) without recompiling.

Every algorithm's ``Config`` lists its tunable fields in ``TUNABLE`` (name -> the closed
interval its values must stay in); everything else is structural (shapes, network sizes,
``num_envs``, recurrent or not, schedules' on/off switches) and needs a recompile.
``make_stages(config, env, hyper=names)`` builds a loop whose carry holds the named fields
as float32 scalars (``carry.hyper``; an empty dict by default, in which case the loop is
exactly the one of a plain config, bitwise); the update reads them through
:class:`HyperView`, which looks like the config with those fields replaced by the carried
arrays. Optimiser values (learning rates, gradient-norm clips) live in the optimiser state
through ``optax.inject_hyperparams`` and are set from ``carry.hyper`` before every step
(:func:`set_hyperparams`), so the carry holds one source of truth that a population driver
(:mod:`jaxmarl_lite.population`) may copy and perturb between updates.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, Mapping, Sequence, Tuple

import jax.numpy as jnp
import optax

from jaxmarl_lite.registry import unknown_name_message

INF = math.inf


class HyperView:
    """``config`` with the fields in ``values`` (arrays) read from ``values``::

        hp = HyperView(config, carry.hyper)
        hp.gamma        # carry.hyper["gamma"] if carried, else config.gamma
    """

    __slots__ = ("_config", "_values")

    def __init__(self, config: Any, values: Mapping[str, Any]):
        object.__setattr__(self, "_config", config)
        object.__setattr__(self, "_values", dict(values))

    def __getattr__(self, name: str) -> Any:
        values = object.__getattribute__(self, "_values")
        if name in values:
            return values[name]
        return getattr(object.__getattribute__(self, "_config"), name)

    def carried(self, name: str) -> bool:
        """Whether ``name`` is data (an array in the carry) rather than a static value."""
        return name in object.__getattribute__(self, "_values")


def check_hyper(config, names: Sequence[str]) -> Tuple[str, ...]:
    """``names`` as a tuple after checking each is a tunable field of ``config``: an
    unknown name lists the fields; a structural one says it needs a recompile."""
    tunable = type(config).TUNABLE
    for name in names:
        if name not in type(config).field_names():
            raise ValueError(unknown_name_message(f"{type(config).__name__} field", name,
                                                  type(config).field_names()))
        if name not in tunable:
            raise ValueError(
                f"{type(config).__name__}.{name} is structural (it changes the compiled "
                f"program) and needs a recompile: train separate runs for its values. "
                f"Tunable fields: {', '.join(sorted(tunable))}")
    if len(set(names)) != len(names):
        raise ValueError(f"hyperparameter names repeat: {list(names)}")
    return tuple(names)


def initial_values(config, names: Sequence[str]) -> Dict[str, Any]:
    """``{name: float32 scalar}`` of ``config``'s values (a carry's starting ``hyper``)."""
    return {name: jnp.asarray(getattr(config, name), jnp.float32) for name in names}


def check_values(config, values: Mapping[str, Sequence[float]]) -> None:
    """Every value of every tunable field is valid for ``config`` (its ``validate`` runs on
    ``config.replace(name=value)``), so a bad sweep fails before anything compiles."""
    check_hyper(config, list(values))
    for name, column in values.items():
        for value in column:
            config.replace(**{name: float(value)})


def bounds(config, name: str) -> Tuple[float, float]:
    """The closed interval the values of tunable ``name`` must stay in."""
    return type(config).TUNABLE[name]


def tunable_optimizer(build: Callable[..., optax.GradientTransformation],
                      **initial: Any) -> optax.GradientTransformation:
    """``optax.inject_hyperparams(build)(**initial)``: the keyword hyperparameters live in
    the optimiser state (``state.hyperparams``), set from the carry by
    :func:`set_hyperparams` before every update."""
    return optax.inject_hyperparams(build)(**initial)


def set_hyperparams(opt_state, **values: Any):
    """``opt_state`` of a :func:`tunable_optimizer` with its hyperparameters replaced (each
    value broadcast to the stored one's shape, e.g. ``[G]`` for per-group optimisers)."""
    hyper = dict(opt_state.hyperparams)
    for name, value in values.items():
        old = jnp.asarray(hyper[name])
        hyper[name] = jnp.broadcast_to(jnp.asarray(value, old.dtype), old.shape)
    return opt_state._replace(hyperparams=hyper)


def clipped_adam(lr: float, max_grad_norm: float, *, anneal_steps: int = 0, eps: float = 1e-8,
                 tunable: bool = False, radam: bool = False) -> optax.GradientTransformation:
    """Adam (``radam``: rectified Adam, Liu et al. 2020) after global-norm clipping, the
    learning rate annealed linearly to 0 over ``anneal_steps`` steps when > 0. ``tunable``:
    the learning rate and the clip are ``inject_hyperparams`` values (``learning_rate``,
    ``max_norm``: set them from the carry with :func:`set_hyperparams` before every step),
    the anneal a schedule factor after them; otherwise the plain optax chain."""
    if not tunable:
        rate = optax.linear_schedule(lr, 0.0, anneal_steps) if anneal_steps else lr
        opt = optax.radam(rate, eps=eps) if radam else optax.adam(rate, eps=eps)
        return optax.chain(optax.clip_by_global_norm(max_grad_norm), opt)

    def build(learning_rate, max_norm):
        scale = optax.scale_by_radam(eps=eps) if radam else optax.scale_by_adam(eps=eps)
        parts = [optax.clip_by_global_norm(max_norm), scale,
                 optax.scale_by_learning_rate(learning_rate)]
        if anneal_steps:
            parts.append(optax.scale_by_schedule(optax.linear_schedule(1.0, 0.0, anneal_steps)))
        return optax.chain(*parts)

    return tunable_optimizer(build, learning_rate=lr, max_norm=max_grad_norm)


def carried_schedule(config, values: Mapping[str, Any], start: str, end: str, fraction: str,
                     total_steps: int, static: Callable):
    """A linear schedule from field ``start`` to field ``end`` over ``fraction *
    total_steps`` counts: ``static`` (the plain optax schedule) unless one of the three
    fields is carried in ``values``, then the same line from the carried values."""
    if not any(name in values for name in (start, end, fraction)):
        return static
    hp = HyperView(config, values)

    def value(count):
        steps = jnp.maximum(getattr(hp, fraction) * total_steps, 1.0)
        return linear_anneal(getattr(hp, start), getattr(hp, end), count / steps, 1)

    return value


def linear_anneal(start, end, count, steps: int):
    """``start`` -> ``end`` linearly over ``steps`` counts, then ``end`` (traced-safe
    ``optax.linear_schedule``)."""
    frac = jnp.clip(jnp.asarray(count, jnp.float32) / max(steps, 1), 0.0, 1.0)
    return start + frac * (end - start)
