"""Name -> environment constructor, with helpful errors for unknown names and kwargs."""
from __future__ import annotations

import dataclasses
import difflib
import importlib
import inspect
import json
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


def import_env_module(module: str) -> None:
    """Import ``module`` (e.g. ``my_pkg.envs``) for the envs it registers on import."""
    if not isinstance(module, str) or not module:
        raise TypeError(f"an env module is a dotted module name (e.g. 'my_pkg.envs'), got "
                        f"{module!r}")
    try:
        importlib.import_module(module)
    except ImportError as err:
        raise ValueError(f"cannot import env module {module!r} ({err}); it must be importable "
                         "from the current directory or the installed packages") from err


def _factory_at(path: str) -> Callable[..., Any]:
    """The callable named by ``'pkg.module:Factory'`` (``Factory`` may be dotted)."""
    module, _, attr = path.partition(":")
    import_env_module(module)
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"{module!r} has no {attr!r} (from the env reference {path!r})")
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"{path!r} is not callable; an env reference names an env class or a "
                        "function that returns an env")
    return obj


def make(name: str, **kwargs: Any) -> Any:
    """Build the environment registered as ``name`` with static config ``kwargs``.

    ``name`` may also be an import reference ``'pkg.module:Factory'`` (an env class or a
    function returning an env), called with ``kwargs``: custom envs without registering.

    Raises ``ValueError`` for an unknown name (listing valid names and close matches)
    and for unknown keyword arguments (listing the valid ones); invalid values raise
    from the env's own validation at construction.
    """
    if not isinstance(name, str):
        raise TypeError(f"make expects an environment name (str), got {name!r}. Valid "
                        f"choices: {', '.join(registered_envs(include_aliases=True))}")
    if name in _ALIASES:
        name, preset = _ALIASES[name]
        kwargs = {**preset, **kwargs}
    if ":" in name:
        factory = _factory_at(name)
    elif name not in _FACTORIES:
        raise ValueError(unknown_name_message("environment", name, registered_envs(include_aliases=True))
                         + " (or an import reference 'pkg.module:Factory')")
    else:
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


def env_reference(env: Any) -> Tuple[str, Dict[str, Any]]:
    """``(name, kwargs)`` with ``make(name, **kwargs) == env`` and JSON-safe ``kwargs``:
    how a run directory records an env object so that resume, eval and plot can rebuild
    it. The registered name when the env's class is registered, else the import reference
    ``'module:Class'``; ``kwargs`` are the fields that differ from their defaults.
    Raises ``ValueError`` when neither rebuilds an equal env (register a factory, or pass
    an import reference of a function that builds it)."""
    cls = type(env)
    if not dataclasses.is_dataclass(env):
        raise ValueError(f"cannot record how to rebuild {cls.__name__}: it is not a dataclass")
    kwargs = {}
    for f in dataclasses.fields(env):
        value = getattr(env, f.name)
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else object())
        if f.init and not (value is default or value == default):
            kwargs[f.name] = value
    try:
        kwargs = json.loads(json.dumps(kwargs))
    except TypeError as err:
        raise ValueError(f"cannot record {cls.__name__}'s fields in a run directory ({err})")
    names = [n for n, f in _FACTORIES.items() if f is cls] + [f"{cls.__module__}:{cls.__qualname__}"]
    for name in names:
        try:
            if make(name, **kwargs) == env:
                return name, kwargs
        except Exception:  # noqa: BLE001  (try the next way to rebuild it)
            continue
    raise ValueError(f"cannot record how to rebuild this {cls.__name__} (tried {names} with "
                     f"{kwargs}): register it with jl.register(name, factory) or pass an import "
                     "reference 'pkg.module:factory' of a function that builds it")
