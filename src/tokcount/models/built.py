"""Files of Hub repos that tokcount can produce itself, tried last, after every other place (see ``assets.find``).

Two kinds of source:

- ``build:<name>``: written once from an installed package into the cache directory (``cache_dir``/built), each
  build verified against a pinned sha256 before it is written (to a temporary name, then renamed, so another process
  never reads half a file) and each cached file verified again once per process before it is used;
- ``bundled:<file>``: a file shipped inside tokcount itself (``models/bundled/``), for the few a model needs that
  no installed package has.

They are the last resort, so a model's own files (``TOKCOUNT_ASSET_DIRS``, the download cache, the Hub) always win.
Every entry was checked to equal the real file's contents where it matters; see ``docs/exactness.md`` (Kimi).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from importlib.resources import files as package_files
from pathlib import Path

from . import kimi_vocab

log = logging.getLogger("tokcount.assets")

#: what each builder writes: file name under ``built/``, the bytes (verified inside), the pinned sha256
_BUILDERS: dict[str, tuple[str, Callable[[], bytes], str]] = {
    "kimi-vocab": ("kimi-k2/tiktoken.model", kimi_vocab.vocabulary, kimi_vocab.VOCAB_SHA256),
    "kimi-config": ("kimi-k2/tokenizer_config.json", kimi_vocab.config, kimi_vocab.CONFIG_SHA256),
}

#: "org/repo/file" -> source. Only repos whose vocabulary is pinned to the same sha256 get the Kimi vocabulary
#: (Kimi-K2-Thinking is not: no public pin was found); the config only where the template is a separate file
#: (Kimi-K2-Instruct-0905 keeps its template inside tokenizer_config.json, which a built config would shadow).
FALLBACK: dict[str, str] = {
    "moonshotai/Kimi-K2.6/tiktoken.model": "build:kimi-vocab",
    "moonshotai/Kimi-K2.6/tokenizer_config.json": "build:kimi-config",
    "moonshotai/Kimi-K2.6/chat_template.jinja": "bundled:kimi-k2.6.chat_template.jinja",
    "moonshotai/Kimi-K2.5/tiktoken.model": "build:kimi-vocab",
    "moonshotai/Kimi-K2.5/tokenizer_config.json": "build:kimi-config",
    "moonshotai/Kimi-K2-Instruct-0905/tiktoken.model": "build:kimi-vocab",
}

_lock = threading.Lock()
#: built files verified by this process (path -> sha256), so a cached file is hashed once per process
_verified: dict[Path, str] = {}


#: a fresh build that does not match its pin
Refused = kimi_vocab.Refused


def fallback(repo: str, filename: str) -> str | None:
    return FALLBACK.get(f"{repo}/{filename}")


def available(source: str) -> bool:
    """Whether ``source`` can be provided here without a download (its package is installed)."""
    kind, _, name = source.partition(":")
    if kind == "bundled":
        return package_files("tokcount.models").joinpath("bundled", name).is_file()
    try:
        import splintr  # noqa: F401
    except ImportError:
        return False
    return name in _BUILDERS


def provide(source: str, cache_dir: Path) -> Path | None:
    """The file for ``source``: the bundled file, or the built one (built now if the cache has no good copy).
    Raises :class:`Refused` when a fresh build does not match its pin; None when its package is missing."""
    kind, _, name = source.partition(":")
    if kind == "bundled":
        path = Path(str(package_files("tokcount.models").joinpath("bundled", name)))
        return path if path.is_file() else None
    if kind != "build" or name not in _BUILDERS or not available(source):
        return None
    rel, build, pin = _BUILDERS[name]
    target = cache_dir / "built" / rel
    with _lock:
        if _verified.get(target) == pin:
            return target
        if target.is_file():
            if hashlib.sha256(target.read_bytes()).hexdigest() == pin:
                _verified[target] = pin
                return target
            log.warning("cached %s does not match its pin; building it again", target)
        data = build()  # raises Refused on a mismatch: nothing is written
        _write_atomically(target, data)
        _verified[target] = pin
        log.info("built %s from an installed package (%d bytes)", target, len(data))
        return target


def _write_atomically(target: Path, data: bytes) -> None:
    """Write to a temporary name in the same directory, then rename: readers see no file or the whole file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide it from a server run as another user
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def clear() -> None:
    """Forget which cached files were verified (tests swap cache directories)."""
    with _lock:
        _verified.clear()
