"""Docstring helpers: share an ``Args`` section between a core and its ready-to-use alias.

The ready optimizers (``prodigy``, ``adabound``, ...) take the arguments of their core
(``scale_by_prodigy``, ...), which documents them with their ranges. :func:`args_from` copies
those entries into the alias's docstring when the module is imported, so ``help()``, the
rendered API reference and the source all agree without the text being written twice.
``tests/test_docs.py`` checks that every public callable documents every argument.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

#: Google-style section headers, as napoleon reads them.
SECTIONS = ("Args", "Arguments", "Parameters", "Returns", "Yields", "Raises", "Example",
            "Examples", "References", "Departures", "Note", "Notes", "Attributes", "Warning",
            "See Also")
_HEADER = re.compile(r"^(" + "|".join(SECTIONS) + r"):\s*$")
# ``name: text``, ``name (type): text`` or ``a, b: text`` (one entry for several arguments).
_ENTRY = re.compile(r"^(\*{0,2}\w+(?:\s*,\s*\w+)*)\s*(\([^)]*\))?\s*:(.*)$")


def _lines(doc: str | None) -> list[str]:
    return inspect.cleandoc(doc or "").splitlines()


def args_entries(doc: str | None) -> dict[str, list[str]]:
    """The ``Args:`` entries of a Google-style docstring: ``{name: [first line, more...]}``.

    Continuation lines keep their indentation relative to the entry.
    """
    lines = _lines(doc)
    entries: dict[str, list[str]] = {}
    inside = False
    indent = None
    current: list[str] | None = None
    for line in lines:
        header = _HEADER.match(line)
        if header:
            inside = header.group(1) in ("Args", "Arguments", "Parameters")
            indent, current = None, None
            continue
        if not inside:
            continue
        if not line.strip():
            if current is not None:
                current.append("")
            continue
        width = len(line) - len(line.lstrip())
        if width == 0:  # the section ended without a blank line
            inside = False
            continue
        if indent is None:
            indent = width
        if width == indent:
            match = _ENTRY.match(line.strip())
            if match:
                current = [line.strip()]
                for name in match.group(1).split(","):
                    entries[name.strip().lstrip("*")] = current
                continue
        if current is not None:
            current.append(line[indent:])
    for text in entries.values():
        while text and not text[-1]:
            text.pop()
    return entries


def args_from(*sources: Callable[..., Any], **extra: str) -> Callable[[F], F]:
    """Give the decorated function an ``Args:`` section built from its ``sources``' entries.

    Each parameter of the decorated function is documented, in signature order, by its own
    ``Args`` entry if it has one, else by ``extra[name]``, else by the first source that
    documents it. Parameters documented nowhere are left out (the docs test reports them).
    The section goes before the first of ``Returns``/``Example``/``References``/... .
    """

    def decorate(fn: F) -> F:
        own = args_entries(fn.__doc__)
        found: dict[str, list[str]] = {}
        for name in inspect.signature(fn).parameters:
            if name in own:
                found[name] = own[name]
            elif name in extra:
                found[name] = [f"{name}: {extra[name]}"]
            else:
                for source in sources:
                    entry = args_entries(source.__doc__).get(name)
                    if entry is not None:
                        found[name] = entry
                        break
        section = ["Args:"]
        unique = {id(entry): entry for entry in found.values()}  # ``a, b:`` entries once
        for entry in unique.values():
            section += ["  " + entry[0]] + [("  " + line) if line else "" for line in entry[1:]]
        lines = _remove_args(_lines(fn.__doc__))
        at = next((i for i, line in enumerate(lines) if _HEADER.match(line)), len(lines))
        if at > 0 and lines[at - 1].strip():
            section = ["", *section]
        lines[at:at] = [*section, ""]
        fn.__doc__ = "\n".join(lines).rstrip() + "\n"
        return fn

    return decorate


def _remove_args(lines: list[str]) -> list[str]:
    out: list[str] = []
    skipping = False
    for line in lines:
        header = _HEADER.match(line)
        if header:
            skipping = header.group(1) in ("Args", "Arguments", "Parameters")
            if skipping:
                continue
        elif skipping and line.strip() and not line.startswith(" "):
            skipping = False
        if not skipping:
            out.append(line)
    return out


def field_docs(cls: type) -> Mapping[str, str]:
    """The trailing ``# comment`` of each annotated field in a NamedTuple's source.

    States document their fields as ``name: type  # shape, dtype: meaning``; a leading
    ``# type: ignore[...]`` is skipped. Returns ``{}`` where the source is unavailable.
    """
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    fields = getattr(cls, "_fields", ())
    docs: dict[str, str] = {}
    for line in source.splitlines():
        match = re.match(r"\s+(\w+)\s*:[^#]*#\s*(.*)$", line)
        if not match or match.group(1) not in fields:
            continue
        comment = re.sub(r"^type:\s*ignore(\[[^\]]*\])?\s*(#\s*)?", "", match.group(2)).strip()
        if comment:
            docs[match.group(1)] = comment
    return docs
