"""mkdocs hook: ``<!-- config: NAME -->`` in a page becomes the table of algorithm ``NAME``'s
``Config`` fields (name, type, default, the docstring under the field), generated from the
dataclass itself so the docs cannot drift from the code."""
from __future__ import annotations

import dataclasses
import re
import typing

MARKER = re.compile(r"<!-- config: (\w+) -->")
ROLE = re.compile(r":(?:mod|func|class|meth|attr|data):`~?([^`]+)`")


def type_name(hint) -> str:
    """``Literal['a', 'b']`` -> ``'a' | 'b'``, ``Optional[float]`` -> ``float | None``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if args and origin is not None and type(None) in args:
        return " | ".join(type_name(a) for a in args)
    if hint is type(None):
        return "None"
    return getattr(hint, "__name__", None) if not args else str(hint).replace("typing.", "")


def markdown(rst: str) -> str:
    """A field docstring's RST inline markup as Markdown, on one line."""
    text = ROLE.sub(lambda m: "`" + m.group(1).split(".")[-1] + "`", " ".join(rst.split()))
    return text.replace("``", "`").replace("|", "\\|")


def config_table(name: str) -> str:
    from jaxmarl_lite.algorithms import get

    cls = get(name).Config
    docs = cls.field_docs()
    types = cls.field_types()
    rows = ["| field | type | default | meaning |", "|---|---|---|---|"]
    for field in dataclasses.fields(cls):
        hint = type_name(types[field.name])
        meaning = markdown(docs[field.name])
        tunable = " *(tunable)*" if field.name in getattr(cls, "TUNABLE", {}) else ""
        rows.append(f"| `{field.name}` | `{hint}` | `{field.default!r}` | {meaning}{tunable} |")
    return "\n".join(rows)


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ARG001
    return MARKER.sub(lambda m: config_table(m.group(1)), markdown)
