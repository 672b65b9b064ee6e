"""Name -> environment constructor, with helpful errors for unknown names and kwargs."""
from __future__ import annotations

import dataclasses
import difflib
import inspect
from typing import Any, Callable, Dict, List, Tuple

from jaxmarl_lite.typecheck import check_field_types

_FACTORIES: Dict[str, Callable[..., Any]] = {}
_ALIASES: Dict[str, Tuple[str, Dict[str, Any]]] = {}


def register(name: str, factory: Callable[..., Any], *, aliases: Tuple[str, ...] = ()) -> None:
    """Register ``factory`` (usually the env class) under ``name`` and its ``aliases``."""
    for n in (name,) + tuple(aliases):
        if n in _FACTORIES or n in _ALIASES:
            raise ValueError(f"environment name {n!r} is already registered")
    _FACTORIES[name] = factory
    for alias in aliases:
        _ALIASES[alias] = (name, {})


def registered_envs(include_aliases: bool = False) -> List[str]:
    """Sorted canonical environment names (and aliases such as ``simple_spread_v3``)."""
    names = list(_FACTORIES)
    if include_aliases:
        names += list(_ALIASES)
    return sorted(names)


def unknown_name_message(kind: str, name: str, valid: List[str]) -> str:
    """``Unknown <kind> 'x'. Did you mean ...? Valid choices: ...`` (shared by all lookups)."""
    close = difflib.get_close_matches(name, valid, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"Unknown {kind} {name!r}.{hint} Valid choices: {', '.join(valid)}"


def make(name: str, **kwargs: Any) -> Any:
    """Build the environment registered as ``name`` with static config ``kwargs``.

    Raises ``ValueError`` for an unknown name (listing valid names and close matches)
    and for unknown keyword arguments (listing the valid ones); invalid values raise
    from the env's own validation at construction.
    """
    if name in _ALIASES:
        name, preset = _ALIASES[name]
        kwargs = {**preset, **kwargs}
    if name not in _FACTORIES:
        raise ValueError(unknown_name_message("environment", name, registered_envs(include_aliases=True)))
    factory = _FACTORIES[name]
    params = inspect.signature(factory).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        valid = [p for p in params if not p.startswith("_")]
        for key in kwargs:
            if key not in valid:
                raise ValueError(
                    unknown_name_message(f"keyword argument for {name}", key, valid)
                    if valid
                    else f"{name} takes no keyword arguments, got {key!r}"
                )
    env = factory(**kwargs)
    if dataclasses.is_dataclass(env):
        check_field_types(env)
    return env
