"""Base class of every algorithm's frozen, typed ``Config``.

A config is a ``@dataclasses.dataclass(frozen=True)`` subclass of :class:`ConfigBase` with a
docstring under each field. At construction the field types are checked and the subclass's
``validate`` runs, so bad values fail before anything compiles, with the field named::

    >>> QMIXConfig(lr=-1.0)
    ValueError: QMIXConfig.lr must be > 0, got -1.0

``replace``/``from_dict`` reject unknown field names with the valid names listed; the CLI
builds its options from the same fields (no second copy of them).
"""
from __future__ import annotations

import ast
import dataclasses
import inspect
import math
import textwrap
import typing
from typing import Any, Dict, Mapping, Type, TypeVar

from jaxmarl_lite.registry import unknown_name_message
from jaxmarl_lite.typecheck import check_field_types

C = TypeVar("C", bound="ConfigBase")
INT32_MAX = 2**31 - 1


class ConfigBase:
    def __post_init__(self) -> None:
        check_field_types(self)
        for field in dataclasses.fields(self):  # inf / nan pass every "> 0" check
            value = getattr(self, field.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{type(self).__name__}.{field.name} must be finite, "
                                 f"got {value!r}")
            if (isinstance(value, int) and not isinstance(value, bool)
                    and not -INT32_MAX <= value <= INT32_MAX):  # counters and shapes are int32
                raise ValueError(f"{type(self).__name__}.{field.name} must be at most "
                                 f"{INT32_MAX:,} in size (JAX counts in int32), got {value!r}")
        self.validate()

    def validate(self) -> None:
        """Subclasses raise ``ValueError`` (via the ``_require*`` helpers) on bad values."""

    # ------------------------------------------------------------------ helpers
    def _require(self, ok: bool, name: str, expected: str) -> None:
        if not ok:
            raise ValueError(
                f"{type(self).__name__}.{name} must be {expected}, got {getattr(self, name)!r}"
            )

    def _require_positive(self, *names: str) -> None:
        for name in names:
            self._require(getattr(self, name) > 0, name, "> 0")

    def _require_nonnegative(self, *names: str) -> None:
        for name in names:
            self._require(getattr(self, name) >= 0, name, ">= 0")

    def _require_unit(self, *names: str, closed: bool = True) -> None:
        for name in names:
            v = getattr(self, name)
            self._require(0.0 <= v <= 1.0 if closed else 0.0 < v < 1.0, name,
                          "in [0, 1]" if closed else "in (0, 1)")

    # ---------------------------------------------------------------- building
    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]

    @classmethod
    def field_types(cls) -> Dict[str, Any]:
        hints = typing.get_type_hints(cls)
        return {name: hints[name] for name in cls.field_names()}

    @classmethod
    def check_names(cls, names) -> None:
        valid = cls.field_names()
        for name in names:
            if name not in valid:
                raise ValueError(unknown_name_message(f"{cls.__name__} field", name, valid))

    @classmethod
    def from_dict(cls: Type[C], values: Mapping[str, Any]) -> C:
        cls.check_names(values)
        hints = cls.field_types()
        fixed = {k: tuple(v) if _takes_tuple(hints[k]) and isinstance(v, list) else v
                 for k, v in values.items()}
        return cls(**fixed)

    def replace(self: C, **changes: Any) -> C:
        self.check_names(changes)
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def field_docs(cls) -> Dict[str, str]:
        """``{field: the docstring under it}`` (from the source of ``cls`` and its bases; a
        subclass's docstring wins), in field order; ``""`` where a field has none. The docs
        site builds each algorithm's config table from it."""
        docs: Dict[str, str] = {}
        for klass in reversed(cls.__mro__):
            if klass is object or not dataclasses.is_dataclass(klass):
                continue
            try:
                tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
            except (OSError, TypeError):  # no source (e.g. defined in a REPL)
                continue
            body = tree.body[0].body  # type: ignore[attr-defined]
            for node, after in zip(body, body[1:] + [None]):
                if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                        and isinstance(after, ast.Expr)
                        and isinstance(after.value, ast.Constant)
                        and isinstance(after.value.value, str)):
                    docs[node.target.id] = inspect.cleandoc(after.value.value)
        return {name: docs.get(name, "") for name in cls.field_names()}


def _takes_tuple(hint: Any) -> bool:
    """A field typed ``Tuple[...]`` or ``Optional[Tuple[...]]`` (JSON gives lists)."""
    return typing.get_origin(hint) is tuple or any(
        typing.get_origin(h) is tuple for h in typing.get_args(hint))
