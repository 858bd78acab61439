"""All settings of tokcount in one frozen dataclass: defaults, then a TOML file, then the environment.

Built once — by the CLI, by the server (every worker of ``--workers N`` builds the same from the same sources), or
lazily by the first library call (:mod:`tokcount.settings_in_force`; ``tokcount.configure(...)`` sets it
explicitly) — so a request never re-reads files or the environment.

Every setting is one field below with its section, environment variable and help; the TOML and environment
parsers, ``tokcount serve --help`` and the settings table in docs/server.md are all generated from those fields
(:func:`setting_rows`), so a new setting is one field.

Precedence (later wins): the field's default < the TOML file (``--config`` or ``TOKCOUNT_CONFIG``) < the
environment. Exceptions: API keys from every source are added together, not replaced.

TOML layout: a setting is ``key`` in its section's table (``[media] max_pixels = ...``), or its full field name at
the top level or in ``[server]`` (``media_max_pixels = ...``, the flat form older files use).

Upstream passthrough is the one setting that is not a flat value: ``upstreams`` is read from
``[upstream.<provider>]`` tables (``base_url``, ``api_key`` or ``api_key_env``, ``timeout``, ``max_concurrency``)
and ``TOKCOUNT_UPSTREAM_<PROVIDER>_URL`` / ``_KEY``, ``TOKCOUNT_UPSTREAM_TIMEOUT``,
``TOKCOUNT_UPSTREAM_MAX_CONCURRENCY`` by :mod:`tokcount.passthrough.upstreams` (off unless one is given).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: tokcount.passthrough's package imports the catalog, which reads config
    from .passthrough.upstreams import Upstream

#: a model whose files ship with the ``offline`` extra (see models/packaged.py), so it works with no download
DEFAULT_MODEL = "qwen3.5"

#: the largest context window in the catalog (tokens: Llama 4 Scout's 10M); the rendered-size cap
#: (``max_render_chars``) is 8x it in characters, so no conversation that fits any model is refused (a token is ~4
#: characters of text)
LARGEST_CONTEXT = 10_485_760
#: ``render_minijinja``'s values: MiniJinja renders a proven template where it is also faster, any proven template,
#: never (:mod:`tokcount.renderers.jinja.native`)
MINIJINJA_MODES = ("auto", "proven", "off")

#: the sections, in the order ``--help`` and the docs list them
SECTIONS = ("server", "limits", "render", "media", "assets", "engines")

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")

#: access_log values: off, uvicorn's plain lines, or tokcount's JSON lines with request ids (observe.py)
ACCESS_LOG_VALUES = {"": "", "0": "", "false": "", "off": "", "no": "", "1": "plain", "true": "plain",
                     "yes": "plain", "on": "plain", "plain": "plain", "json": "json"}


def default(name: str) -> Any:
    """The default of setting ``name``: written once, on its field below; the objects that need a default before
    any settings exist (:class:`~tokcount.media.policy.FetchPolicy`, the loader's LRU bounds, the Hub state)
    build theirs from it."""
    return Settings.__dataclass_fields__[name].default


def setting(default: Any, section: str, kind: str, help: str, *, env: str | None = None) -> Any:
    """A settings field: ``kind`` names its parser (see :func:`_parse`); ``env`` overrides the variable name
    (default ``TOKCOUNT_<FIELD>``)."""
    meta = {"section": section, "kind": kind, "help": help, "env": env}
    if isinstance(default, (list, dict)):
        raise TypeError("use a tuple default")  # pragma: no cover - a programming error
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Settings:
    # ------------------------------------------------------------------------------------------------ server
    default_model: str = setting(DEFAULT_MODEL, "server", "str", 'what model "default" (and a missing model) means')
    api_keys: tuple[str, ...] = setting((), "server", "keys", "Bearer keys; any turns auth on (comma-separated)")
    api_keys_file: str | None = setting(None, "server", "keyfile", "file of keys, one a line, '#' comments")
    preload: tuple[str, ...] = setting((), "server", "list", "models loaded at start-up (readyz waits for them)")
    public_docs: bool = setting(False, "server", "bool", "/docs, /redoc and /openapi.json stay open with auth on")
    public_metrics: bool = setting(False, "server", "bool", "/metrics stays open with auth on (a scraper inside)")
    access_log: str = setting("", "server", "accesslog",
                              'a line per request: "json" (tokcount.access, request ids), "1" (uvicorn\'s), '
                              '"" off (costs ~10% of a small count)')
    header_timeout: float = setting(10.0, "server", "seconds", "seconds to send a request's headers (then 408)")
    body_timeout: float = setting(60.0, "server", "seconds", "seconds to send one request body (then 408)")
    keep_alive_timeout: int = setting(5, "server", "int", "seconds an idle keep-alive connection stays open")
    answer_memo_mb: float = setting(32.0, "server", "megabytes",
                                    "memo of whole answers for byte-identical bodies (0: off)")
    # ------------------------------------------------------------------------------------------------ limits
    max_body_bytes: int = setting(32 * 1024 * 1024, "limits", "int", "request body size (413 above)")
    max_header_bytes: int = setting(64 * 1024, "limits", "int", "bytes of a request line and headers (431 above)")
    max_headers: int = setting(100, "limits", "int", "header fields in one request (431 above)")
    max_messages: int = setting(10_000, "limits", "int", "messages in one request")
    max_parts: int = setting(100_000, "limits", "int", "content parts over all messages")
    max_tools: int = setting(2_000, "limits", "int", "tools in one request")
    max_json_depth: int = setting(64, "limits", "int", "nesting depth of a request's JSON")
    max_token_ids: int = setting(1_000_000, "limits", "int", "ids accepted by /detokenize")
    # ------------------------------------------------------------------------------------------------ render
    #: the render bounds (:mod:`tokcount.renderers.jinja.limits` reads them). Qwen3.5's template renders a
    #: 50-message chat in ~0.3 ms, so the time budget only stops runaways
    render_timeout_s: float = setting(5.0, "render", "seconds",
                                      "wall-clock budget of one chat-template render (503 when spent)",
                                      env="TOKCOUNT_RENDER_TIMEOUT")
    max_render_chars: int = setting(8 * LARGEST_CONTEXT, "render", "int",
                                    "characters a rendered prompt may have")
    #: over the whole render: the largest accepted request (10,000 messages, 100,000 parts, 2,000 tools) takes
    #: well under 1M, and an empty iteration costs ~0.1 us, so 20M is about 2 s of pure looping
    max_loop_iterations: int = setting(20_000_000, "render", "int",
                                       "{% for %} iterations in one render")
    now: str | None = setting(None, "render", "isodate", "pins the clock templates read (ISO date); else now")
    render_isolation: bool = setting(True, "render", "bool",
                                     "the server renders templates in render processes under OS limits")
    #: address space: a prompt at ``max_render_chars`` is ~330 MB as a Python str (4 bytes a character in the
    #: worst case), built from chunks and joined once
    render_memory_mb: int = setting(1024, "render", "int",
                                    "memory one render process may add for a render (MiB)")
    render_processes: int = setting(2, "render", "int",
                                    "render processes per server worker for ordinary renders")
    render_minijinja: str = setting("auto", "render", "minijinja", "MiniJinja renders templates proven to give "
                                    "Jinja2's bytes: auto (where also faster), proven (all of them), off "
                                    "(docs/template-sandbox.md)")
    # ------------------------------------------------------------------------------------------------- media
    media_fetch: bool = setting(True, "media", "bool", "fetch remote images to read their size")
    media_allow_networks: tuple[str, ...] = setting((), "media", "list",
                                                    "CIDRs let through the address guard (comma-separated)")
    # (a 0 for the six bounds below is read as the default, as it was when 0 was their default)
    #: Pillow's decompression-bomb limit (2 x Image.MAX_IMAGE_PIXELS): the largest image the model servers that
    #: decode with Pillow (vLLM, transformers processors) open at all
    media_max_pixels: int = setting(178_956_970, "media", "int", "largest image counted, in pixels")
    #: the largest side a JPEG or GIF header can declare (PNG/BMP claim 2**31)
    media_max_side: int = setting(65_535, "media", "int", "longest image side counted, in pixels")
    media_deadline: float = setting(10.0, "media", "seconds", "seconds for one image fetch (DNS, connect, "
                                    "redirects, body)")
    media_request_deadline: float = setting(30.0, "media", "seconds", "seconds for all image fetches of a request")
    media_concurrency: int = setting(8, "media", "int", "remote images of one request fetched at once")
    media_total_concurrency: int = setting(32, "media", "int", "remote images fetched at the same time by one "
                                           "process, all requests together")
    media_rules: tuple[str, ...] = setting((), "media", "paths", "extra media-rule TOML files (os.pathsep)")
    # ------------------------------------------------------------------------------------------------ assets
    asset_dirs: tuple[str, ...] = setting((), "assets", "paths",
                                          "directories searched first for model files (os.pathsep; default in a "
                                          "clone: ../shared/assets if there)")
    cache_dir: str | None = setting(None, "assets", "path", "tokcount's cache (default $XDG_CACHE_HOME/tokcount)")
    hub_offline: bool = setting(False, "assets", "bool", "never ask the Hugging Face Hub", env="HF_HUB_OFFLINE")
    catalog: tuple[str, ...] = setting((), "assets", "paths", "extra catalog TOML files (os.pathsep)")
    allow_hub_repos: tuple[str, ...] = setting((), "assets", "list",
                                               'Hub repos outside the catalog clients may name ("*": any)')
    miss_ttl_s: float = setting(60.0, "assets", "seconds", "how long a missing model or unreachable Hub is kept")
    hub_timeout_s: float = setting(2.5, "assets", "seconds", "connect/first-answer timeout for the Hub")
    max_loaded_models: int = setting(16, "assets", "int", "loaded models kept (LRU)")
    model_memory_mb: int = setting(2048, "assets", "int", "estimated memory of loaded tokenizers kept (LRU)")
    # ----------------------------------------------------------------------------------------------- engines
    engines: tuple[str, ...] | None = setting(None, "engines", "list",
                                              "fast engines tried, in order (default: all; 'tokenizers': none)")
    segment_cache_mb: float = setting(64.0, "engines", "megabytes", "segment-count cache size (0: off)")
    claude_ctok_chars: int = setting(1_000_000, "engines", "count",
                                     "characters of one Claude request ctok counts; the rest: o200k proxy (0: off)")
    #: providers whose own count endpoint is asked first (empty: never); not a flat value (see the module doc),
    #: keys kept out of repr
    upstreams: tuple[Upstream, ...] = field(default=(), repr=False)
    #: where settings came from, for /readyz (never the keys themselves)
    sources: tuple[str, ...] = field(default=(), compare=False)

    @property
    def auth_enabled(self) -> bool:
        return bool(self.api_keys)

    @property
    def cache_path(self) -> Path:
        return Path(self.cache_dir).expanduser() if self.cache_dir else Path("~/.cache/tokcount").expanduser()

    @classmethod
    def load(cls, config: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> Settings:
        """Defaults, overridden by the TOML file, overridden by the environment (``os.environ`` if not given)."""
        env = dict(os.environ) if env is None else env
        settings = cls()
        path = config or env.get("TOKCOUNT_CONFIG")
        if path:
            settings = settings._with_toml(Path(path).expanduser(), env)
        settings = settings._with_env(env)
        if not settings.asset_dirs and env_name("asset_dirs") not in env and (found := checkout_assets()):
            settings = replace(settings, asset_dirs=(found,))
        if settings.cache_dir is None:  # the XDG default is resolved here, where the environment is read
            base = env.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
            settings = replace(settings, cache_dir=os.path.join(base, "tokcount"))
        return settings

    def _with_toml(self, path: Path, env: dict[str, str] | None = None) -> Settings:
        with open(path, "rb") as fh:
            data: dict[str, Any] = tomllib.load(fh)
        server = data.get("server")
        flat = {**data, **(server if isinstance(server, dict) else {})}
        flat = {k: v for k, v in flat.items() if not isinstance(v, dict)}  # tables are sections, never values
        out = self
        for f in fields(self):
            if "section" not in f.metadata:
                continue
            section = f.metadata["section"]
            found = data.get(section)
            table: dict[str, Any] = found if isinstance(found, dict) else {}
            short = f.name.removeprefix(f"{section}_")
            if short in table:
                value = table[short]
            elif f.name in flat:
                value = flat[f.name]
            else:
                continue
            out = out._set(f.name, _parse(f.metadata["kind"], value, f.name, str(path), from_env=False))
        # [upstream.<provider>] at the top level or under [server]; api_key_env names a variable of the same
        # environment the rest is read from
        from .passthrough import upstreams as upstream_config

        for table in [t["upstream"] for t in (data, server) if isinstance(t, dict) and "upstream" in t]:
            ups = upstream_config.from_toml(table, str(path), os.environ if env is None else env)
            out = replace(out, upstreams=tuple({**{u.provider: u for u in out.upstreams}, **ups}.values()))
        return replace(out, sources=(*self.sources, str(path)))

    def _with_env(self, env: dict[str, str]) -> Settings:
        out = self
        for f in fields(self):
            if "section" not in f.metadata:
                continue
            name = env_name(f.name)
            raw = env.get(name, "").strip()
            if raw:
                out = out._set(f.name, _parse(f.metadata["kind"], raw, name, "environment", from_env=True))
        from .passthrough import upstreams as upstream_config

        ups = upstream_config.with_env({u.provider: u for u in out.upstreams}, env)
        return replace(out, upstreams=tuple(ups.values()))

    def _set(self, name: str, value: Any) -> Settings:
        """One parsed value in: keys are added to the ones already there; everything else replaces."""
        kind = _field(name).metadata["kind"]
        if kind == "keys":
            return replace(self, api_keys=tuple(dict.fromkeys((*self.api_keys, *value))))
        if kind == "keyfile":
            keys = _read_keys(Path(value).expanduser())
            return replace(self, api_keys_file=value, api_keys=tuple(dict.fromkeys((*self.api_keys, *keys))))
        return replace(self, **{name: value})


def checkout_assets(module: Path | None = None) -> str | None:
    """``../shared/assets`` beside the source checkout tokcount runs from (``pip install -e .``, ``PYTHONPATH=src``),
    when it holds a ``hub`` directory: the default of ``asset_dirs`` when neither the TOML file nor the environment
    sets it (an empty ``TOKCOUNT_ASSET_DIRS=`` turns it off).

    Why here and not in ``scripts/serve``: the server that script started found these files while the CLI and the
    library of the same clone did not (issue 26: the README's first CLI example answered ``missing_assets`` for a
    model the server counted). An installed package never matches: its parent directory has no ``pyproject.toml``."""
    root = (module or Path(__file__)).resolve().parents[2]  # <checkout>/src/tokcount/settings.py
    if not (root / "pyproject.toml").is_file():
        return None
    assets = root.parent / "shared" / "assets"
    return str(assets) if (assets / "hub").is_dir() else None


def _field(name: str) -> Any:
    return next(f for f in fields(Settings) if f.name == name)


def env_name(name: str) -> str:
    """The environment variable of setting ``name``."""
    return _field(name).metadata.get("env") or f"TOKCOUNT_{name.upper()}"


def setting_rows() -> list[tuple[str, str, str, str, str]]:
    """(section, TOML key, environment variable, default, help) of every setting, in section order: what
    ``tokcount serve --help`` and docs/server.md's table show."""
    rows = []
    for section in SECTIONS:
        for f in fields(Settings):
            if f.metadata.get("section") != section:
                continue
            default = f.default
            shown = ("" if default is None else ",".join(default) if isinstance(default, tuple)
                     else str(default).lower() if isinstance(default, bool) else str(default))
            rows.append((section, f.name.removeprefix(f"{section}_"), env_name(f.name), shown, f.metadata["help"]))
    return rows


def markdown_table() -> str:
    """The settings as the Markdown table docs/server.md carries (a test keeps the two equal)."""
    lines = ["| TOML `[section] key` | environment | default | meaning |", "|---|---|---|---|"]
    for section, key, env, default, text in setting_rows():
        lines.append(f"| `[{section}] {key}` | `{env}` | {f'`{default}`' if default else '—'} | "
                     f"{text.replace('|', '/')} |")
    return "\n".join(lines)


def _parse(kind: str, value: Any, key: str, where: str, *, from_env: bool) -> Any:
    """One setting's value from TOML (typed) or the environment (a string), or a ValueError naming ``key``."""
    if kind in ("str", "keyfile", "path"):
        return _str(value, key, where)
    if kind == "isodate":
        text = _str(value, key, where)
        try:
            datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{where}: {key} must be an ISO date or time, got {value!r}") from None
        return text
    if kind == "int":
        return _positive(value, key, where)
    if kind == "count":  # a non-negative integer: 0 turns the thing it bounds off
        return _count(value, key, where)
    if kind == "seconds":
        return _seconds(value, key, where)
    if kind == "megabytes":
        try:
            n = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: {key} must be a number of megabytes, got {value!r}") from None
        if n < 0 or isinstance(value, bool) or n == float("inf"):
            raise ValueError(f"{where}: {key} must be a number of megabytes, got {value!r}")
        return n
    if kind == "accesslog":
        # TOML may say true/false; the environment and TOML strings name a mode
        raw = str(value).lower() if isinstance(value, bool) else value.strip().lower() if isinstance(value, str) \
            else value
        if not isinstance(raw, str) or raw not in ACCESS_LOG_VALUES:
            raise ValueError(f"{where}: {key} must be json, 1 (plain) or off; got {value!r}")
        return ACCESS_LOG_VALUES[raw]
    if kind == "minijinja":
        # TOML may say true/false (auto/off)
        raw = ("auto" if value else "off") if isinstance(value, bool) else value.strip().lower() \
            if isinstance(value, str) else value
        raw = {"true": "auto", "false": "off", "1": "auto", "0": "off"}.get(raw, raw) if isinstance(raw, str) else raw
        if raw not in MINIJINJA_MODES:
            raise ValueError(f"{where}: {key} must be auto, proven or off; got {value!r}")
        return raw
    if kind == "bool":
        if from_env and str(value).lower() in _TRUE + _FALSE:
            return str(value).lower() in _TRUE
        if isinstance(value, bool):
            return value
        raise ValueError(f"{where}: {key} must be true or false, got {value!r}")
    if kind in ("list", "keys", "paths"):
        sep = os.pathsep if kind == "paths" else ","
        items = value.split(sep) if isinstance(value, str) else value
        if not isinstance(items, list):
            raise ValueError(f"{where}: {key} must be a list of strings")
        if isinstance(value, str):
            return tuple(s.strip() for s in items if s.strip())
        return tuple(_str(s, key, where) for s in items)
    raise AssertionError(kind)  # pragma: no cover


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


def _count(value: Any, key: str, where: Any) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {key} must be a whole number (0 or more), got {value!r}") from None
    if n < 0 or isinstance(value, bool):
        raise ValueError(f"{where}: {key} must be a whole number (0 or more), got {value!r}")
    return n


def _seconds(value: Any, key: str, where: Any) -> float:
    try:
        n = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {key} must be a positive number of seconds, got {value!r}") from None
    if not n > 0 or isinstance(value, bool) or n == float("inf"):
        raise ValueError(f"{where}: {key} must be a positive number of seconds, got {value!r}")
    return n
