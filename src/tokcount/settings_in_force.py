"""The settings in force: the process-wide current :class:`~tokcount.settings.Settings` (their definition is
:mod:`tokcount.settings`), for the code paths that cannot be handed one.

What is passed down explicitly (the server's ``Service`` and the CLI hand these to every job): the request limits,
the render limits (``renderers.jinja.limits.active``), the media fetch policy, the default model and the Hub policy.

What is read from :func:`current` instead, because threading a settings object through would touch every
signature between the entry point and the leaf for one value each:

- asset directories, cache directory and ``hub_offline`` (``assets.locate``, reached from the loader and every
  tokenizer builder);
- extra catalog files and media-rule files (the catalog and the rule table are process-wide caches);
- the pinned clock ``now`` (a Jinja global, called from inside a template);
- the fast engines and the segment-cache size (chosen when a tokenizer is built, deep in ``tokenizers/``).

The current settings are built lazily from the environment and ``TOKCOUNT_CONFIG`` by the first call that needs
them; the CLI and ``tokcount serve`` (each worker too) install the settings they built with :func:`configure`, and
a library user may call ``tokcount.configure(...)`` before counting.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from .settings import Settings

_lock = threading.Lock()
_current: Settings | None = None


def current() -> Settings:
    """The settings in force: built once from the environment on first use unless :func:`configure` ran."""
    global _current
    settings = _current
    if settings is None:
        with _lock:
            if _current is None:
                _current = Settings.load()
            settings = _current
    return settings


def configure(settings: Settings | None = None, /, **changes: Any) -> Settings:
    """Install ``settings`` (default: the current ones) with ``changes`` as the process's settings, and drop the
    caches built from the previous ones (catalog, media rules). Models already loaded stay loaded."""
    global _current
    new = replace(settings if settings is not None else current(), **changes)
    with _lock:
        _current = new
    _invalidate()
    return new


@contextmanager
def using(settings: Settings | None = None, /, **changes: Any) -> Iterator[Settings]:
    """``configure`` inside the block, the previous settings after it (tests build configs with this)."""
    global _current
    before = _current
    try:
        yield configure(settings, **changes)
    finally:
        with _lock:
            _current = before
        _invalidate()


_on_change: list[Callable[[], None]] = []


def on_change(forget: Callable[[], None]) -> None:
    """Register a cache built from the settings (the catalog, the media rules) to be dropped when they change:
    the cache's module imports this one, never the reverse, so the import graph stays acyclic."""
    _on_change.append(forget)


def _invalidate() -> None:
    for forget in _on_change:
        forget()

