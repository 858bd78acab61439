"""Server settings: defaults, then a TOML file (``--config``), then environment variables.

Kept as one frozen dataclass read once at start-up, so a request never re-reads files or the environment, and
every worker process of ``--workers N`` builds the same settings from the same sources.

TOML file (every key optional; a ``[server]`` table or top-level keys)::

    default_model = "qwen3.5"          # what model "default" (and a missing model) means
    api_keys = ["key-1", "key-2"]      # turns Bearer auth on
    api_keys_file = "/etc/tokcount/keys"  # one key per line, '#' comments
    max_body_bytes = 33554432          # 32 MiB
    max_messages = 10000
    max_parts = 100000                 # content parts over all messages
    max_tools = 2000
    max_json_depth = 64
    max_token_ids = 1000000            # ids accepted by /detokenize
    preload = ["qwen3.5"]              # models loaded at start-up (readyz waits for them)
    header_timeout = 10.0              # seconds a client may take to send a request's headers (then 408, closed)
    body_timeout = 60.0                # seconds to send one request body (32 MiB at ~4.5 Mbit/s; then 408, closed)
    keep_alive_timeout = 5             # seconds an idle keep-alive connection stays open
    public_docs = false                # true: /docs, /redoc and /openapi.json stay open when auth is on

Environment: ``TOKCOUNT_DEFAULT_MODEL``, ``TOKCOUNT_API_KEYS`` (comma-separated), ``TOKCOUNT_API_KEYS_FILE``,
``TOKCOUNT_MAX_BODY_BYTES``, ``TOKCOUNT_PRELOAD`` (comma-separated), ``TOKCOUNT_HEADER_TIMEOUT``,
``TOKCOUNT_BODY_TIMEOUT``, ``TOKCOUNT_PUBLIC_DOCS``, ``TOKCOUNT_CONFIG`` (the TOML file). Image limits (pixels, fetch
deadlines, concurrency) are read from ``TOKCOUNT_MEDIA_*`` variables by ``media/sources.py``, so the library and the
CLI honour them too.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

#: a model whose files ship with the ``offline`` extra (see models/packaged.py), so it works with no download
DEFAULT_MODEL = "qwen3.5"


@dataclass(frozen=True)
class Settings:
    default_model: str = DEFAULT_MODEL
    api_keys: tuple[str, ...] = ()
    max_body_bytes: int = 32 * 1024 * 1024
    max_messages: int = 10_000
    max_parts: int = 100_000
    max_tools: int = 2_000
    max_json_depth: int = 64
    max_token_ids: int = 1_000_000
    preload: tuple[str, ...] = ()
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    keep_alive_timeout: int = 5
    public_docs: bool = False
    #: where settings came from, for /readyz (never the keys themselves)
    sources: tuple[str, ...] = field(default=(), compare=False)

    @property
    def auth_enabled(self) -> bool:
        return bool(self.api_keys)

    @classmethod
    def load(cls, config: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> Settings:
        """Defaults, overridden by the TOML file, overridden by the environment."""
        env = dict(os.environ) if env is None else env
        settings = cls()
        path = config or env.get("TOKCOUNT_CONFIG")
        if path:
            settings = settings._with_toml(Path(path).expanduser())
        return settings._with_env(env)

    def _with_toml(self, path: Path) -> Settings:
        with open(path, "rb") as f:
            data: dict[str, Any] = tomllib.load(f)
        data = {**data, **data.get("server", {})}
        changes: dict[str, Any] = {}
        for key in ("default_model",):
            if key in data:
                changes[key] = _str(data[key], key, path)
        for key in ("max_body_bytes", "max_messages", "max_parts", "max_tools", "max_json_depth", "max_token_ids"):
            if key in data:
                changes[key] = _positive(data[key], key, path)
        for key in ("header_timeout", "body_timeout"):
            if key in data:
                changes[key] = _seconds(data[key], key, path)
        if "keep_alive_timeout" in data:
            changes["keep_alive_timeout"] = _positive(data["keep_alive_timeout"], "keep_alive_timeout", path)
        if "public_docs" in data:
            if not isinstance(data["public_docs"], bool):
                raise ValueError(f"{path}: public_docs must be true or false")
            changes["public_docs"] = data["public_docs"]
        keys = list(self.api_keys)
        if "api_keys" in data:
            keys += [_str(k, "api_keys", path) for k in data["api_keys"]]
        if "api_keys_file" in data:
            keys += _read_keys(Path(_str(data["api_keys_file"], "api_keys_file", path)).expanduser())
        changes["api_keys"] = tuple(k for k in keys if k)
        if "preload" in data:
            changes["preload"] = tuple(_str(m, "preload", path) for m in data["preload"])
        return replace(self, **changes, sources=(*self.sources, str(path)))

    def _with_env(self, env: dict[str, str]) -> Settings:
        changes: dict[str, Any] = {}
        if env.get("TOKCOUNT_DEFAULT_MODEL", "").strip():
            changes["default_model"] = env["TOKCOUNT_DEFAULT_MODEL"].strip()
        keys = list(self.api_keys)
        keys += [k.strip() for k in env.get("TOKCOUNT_API_KEYS", "").split(",") if k.strip()]
        if env.get("TOKCOUNT_API_KEYS_FILE", "").strip():
            keys += _read_keys(Path(env["TOKCOUNT_API_KEYS_FILE"].strip()).expanduser())
        changes["api_keys"] = tuple(dict.fromkeys(keys))
        if env.get("TOKCOUNT_MAX_BODY_BYTES", "").strip():
            changes["max_body_bytes"] = _positive(env["TOKCOUNT_MAX_BODY_BYTES"].strip(), "TOKCOUNT_MAX_BODY_BYTES",
                                                  "environment")
        for name, key in (("TOKCOUNT_HEADER_TIMEOUT", "header_timeout"), ("TOKCOUNT_BODY_TIMEOUT", "body_timeout")):
            if env.get(name, "").strip():
                changes[key] = _seconds(env[name].strip(), name, "environment")
        if env.get("TOKCOUNT_PUBLIC_DOCS", "").strip():
            changes["public_docs"] = env["TOKCOUNT_PUBLIC_DOCS"].strip().lower() in ("1", "true", "yes", "on")
        if env.get("TOKCOUNT_PRELOAD", "").strip():
            changes["preload"] = tuple(m.strip() for m in env["TOKCOUNT_PRELOAD"].split(",") if m.strip())
        return replace(self, **changes)


def _read_keys(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [s for line in lines if (s := line.split("#", 1)[0].strip())]


def _str(value: Any, key: str, where: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: {key} must be a non-empty string")
    return value.strip()


def _positive(value: Any, key: str, where: Any) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {key} must be a positive integer, got {value!r}") from None
    if n <= 0 or isinstance(value, bool):
        raise ValueError(f"{where}: {key} must be a positive integer, got {value!r}")
    return n


def _seconds(value: Any, key: str, where: Any) -> float:
    try:
        n = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {key} must be a positive number of seconds, got {value!r}") from None
    if not n > 0 or isinstance(value, bool):
        raise ValueError(f"{where}: {key} must be a positive number of seconds, got {value!r}")
    return n
