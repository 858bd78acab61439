"""The closed-model rules' data files, read through one door so a number in them can be moved for a moment.

Every fitted number of the closed-model framings lives in a TOML file of the package (:data:`FILES`). Each
framing reads its file with :func:`load` (and may cache what it derives from it); :func:`overridden` changes one
number for the length of a ``with`` block and clears the caches that hold the old value (:data:`DEPENDENTS`).
Why: the cross-validation runner (``python -m bench.calibrate --cross-validate``) measures how much each case's count
moves when a number moves by one, and recounts held-out cases with refitted numbers, through the very code a user's
request takes, never a copy of it.

Not thread-safe by design: an override is a measuring tool for one process (the calibration runner, tests), never
something the server does.
"""

from __future__ import annotations

import copy
import importlib
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files as package_files
from typing import Any

#: file name → (package holding it, providers whose counts it sets). A provider's rules are these files' numbers.
FILES: dict[str, tuple[str, tuple[str, ...]]] = {
    "openai_framing.toml": ("tokcount.models", ("openai",)),
    "claude_rules.toml": ("tokcount.templates.framings", ("anthropic",)),
    "gemini_platforms.toml": ("tokcount.templates.framings", ("gemini", "vertex")),
    "gemini_rules.toml": ("tokcount.templates.framings", ("gemini", "vertex")),
    "rules.toml": ("tokcount.media", ("openai", "anthropic", "gemini", "vertex")),
}

#: file name → ``module:function`` caches built from it (cleared when one of its numbers is overridden)
DEPENDENTS: dict[str, tuple[str, ...]] = {
    "openai_framing.toml": ("tokcount.templates.framings.openai:_rule_tables",
                            "tokcount.templates.framings.openai:rules_for"),
    "claude_rules.toml": ("tokcount.templates.framings.anthropic:rules_table",),
    "gemini_platforms.toml": ("tokcount.templates.framings.gemini:platforms",),
    "gemini_rules.toml": ("tokcount.templates.framings.gemini:generations",),
    "rules.toml": ("tokcount.media.rules:_rules",),
}

_parsed: dict[str, dict[str, Any]] = {}
_overrides: dict[str, dict[tuple[str | int, ...], Any]] = {}


def pristine(name: str) -> dict[str, Any]:
    """The file ``name`` of :data:`FILES` as shipped (parsed once; callers must not change it)."""
    if name not in _parsed:
        package = FILES[name][0]
        _parsed[name] = tomllib.loads(package_files(package).joinpath(name).read_text(encoding="utf-8"))
    return _parsed[name]


def load(name: str) -> dict[str, Any]:
    """The file ``name`` as the framings see it: as shipped, with any :func:`overridden` numbers in place."""
    table = pristine(name)
    moved = _overrides.get(name)
    if not moved:
        return copy.deepcopy(table)
    table = copy.deepcopy(table)
    for path, value in moved.items():
        _put(table, path, value)
    return table


def split_key(dotted: str) -> tuple[str | int, ...]:
    """``'claude-4.ctok.tool_prompt.0'`` → ``('claude-4', 'ctok', 'tool_prompt', 0)``; a quoted part
    (``rule."qwen2.5-vl".patch_size``) keeps its dots."""
    parts: list[str | int] = []
    buf, quoted = "", False
    for ch in dotted:
        if ch == '"':
            quoted = not quoted
        elif ch == "." and not quoted:
            parts.append(int(buf) if buf.isdigit() else buf)
            buf = ""
        else:
            buf += ch
    parts.append(int(buf) if buf.isdigit() else buf)
    return tuple(parts)


def join_key(path: tuple[str | int, ...]) -> str:
    """The inverse of :func:`split_key`."""
    return ".".join(f'"{p}"' if isinstance(p, str) and "." in p else str(p) for p in path)


def _put(table: Any, path: tuple[str | int, ...], value: Any) -> None:
    for part in path[:-1]:
        table = table[part]
    if isinstance(path[-1], int) and not isinstance(table, list):
        raise KeyError(f"{join_key(path)}: not a list")
    table[path[-1]] = value  # a missing key is added: a section may set what it otherwise inherits


def get(name: str, dotted_key: str) -> Any:
    """The value at ``dotted_key`` of file ``name`` as the framings see it now."""
    table: Any = load(name)
    for part in split_key(dotted_key):
        table = table[part]
    return table


def clear(name: str) -> None:
    """Drop every cache built from file ``name`` (its :data:`DEPENDENTS`)."""
    for ref in DEPENDENTS.get(name, ()):
        module, _, attr = ref.partition(":")
        getattr(importlib.import_module(module), attr).cache_clear()


@contextmanager
def overridden(name: str, dotted_key: str, value: Any) -> Iterator[None]:
    """File ``name`` reads ``value`` at ``dotted_key`` inside the block (nested blocks stack; the previous value,
    or its absence, comes back after)."""
    if name not in FILES:
        raise KeyError(f"unknown rules file {name!r} (rules_data.FILES has {sorted(FILES)})")
    path = split_key(dotted_key)
    mine = _overrides.setdefault(name, {})
    had, before = path in mine, mine.get(path)
    mine[path] = value
    clear(name)
    try:
        yield
    finally:
        if had:
            mine[path] = before
        else:
            del mine[path]
        clear(name)


@contextmanager
def all_overridden(values: dict[tuple[str, str], Any]) -> Iterator[None]:
    """Several numbers at once: ``{(file, dotted_key): value}``."""
    items = list(values.items())
    if not items:
        yield
        return
    (name, key), value = items[0]
    with overridden(name, key, value), all_overridden(dict(items[1:])):
        yield
