"""Which providers' own count endpoints to ask: one :class:`Upstream` per provider, read from the server config.

Kept free of HTTP and engine imports because :mod:`tokcount.settings` reads it at start-up. TOML (``--config``)::

    [upstream.openai]
    base_url = "https://api.openai.com"
    api_key_env = "OPENAI_API_KEY"     # or api_key = "sk-..." (the environment variable is the safer place)
    timeout = 5.0                      # seconds for the whole call, then the local count is answered
    max_concurrency = 8                # calls in flight per worker process; beyond it, count locally

Environment (wins over the file): ``TOKCOUNT_UPSTREAM_<PROVIDER>_URL`` and ``_KEY`` (both needed unless the file
gives the other), ``TOKCOUNT_UPSTREAM_TIMEOUT`` and ``TOKCOUNT_UPSTREAM_MAX_CONCURRENCY`` (every provider).
Nothing configured means nothing is ever forwarded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

PROVIDERS = ("openai", "anthropic", "gemini", "moonshot", "stepfun")
DEFAULT_TIMEOUT = 5.0
DEFAULT_MAX_CONCURRENCY = 8
_KEYS = ("base_url", "api_key", "api_key_env", "timeout", "max_concurrency")


@dataclass(frozen=True)
class Upstream:
    """One provider's count endpoint. ``api_key`` is the operator's key; it is kept out of ``repr`` so a logged
    or printed settings object never shows it."""

    provider: str
    base_url: str
    api_key: str = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY

    def __post_init__(self) -> None:
        if self.provider not in PROVIDERS:
            raise ValueError(f"upstream provider {self.provider!r} is not one of {', '.join(PROVIDERS)}")
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"upstream.{self.provider}: base_url must start with http:// or https://")
        if not self.api_key:
            raise ValueError(f"upstream.{self.provider}: an API key is needed (api_key or api_key_env)")
        if not (isinstance(self.timeout, int | float) and math.isfinite(self.timeout) and self.timeout > 0):
            raise ValueError(f"upstream.{self.provider}: timeout must be a positive number of seconds")
        if isinstance(self.max_concurrency, bool) or not isinstance(self.max_concurrency, int) \
                or self.max_concurrency <= 0:
            raise ValueError(f"upstream.{self.provider}: max_concurrency must be a positive integer")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))


def from_toml(table: Any, where: str, env: Mapping[str, str]) -> dict[str, Upstream]:
    """The ``[upstream.<provider>]`` tables of a config file; a mistake is a ``ValueError`` naming the key, so a
    bad config stops the server at start-up instead of silently counting locally."""
    if not isinstance(table, dict):
        raise ValueError(f"{where}: [upstream] must be a table of providers")
    out: dict[str, Upstream] = {}
    for provider, conf in table.items():
        name = f"{where}: upstream.{provider}"
        if provider not in PROVIDERS:
            raise ValueError(f"{name}: unknown provider (known: {', '.join(PROVIDERS)})")
        if not isinstance(conf, dict):
            raise ValueError(f"{name} must be a table")
        unknown = sorted(set(conf) - set(_KEYS))
        if unknown:
            raise ValueError(f"{name}: unknown key(s) {', '.join(unknown)} (known: {', '.join(_KEYS)})")
        key = conf.get("api_key")
        if "api_key_env" in conf:
            var = conf["api_key_env"]
            if not isinstance(var, str) or not env.get(var, "").strip():
                raise ValueError(f"{name}: api_key_env names {var!r}, which is not set")
            key = env[var].strip()
        if key is None:
            raise ValueError(f"{name}: an API key is needed (api_key, or api_key_env naming a variable)")
        if not isinstance(key, str) or not isinstance(conf.get("base_url"), str):
            raise ValueError(f"{name}: base_url and api_key (or api_key_env) must be strings")
        try:
            out[provider] = Upstream(provider, conf["base_url"].strip(), key.strip(),
                                     timeout=conf.get("timeout", DEFAULT_TIMEOUT),
                                     max_concurrency=conf.get("max_concurrency", DEFAULT_MAX_CONCURRENCY))
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    return out


def with_env(current: Mapping[str, Upstream], env: Mapping[str, str]) -> dict[str, Upstream]:
    """``current`` with the environment's values laid over it (URL, key, timeout, concurrency)."""
    out = dict(current)
    for p in PROVIDERS:
        url = env.get(f"TOKCOUNT_UPSTREAM_{p.upper()}_URL", "").strip()
        key = env.get(f"TOKCOUNT_UPSTREAM_{p.upper()}_KEY", "").strip()
        if not (url or key):
            continue
        have = out.get(p)
        url = url or (have.base_url if have else "")
        key = key or (have.api_key if have else "")
        if url and key:
            out[p] = (replace(have, base_url=url, api_key=key) if have else Upstream(p, url, key))
    timeout = env.get("TOKCOUNT_UPSTREAM_TIMEOUT", "").strip()
    if timeout:
        try:
            seconds = float(timeout)
        except ValueError:
            raise ValueError(f"TOKCOUNT_UPSTREAM_TIMEOUT must be a number of seconds, got {timeout!r}") from None
        out = {p: replace(u, timeout=seconds) for p, u in out.items()}
    conc = env.get("TOKCOUNT_UPSTREAM_MAX_CONCURRENCY", "").strip()
    if conc:
        try:
            n = int(conc)
        except ValueError:
            raise ValueError(f"TOKCOUNT_UPSTREAM_MAX_CONCURRENCY must be an integer, got {conc!r}") from None
        out = {p: replace(u, max_concurrency=n) for p, u in out.items()}
    return out
