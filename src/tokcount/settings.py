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
    render_timeout_s = 5.0             # wall-clock budget of one chat-template render (503 when spent)
    max_render_chars = 83886080        # characters a rendered prompt may have (8x the largest context window)
    max_loop_iterations = 20000000     # {% for %} iterations in one render
    header_timeout = 10.0              # seconds a client may take to send a request's headers (then 408, closed)
    body_timeout = 60.0                # seconds to send one request body (32 MiB at ~4.5 Mbit/s; then 408, closed)
    keep_alive_timeout = 5             # seconds an idle keep-alive connection stays open
    public_docs = false                # true: /docs, /redoc and /openapi.json stay open when auth is on
    public_metrics = false             # true: /metrics stays open when auth is on
    access_log = ""                    # "json": one JSON line per answer (tokcount.access); "1": uvicorn's lines

    allow_hub_repos = ["org/*"]        # Hub repos outside the catalog clients may name ("*": any); none by default
    miss_ttl_s = 60                    # how long a missing/corrupt model or unreachable Hub is remembered
    hub_timeout_s = 2.5                # connect/first-answer timeout for the Hub
    max_loaded_models = 16             # loaded models kept (LRU)
    model_memory_mb = 2048             # estimated memory of loaded tokenizers kept (LRU)

    [upstream.openai]                  # upstream passthrough, per provider (off unless a table is given):
    base_url = "https://api.openai.com"  # openai, anthropic, gemini, moonshot, stepfun
    api_key_env = "OPENAI_API_KEY"     # or api_key = "..."
    timeout = 5.0                      # seconds, then the local count answers
    max_concurrency = 8                # calls in flight per worker; beyond it, count locally

Environment: ``TOKCOUNT_DEFAULT_MODEL``, ``TOKCOUNT_API_KEYS`` (comma-separated), ``TOKCOUNT_API_KEYS_FILE``,
``TOKCOUNT_MAX_BODY_BYTES``, ``TOKCOUNT_PRELOAD`` (comma-separated), ``TOKCOUNT_HEADER_TIMEOUT``,
``TOKCOUNT_BODY_TIMEOUT``, ``TOKCOUNT_PUBLIC_DOCS``, ``TOKCOUNT_PUBLIC_METRICS``, ``TOKCOUNT_ACCESS_LOG``,
``TOKCOUNT_RENDER_TIMEOUT`` (seconds),
``TOKCOUNT_MAX_RENDER_CHARS``, ``TOKCOUNT_MAX_LOOP_ITERATIONS``, ``TOKCOUNT_CONFIG`` (the TOML file),
``TOKCOUNT_ALLOW_HUB_REPOS`` (comma-separated), ``TOKCOUNT_MISS_TTL_S``, ``TOKCOUNT_HUB_TIMEOUT_S``,
``TOKCOUNT_MAX_LOADED_MODELS``, ``TOKCOUNT_MODEL_MEMORY_MB``,
``TOKCOUNT_UPSTREAM_<PROVIDER>_URL`` / ``_KEY``, ``TOKCOUNT_UPSTREAM_TIMEOUT``, ``TOKCOUNT_UPSTREAM_MAX_CONCURRENCY``
(:mod:`tokcount.passthrough.config`). Image limits (pixels, fetch deadlines, concurrency)
are read from ``TOKCOUNT_MEDIA_*`` variables by ``media/sources.py``, so the library and the CLI honour them too.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .passthrough import config as upstream_config
from .passthrough.config import Upstream
from .templates import limits

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
    #: bounds of one chat-template render (see templates/limits.py; the library uses the same defaults)
    render_timeout_s: float = limits.RENDER_TIMEOUT_S
    max_render_chars: int = limits.MAX_RENDER_CHARS
    max_loop_iterations: int = limits.MAX_LOOP_ITERATIONS
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    keep_alive_timeout: int = 5
    public_docs: bool = False
    #: /metrics without a key when auth is on (a scraper inside the operator's network)
    public_metrics: bool = False
    #: "" (off), "json" (tokcount's JSON access log, with request ids) or "1"/"true" (uvicorn's plain lines)
    access_log: str = ""
    #: Hub repo ids outside the catalog that clients may name (fnmatch patterns; "*" = any); see RepoPolicy
    allow_hub_repos: tuple[str, ...] = ()
    #: seconds a miss (unknown repo, missing or corrupt file) and an unreachable Hub are remembered
    miss_ttl_s: float = 60.0
    #: seconds to wait for the Hub to connect and answer before it counts as unreachable
    hub_timeout_s: float = 2.5
    #: loaded models kept in the LRU, and the estimated memory their tokenizers may hold (loader.py measures it)
    max_loaded_models: int = 16
    model_memory_mb: int = 2048
    #: providers whose own count endpoint is asked first (empty: never); keys kept out of repr
    upstreams: tuple[Upstream, ...] = field(default=(), repr=False)
    #: where settings came from, for /readyz (never the keys themselves)
    sources: tuple[str, ...] = field(default=(), compare=False)

    @property
    def auth_enabled(self) -> bool:
        return bool(self.api_keys)

    @property
    def render_limits(self) -> limits.Limits:
        return limits.Limits(timeout_s=self.render_timeout_s, max_chars=self.max_render_chars,
                             max_iterations=self.max_loop_iterations)

    @classmethod
    def load(cls, config: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> Settings:
        """Defaults, overridden by the TOML file, overridden by the environment."""
        env = dict(os.environ) if env is None else env
        settings = cls()
        path = config or env.get("TOKCOUNT_CONFIG")
        if path:
            settings = settings._with_toml(Path(path).expanduser(), env)
        return settings._with_env(env)

    def _with_toml(self, path: Path, env: dict[str, str] | None = None) -> Settings:
        with open(path, "rb") as f:
            data: dict[str, Any] = tomllib.load(f)
        data = {**data, **data.get("server", {})}
        changes: dict[str, Any] = {}
        for key in ("default_model",):
            if key in data:
                changes[key] = _str(data[key], key, path)
        for key in ("max_body_bytes", "max_messages", "max_parts", "max_tools", "max_json_depth", "max_token_ids",
                    "max_render_chars", "max_loop_iterations"):
            if key in data:
                changes[key] = _positive(data[key], key, path)
        if "render_timeout_s" in data:
            changes["render_timeout_s"] = limits.positive_float(data["render_timeout_s"], f"{path}: render_timeout_s")
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
        changes.update(_access_toml(data, path))
        if "upstream" in data:
            ups = upstream_config.from_toml(data["upstream"], str(path), os.environ if env is None else env)
            changes["upstreams"] = tuple({**{u.provider: u for u in self.upstreams}, **ups}.values())
        changes.update(_observe_values(data, str(path)))
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
        changes.update(_access_env(env))
        changes.update(_observe_values({k: v for k, v in (("public_metrics", env.get("TOKCOUNT_PUBLIC_METRICS")),
                                        ("access_log", env.get("TOKCOUNT_ACCESS_LOG"))) if v and v.strip()},
                                       "environment"))
        bounded = limits.from_env(env, self.render_limits)
        changes.update(render_timeout_s=bounded.timeout_s, max_render_chars=bounded.max_chars,
                       max_loop_iterations=bounded.max_iterations)
        changes["upstreams"] = tuple(upstream_config.with_env({u.provider: u for u in self.upstreams}, env).values())
        return replace(self, **changes)


_ACCESS_NUMBERS = {"miss_ttl_s": float, "hub_timeout_s": float, "max_loaded_models": int, "model_memory_mb": int}


#: TOKCOUNT_ACCESS_LOG / access_log values: off, uvicorn's plain lines, or tokcount's JSON lines
ACCESS_LOG_VALUES = {"": "", "0": "", "false": "", "off": "", "no": "", "1": "plain", "true": "plain",
                     "yes": "plain", "on": "plain", "plain": "plain", "json": "json"}


def _observe_values(data: dict[str, Any], where: str) -> dict[str, Any]:
    """``public_metrics`` and ``access_log`` from a TOML table or the environment (strings there)."""
    out: dict[str, Any] = {}
    if "public_metrics" in data:
        value = data["public_metrics"]
        if isinstance(value, str):
            value = value.strip().lower() in ("1", "true", "yes", "on")
        if not isinstance(value, bool):
            raise ValueError(f"{where}: public_metrics must be true or false")
        out["public_metrics"] = value
    if "access_log" in data:
        raw = str(data["access_log"]).strip().lower()
        if raw not in ACCESS_LOG_VALUES:
            raise ValueError(f"{where}: access_log must be json, 1 (plain) or off; got {data['access_log']!r}")
        out["access_log"] = ACCESS_LOG_VALUES[raw]
    return out


def _access_toml(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """Model-access settings from the TOML file: ``allow_hub_repos`` (a list, or one string such as ``"*"``)."""
    changes: dict[str, Any] = {}
    if "allow_hub_repos" in data:
        raw = data["allow_hub_repos"]
        items = [raw] if isinstance(raw, str) else raw
        if not isinstance(items, list):
            raise ValueError(f"{path}: allow_hub_repos must be a list of repo patterns")
        changes["allow_hub_repos"] = tuple(_str(p, "allow_hub_repos", path) for p in items)
    for key, kind in _ACCESS_NUMBERS.items():
        if key in data:
            changes[key] = _number(data[key], key, path, kind)
    return changes


def _access_env(env: dict[str, str]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    raw = env.get("TOKCOUNT_ALLOW_HUB_REPOS", "").strip()
    if raw:
        changes["allow_hub_repos"] = tuple(p.strip() for p in raw.split(",") if p.strip())
    for key, kind in _ACCESS_NUMBERS.items():
        name = f"TOKCOUNT_{key.upper()}"
        if env.get(name, "").strip():
            changes[key] = _number(env[name].strip(), name, "environment", kind)
    return changes


def _number(value: Any, key: str, where: Any, kind: type) -> Any:
    if kind is int:
        return _positive(value, key, where)
    try:
        n = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {key} must be a positive number, got {value!r}") from None
    if not n > 0 or isinstance(value, bool) or n == float("inf"):
        raise ValueError(f"{where}: {key} must be a positive number, got {value!r}")
    return n


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
