"""One HTTP call to a provider's count endpoint, and reading its answer.

Why a failure says so little: the reason ends up in the caller's answer (a note, the ``x-tokcount-upstream-error``
header), and a provider's error can hold the operator's key (OpenAI echoes a masked one; a hostile or broken
upstream may echo it whole, in any field), organisation or quota details. So the reason is built from a fixed
vocabulary only: the kind of failure, the HTTP status, and the provider's error type when it is one the providers
document (:data:`ERROR_TYPES`); nothing the upstream wrote reaches the caller verbatim. Its message is logged for the
operator, with the key removed before it is shortened (so no prefix of it survives the cut).

Nor is a hostile answer the caller's problem: a count is used only if it is a non-negative integer up to
:data:`MAX_COUNT`, an answer nested too deeply to decode is unreadable like any other, and the call as a whole ends
by its deadline (:mod:`.deadline`), whatever pace the provider sends its bytes at.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import httpx

from . import deadline
from .upstreams import Upstream

log = logging.getLogger("tokcount.passthrough")
#: a count answer is a few dozen bytes; anything beyond this is not one
MAX_ANSWER_BYTES = 1 << 20
#: the largest count believed: 100x the largest context window any provider serves (10M tokens). A count past it
#: is not one (10**20 once reached the client as a 500: JSON encoders refuse integers past 64 bits)
MAX_COUNT = 1_000_000_000
#: how much of a provider's error message the log keeps
LOG_CHARS = 300
#: the error types (and Gemini statuses) the providers document: the only upstream words a reason may carry
ERROR_TYPES = frozenset({
    # Anthropic
    "invalid_request_error", "authentication_error", "permission_error", "not_found_error", "request_too_large",
    "rate_limit_error", "api_error", "overloaded_error", "billing_error", "timeout_error",
    # OpenAI (type and code), Moonshot and StepFun (OpenAI-like)
    "server_error", "insufficient_quota", "invalid_api_key", "rate_limit_exceeded", "model_not_found",
    "context_length_exceeded", "invalid_authentication_error", "exceeded_current_quota_error",
    "rate_limit_reached_error", "engine_overloaded_error", "permission_denied_error", "resource_not_found_error",
    # Gemini (google.rpc status)
    "INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE", "UNAUTHENTICATED", "PERMISSION_DENIED", "NOT_FOUND",
    "RESOURCE_EXHAUSTED", "CANCELLED", "INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED",
})


class UpstreamFailed(Exception):
    """The provider gave no usable count; the message is safe to show the caller (see the module doc)."""


def new_client(up: Upstream) -> httpx.Client:
    """A pooled client for one provider: as many connections as calls may be in flight, each call ending by its
    deadline (:func:`.deadline.within`)."""
    limits = httpx.Limits(max_connections=up.max_concurrency, max_keepalive_connections=up.max_concurrency)
    return httpx.Client(transport=deadline.transport(limits), timeout=httpx.Timeout(up.timeout),
                        follow_redirects=False)


def post(client: httpx.Client, up: Upstream, url: str, headers: dict[str, str], body: Any) -> Any:
    """The decoded JSON answer of a 2xx reply within ``up.timeout`` seconds in all, else :class:`UpstreamFailed`.
    The clients :func:`new_client` makes end every socket operation by the deadline (headers trickled a byte at a
    time included); the clock check between body chunks also bounds a client a library caller passed in."""
    stop = time.monotonic() + up.timeout
    try:
        with deadline.within(up.timeout), \
                client.stream("POST", url, headers=headers, json=body, timeout=up.timeout) as resp:
            data = bytearray()
            for chunk in resp.iter_bytes():
                data += chunk
                if len(data) > MAX_ANSWER_BYTES:
                    raise UpstreamFailed(f"answer larger than {MAX_ANSWER_BYTES} bytes")
                if time.monotonic() > stop:
                    raise httpx.ReadTimeout("deadline")
            status = resp.status_code
    except httpx.TimeoutException:
        raise UpstreamFailed(f"timeout after {up.timeout:g}s") from None
    except httpx.HTTPError as exc:
        raise UpstreamFailed(f"connection error: {type(exc).__name__}") from None
    try:
        decoded = json.loads(bytes(data))
    except (ValueError, RecursionError):  # not JSON, or nested past the decoder's stack: unreadable either way
        decoded = None
    if status >= 300:
        code = _error_type(decoded)
        _log_error(up, status, decoded)
        raise UpstreamFailed(f"HTTP {status}" + (f" {code}" if code else ""))
    if decoded is None:
        raise UpstreamFailed("unreadable answer: not JSON")
    return decoded


def _error_type(data: Any) -> str | None:
    """The provider's error type (``authentication_error``, ``RESOURCE_EXHAUSTED``) if it is a documented one."""
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict):
        return None
    for key in ("type", "status", "code"):
        value = err.get(key)
        if isinstance(value, str) and value in ERROR_TYPES:
            return value
    return None


def redacted(text: str, secret: str) -> str:
    """``text`` without ``secret``, then cut to :data:`LOG_CHARS` and with control characters escaped (one log
    line each). Redacting after the cut would miss a key the cut splits, and log its prefix."""
    if secret:
        text = text.replace(secret, "***")
    text = text[:LOG_CHARS]
    return text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text


def _log_error(up: Upstream, status: int, data: Any) -> None:
    err = data.get("error") if isinstance(data, dict) else None
    message = err.get("message") if isinstance(err, dict) else err
    text = redacted(str(message), up.api_key) if message else ""
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
                          and d.get("modality") in _MODALITIES and _count_like(d.get("tokenCount"))}
    else:  # moonshot, stepfun
        if data.get("error"):
            raise ValueError("the answer holds an error")
        inner = data.get("data")
        n = inner.get("total_tokens") if isinstance(inner, dict) else None
    if not _count_like(n):
        raise ValueError(f"no integer count from 0 to {MAX_COUNT:,} in it")
    assert isinstance(n, int)
    return n, modalities or None


#: Gemini's ``promptTokensDetails`` modalities: the names a split may carry on (as lower-case ``Count.modalities``)
_MODALITIES = frozenset({"TEXT", "IMAGE", "AUDIO", "VIDEO", "DOCUMENT"})


def _count_like(n: Any) -> bool:
    return isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= MAX_COUNT
