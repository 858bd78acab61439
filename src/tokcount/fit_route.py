"""HTTP route of :mod:`tokcount.fit`: ``POST /v1/fit`` (the playground's routes are :mod:`tokcount.playground.routes`).

Mounted by ``create_app`` with one call (:func:`mount`) so the server module stays about counting. The route
authenticates like the count routes, reads the body through the server's size-capped reader and answers every
failure in the shape of the dialect its query names, never a 500 for bad input.

``POST /v1/fit?dialect=NAME&model=M&budget=N&reserve=N&truncate=true``: the body is that dialect's count body
(default ``openai-chat``; Gemini's model, in its URL elsewhere, is ``model`` here). The answer is
``{"object": "fit", "request": <the same dialect's body, trimmed>, "budget", "tokens_before", "tokens_after",
"minimum_tokens", "dropped", "next_tokens", "truncated"}``. The parse and every count the fit makes are one task
on the server's bounded counting pools (:meth:`~tokcount.scheduling.Scheduler.offload`), never on a thread pool of
its own.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi import Request as HttpRequest
from fastapi.responses import Response

from . import jobs
from .dialects import dialects
from .dialects._api import Dialect
from .errors import InternalError, InvalidRequest, TokcountError
from .fit import MAX_TOKENS, fit_answer
from .renderers.jinja import limits
from .routing import dialect_error

log = logging.getLogger("tokcount.tools")
ReadBody = Callable[[HttpRequest, int, float | None], Awaitable[bytes]]
#: the POST route :func:`mount` adds (besides the dialects' own)
POST_PATHS = ("/v1/fit",)


def _query(name: str, kind: str, doc: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": {"type": kind}, "description": doc}


#: the query parameters are read by hand (bad values answered in the dialect's shape), so documented here
FIT_DOCS: dict[str, Any] = {
    "parameters": [
        _query("dialect", "string", "the body's shape: any `tokcount count --dialect` name (default openai-chat)"),
        _query("model", "string", "model (overrides the body's; Gemini's model, in its URL elsewhere)"),
        _query("budget", "integer", "token budget (default: the model's context window)"),
        _query("reserve", "integer", "tokens to leave free below the budget"),
        _query("truncate", "boolean", "cut the oldest kept message's text instead of dropping its turn"),
    ],
    "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}, "example": {
        "model": "qwen3.5", "messages": [{"role": "system", "content": "Be brief."},
                                         {"role": "user", "content": "An old question"},
                                         {"role": "assistant", "content": "An old answer"},
                                         {"role": "user", "content": "The new question"}]}}}},
}


def _int_param(query: Any, name: str) -> int | None:
    """An integer query parameter within +-MAX_TOKENS (a number past 64 bits could not even be written back)."""
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw) if len(raw) <= 20 else None
    except ValueError:
        value = None
    if value is None or abs(value) > MAX_TOKENS:
        raise InvalidRequest(f"{name} must be an integer between -{MAX_TOKENS} and {MAX_TOKENS}, got "
                             f"{raw[:40]!r}{'...' if len(raw) > 40 else ''}.", param=name)
    return value


def _bool_param(query: Any, name: str) -> bool:
    raw = (query.get(name) or "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise InvalidRequest(f"{name} must be true or false, got {raw!r}.", param=name)
    return raw in ("true", "1")


def mount(app: FastAPI, service: Any, read_body: ReadBody) -> None:
    """Add ``/v1/fit`` to ``app`` (``service``: the server's :class:`~tokcount.server.Service`, for settings, auth,
    JSON parsing, the counting pools and the policy)."""
    settings = service.settings
    fallback = dialects()["openai-chat"]

    def fit_parsed(dialect: Dialect, raw: bytes, *args: Any, **kwargs: Any) -> jobs.Answer:
        """The parse, then the fit, under the server's render limits (time, size, loops), as every count route."""
        with limits.active(limits.served(settings)):
            try:
                body = service.admission.parse_json(raw)
            except TokcountError as exc:
                return jobs.error_answer(dialect, exc)
            return fit_answer(dialect.name, body, *args, **kwargs)

    @app.post("/v1/fit", summary="Trim a request (any dialect's body) to a token budget, exactly",
              openapi_extra=FIT_DOCS)
    async def fit_route(request: HttpRequest) -> Response:
        name = request.query_params.get("dialect", "openai-chat")
        dialect = dialects().get(name)
        if dialect is None:
            return dialect_error(fallback, InvalidRequest(
                f"dialect must be one of {', '.join(dialects())}; got {name!r}.", param="dialect"))
        denied = service.admission.authorized(request.headers, key_header=dialect.key_header)
        if denied is not None:
            return dialect_error(dialect, denied)
        try:
            q = request.query_params
            budget, reserve = _int_param(q, "budget"), _int_param(q, "reserve") or 0
            truncate = _bool_param(q, "truncate")
            raw = await read_body(request, settings.max_body_bytes, settings.body_timeout)
        except TokcountError as exc:
            return dialect_error(dialect, exc)
        try:  # one task on a counting thread: the parse, then every count the fit makes
            out = await service.scheduler.offload(len(raw), partial(
                fit_parsed, dialect, raw, settings, model=q.get("model") or None, budget=budget,
                reserve=reserve, truncate=truncate, policy=service.policy))
        except Exception:  # a bug: answered in the dialect's shape, logged with its traceback (never the body)
            log.exception("unexpected error in /v1/fit (%s)", name)
            return dialect_error(dialect, InternalError("Internal error while fitting; see the server log."))
        return Response(orjson.dumps(out.body), status_code=out.status, media_type="application/json",
                        headers=out.headers)
