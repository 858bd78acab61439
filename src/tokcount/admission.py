"""Admission: who may ask, and what of the request is read before anything is scheduled.

The first step down the server's request path (docs/architecture.md): the caller's key (or a SigV4 signature made
with one) names its tenant, and the body is read under its size limit and deadline. Nothing here parses, counts,
schedules or knows a dialect beyond its key header and whether its SDK signs requests; every refusal is a
:class:`~tokcount.errors.TokcountError` the route answers in its own shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request as HttpRequest
from starlette.concurrency import run_in_threadpool

from . import jobs, sigv4
from .dialects._api import Dialect
from .errors import AuthenticationError, InvalidRequest, RequestTooLarge, TokcountError
from .httpguard import body_deadline
from .settings import Settings
from .tenancy import ANONYMOUS, Keys

#: after an oversized body, keep reading (and dropping) up to this much more so the client gets the 413 instead
#: of a reset connection while it is still sending; beyond it the connection is simply closed after the answer
DRAIN_BYTES = 64 * 1024 * 1024


class Admission:
    """The server's keys and body limits, applied to one request at a time."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._keys = Keys(settings.api_keys)

    async def admit(self, dialect: Dialect, request: HttpRequest) -> tuple[bytes, bytes]:
        """(the body, the caller's tenant) of a count request to ``dialect``'s route, or the refusal raised: an
        unsigned request's key is checked before its body is read; a signed one's signature once the body it
        covers is (the same size and time caps), on a thread (hashing a large body and trying every key must not
        hold the event loop)."""
        signed = self.signed_claims(dialect, request.headers)  # SigV4 (boto3): checked with the body below
        if isinstance(signed, TokcountError):
            raise signed
        tenant = ANONYMOUS
        if signed is None:
            denied, tenant = self.authenticate(request.headers, key_header=dialect.key_header)
            if denied is not None:
                raise denied
        raw = await read_body(request, self.settings.max_body_bytes, self.settings.body_timeout)
        if signed is not None:
            denied, tenant = await run_in_threadpool(self.authenticate_signed, signed, request.scope,
                                                     request.headers, raw)
            if denied is not None:
                raise denied
        return raw, tenant

    # ------------------------------------------------------------------ keys
    def authorized(self, headers: Any, *, key_header: str | None = None) -> TokcountError | None:
        """None when the request may pass; keys are compared in constant time and never logged or echoed.
        ``key_header`` is the provider's own key header (``x-api-key``, ``x-goog-api-key``), taken besides Bearer."""
        return self.authenticate(headers, key_header=key_header)[0]

    def authenticate(self, headers: Any, *, key_header: str | None = None) -> tuple[TokcountError | None, bytes]:
        """(None, the caller's tenant tag) when the request may pass, else (the error, ``ANONYMOUS``); with auth
        off every caller is the one anonymous tenant."""
        if not self._keys:
            return None, ANONYMOUS
        presented: list[str] = []
        auth = headers.get("authorization")
        if auth:
            scheme, _, token = auth.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                presented.append(token.strip())
        if key_header and headers.get(key_header):
            presented.append(headers[key_header].strip())
        if not presented:
            where = "an Authorization: Bearer header" + (f" or an {key_header} header" if key_header else "")
            return AuthenticationError(f"Missing API key: send {where}."), ANONYMOUS
        tenant = self._keys.tenant(presented)
        return (None, tenant) if tenant is not None else (AuthenticationError("Invalid API key."), ANONYMOUS)

    def signed_claims(self, dialect: Dialect, headers: Any) -> sigv4.Signed | TokcountError | None:
        """For a dialect whose SDK signs requests (Bedrock's boto3), with auth on: the claims of a SigV4
        ``Authorization`` header, read and checked (form, time) before the body is; an error when they do not hold;
        None when the request is not signed (then the usual key headers decide)."""
        if not self._keys or not dialect.sigv4 or not sigv4.is_signed(headers):
            return None
        try:
            return sigv4.claims(headers)
        except AuthenticationError as exc:
            return exc

    def authenticate_signed(self, signed: sigv4.Signed, scope: Mapping[str, Any], headers: Any,
                            body: bytes) -> tuple[TokcountError | None, bytes]:
        """(None, the tenant) when a configured key, as the secret access key, made the request's signature."""
        try:
            to_sign = sigv4.string_to_sign(signed, scope["method"], scope.get("raw_path") or scope["path"].encode(),
                                           scope.get("query_string", b""), headers, body)
        except AuthenticationError as exc:
            return exc, ANONYMOUS
        tenant = self._keys.tenant_proved(lambda key: sigv4.proves(signed, to_sign, key))
        if tenant is None:
            return AuthenticationError("The request signature does not match: sign with a tokcount API key as the "
                                       "secret access key."), ANONYMOUS
        return None, tenant

    # ------------------------------------------------------------------ body
    def parse_json(self, raw: bytes) -> Any:
        """The body's one JSON parse, its nesting bounded by ``max_json_depth`` (:func:`tokcount.jobs.parse_body`:
        where a large body is parsed, on a counting thread)."""
        return jobs.parse_body(raw, self.settings.max_json_depth)


async def read_body(request: HttpRequest, limit: int, timeout: float | None = None) -> bytes:
    """The body, or a 413 once it passes ``limit`` (declared or actually sent), before any parsing; a 408 when the
    client has not sent all of it within ``timeout`` seconds (a slow client holds a connection, nothing more)."""
    async with body_deadline(timeout):
        return await _read_body_now(request, limit)


async def _read_body_now(request: HttpRequest, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    too_large = RequestTooLarge(f"The request body exceeds the limit of {limit} bytes.", param="body")
    if declared is not None:
        try:
            n = int(declared)
        except ValueError:
            raise InvalidRequest("Content-Length is not a number.", param="body") from None
        if n > limit:
            if n <= limit + DRAIN_BYTES:
                await _drain(request, limit + DRAIN_BYTES)
            raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            await _drain(request, DRAIN_BYTES)
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def _drain(request: HttpRequest, budget: int) -> None:
    dropped = 0
    try:
        async for chunk in request.stream():
            dropped += len(chunk)
            if dropped > budget:
                return
    except Exception:  # the client went away: nothing to answer
        return
