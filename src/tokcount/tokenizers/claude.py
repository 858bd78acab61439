"""Claude's text tokenizer as ctok (PyPI, MIT) reconstructs it from measured ``count_tokens`` answers.

Anthropic publishes no tokenizer for Claude 3 and later. ctok rebuilt one vocabulary per generation from counts
the API returned (exact on 962k texts of 350 languages for each, held-out code and prose included): ``v3`` for
Claude 3 through Opus 4.6, ``v4.7`` for Opus 4.7, ``v4.8`` (the 4.7 vocabulary under another message frame) for
Opus 4.8 and the Claude 5 models. It needs Python 3.12; where it is not installed the Anthropic framing falls
back to its labelled o200k proxy (:func:`available`).

ctok counts a text as the one user message of a request; :func:`count` takes its message frame off, so the
framing adds its own turns around it. It is pure Python (60k-1M characters a second here, linear in the text), so
counts of texts of 64+ characters are remembered per table in a bounded LRU, and a request's characters are
budgeted by the framing (``claude_ctok_chars``).
"""

from __future__ import annotations

from functools import cache
from types import ModuleType

from .core import MIN_CACHED_CHARS, SegmentCache

#: ctok's tables, by the version string it routes on (its README: "3.0" <= v < "4.7" is v3, and so on)
TABLES = ("3.0", "4.7", "4.8")


@cache
def _ctok() -> ModuleType | None:
    try:
        import ctok
    except ImportError:  # Python < 3.12, or installed without it: the framing's proxy counts instead
        return None
    return ctok


def available() -> bool:
    """ctok is importable here."""
    return _ctok() is not None


@cache
def _frame(table: str) -> int:
    """ctok's single-message frame for ``table``: the tokens its count of a one-letter message has beyond the
    letter (v3 7, v4.7 11, v4.8 6; measured by ctok against the API)."""
    ctok = _ctok()
    assert ctok is not None
    return int(ctok.token_count("a", table)) - 1


@cache
def _cache(table: str) -> SegmentCache:
    return SegmentCache()


def cached(text: str, table: str) -> int | None:
    """The remembered count of ``text``, or None (short texts are never remembered: recounting is cheaper)."""
    if len(text) < MIN_CACHED_CHARS:
        return None
    return _cache(table).get(text)


def remember(text: str, table: str, n: int) -> None:
    """Keep ``n`` as the count of ``text`` (counted elsewhere: a render process, see framings/anthropic.py)."""
    if len(text) >= MIN_CACHED_CHARS:
        _cache(table).put(text, n)


def count(text: str, table: str) -> int:
    """Claude tokens of ``text`` as a message's content on ``table`` (one of :data:`TABLES`): ctok's count of it as
    a one-message request minus that request's frame. ctok must be :func:`available`."""
    if not text:
        return 0
    if table not in TABLES:
        raise ValueError(f"unknown ctok table {table!r}; known: {', '.join(TABLES)}")
    n = cached(text, table)
    if n is None:
        ctok = _ctok()
        if ctok is None:
            raise RuntimeError("ctok is not installed (it needs Python >= 3.12)")
        n = int(ctok.token_count(text, table)) - _frame(table)
        if len(text) >= MIN_CACHED_CHARS:
            _cache(table).put(text, n)
    return n
