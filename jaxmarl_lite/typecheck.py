"""Type checks of frozen-dataclass fields (env configs, algorithm configs).

Catches ``make("grid_meet", size="big")`` at construction with a message naming the
field and the expected type, instead of a confusing error deep inside ``jit``.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any


def _matches(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is tuple:
        return isinstance(value, tuple)
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    return True  # anything richer is left to the class's own validation


def check_field_types(obj: Any) -> None:
    """Raise ``TypeError`` naming the first field whose value does not fit its annotation."""
    hints = typing.get_type_hints(type(obj))
    for field in dataclasses.fields(obj):
        hint = hints.get(field.name, Any)
        value = getattr(obj, field.name)
        if not _matches(value, hint):
            shown = getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
            if typing.get_origin(hint) is typing.Union:  # "Optional[int]", not "Optional"
                shown = str(hint).replace("typing.", "")
            if typing.get_origin(hint) is typing.Literal:
                shown = "one of " + ", ".join(repr(c) for c in typing.get_args(hint))
            raise TypeError(
                f"{type(obj).__name__}.{field.name} expects {shown}, "
                f"got {value!r} ({type(value).__name__})"
            )


def require_int(where: str, name: str, value: Any, minimum: int, unit: str = "") -> None:
    """Raise ``ValueError`` unless ``value`` is an ``int`` (not a ``bool``) ``>= minimum``,
    naming ``where`` (the function) and ``name`` (the argument)."""
    if not (_matches(value, int) and value >= minimum):
        raise ValueError(f"{where}: {name} must be an int >= {minimum}"
                         f"{f' ({unit})' if unit else ''}, got {value!r}")
