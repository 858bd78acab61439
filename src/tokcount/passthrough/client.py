"""One HTTP call to a provider's count endpoint, and reading its answer.

Why a failure says so little: the reason ends up in the caller's answer (a note, the ``x-tokcount-upstream-error``
header), and a provider's error message can hold the operator's key (OpenAI echoes a masked one), organisation or
quota details. So the reason is the kind of failure, the HTTP status and the provider's error *type* (a short code),
never its message; the message is logged for the operator with the key removed.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

import httpx

from .config import Upstream

log = logging.getLogger("tokcount.passthrough")
#: a count answer is a few dozen bytes; anything beyond this is not one
MAX_ANSWER_BYTES = 1 << 20
_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class UpstreamFailed(Exception):
    """The provider gave no usable count; the message is safe to show the caller (see the module doc)."""


def new_client(up: Upstream) -> httpx.Client:
    """A pooled client for one provider: as many connections as calls may be in flight."""
    limits = httpx.Limits(max_connections=up.max_concurrency, max_keepalive_connections=up.max_concurrency)
    return httpx.Client(limits=limits, timeout=httpx.Timeout(up.timeout), follow_redirects=False)


def post(client: httpx.Client, up: Upstream, url: str, headers: dict[str, str], body: Any) -> Any:
    """The decoded JSON answer of a 2xx reply within ``up.timeout`` seconds, else :class:`UpstreamFailed`.
    httpx's timeout bounds each phase (connect, each read); the deadline check bounds a reply trickled slowly."""
    deadline = time.monotonic() + up.timeout
    try:
        with client.stream("POST", url, headers=headers, json=body, timeout=up.timeout) as resp:
            data = bytearray()
            for chunk in resp.iter_bytes():
                data += chunk
                if len(data) > MAX_ANSWER_BYTES:
                    raise UpstreamFailed(f"answer larger than {MAX_ANSWER_BYTES} bytes")
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout("deadline")
            status = resp.status_code
    except httpx.TimeoutException:
        raise UpstreamFailed(f"timeout after {up.timeout:g}s") from None
    except httpx.HTTPError as exc:
        raise UpstreamFailed(f"connection error: {type(exc).__name__}") from None
    try:
        decoded = json.loads(bytes(data))
    except ValueError:
        decoded = None
    if status >= 300:
        code = _error_code(decoded)
        _log_error(up, status, decoded)
        raise UpstreamFailed(f"HTTP {status}" + (f" {code}" if code else ""))
    if decoded is None:
        raise UpstreamFailed("unreadable answer: not JSON")
    return decoded


def _error_code(data: Any) -> str | None:
    """The provider's short error type (``authentication_error``, ``RESOURCE_EXHAUSTED``), if it is one."""
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict):
        return None
    for key in ("type", "status", "code"):
        value = err.get(key)
        if isinstance(value, str) and _CODE.match(value):
            return value
    return None


def _log_error(up: Upstream, status: int, data: Any) -> None:
    err = data.get("error") if isinstance(data, dict) else None
    message = err.get("message") if isinstance(err, dict) else err
    text = str(message)[:300] if message else ""
    if up.api_key:
        text = text.replace(up.api_key, "***")
    log.warning("upstream %s answered HTTP %d%s", up.provider, status, f": {text}" if text else "")


def read_count(provider: str, data: Any) -> tuple[int, dict[str, int] | None]:
    """(count, tokens per modality when the provider says) from a provider's answer; ValueError if none."""
    if not isinstance(data, dict):
        raise ValueError("the answer is not a JSON object")
    modalities: dict[str, int] | None = None
    if provider in ("openai", "anthropic"):
        n = data.get("input_tokens")
    elif provider == "gemini":
        n = data.get("totalTokens")
        details = data.get("promptTokensDetails")
        if isinstance(details, list):
            modalities = {d["modality"]: d["tokenCount"] for d in details if isinstance(d, dict)
                          and isinstance(d.get("modality"), str) and _count_like(d.get("tokenCount"))}
    else:  # moonshot, stepfun
        if data.get("error"):
            raise ValueError("the answer holds an error")
        inner = data.get("data")
        n = inner.get("total_tokens") if isinstance(inner, dict) else None
    if not _count_like(n):
        raise ValueError("no non-negative integer count in it")
    assert isinstance(n, int)
    return n, modalities or None


def _count_like(n: Any) -> bool:
    return isinstance(n, int) and not isinstance(n, bool) and n >= 0
