"""Error shapes for what no route answers itself: unknown routes (404), wrong methods (405), and any exception that
escapes a route (500), instead of FastAPI's ``{"detail"}`` and Starlette's plain-text ``Internal Server Error``.

The shape is the one a client of that path parses: a dialect's own route gets its dialect's (``/tokenize`` vLLM's,
``/v1/count_tokens`` Bifrost's, ...), ``/v1/fit`` the one of the dialect its query names (as the route answers its
own errors), the playground's the library's OpenAI-chat one; otherwise a dialect's own ``error_prefixes`` (the
longest that matches: Vertex AI's ``/v1beta1/``, Bedrock's ``/model/``, Anthropic's ``/v1/messages``, Gemini's
``/v1beta/`` and ``/v1/models/*:countTokens``), and elsewhere the dialect declaring ``fallback_errors`` (OpenAI's).

:class:`LastLine` is the structural backstop: routes answer their own errors, and every exception they let escape
(a bug, or a class of hostile input not yet handled) is still a JSON 500 in that shape, logged with its traceback,
on a connection that stays usable.
"""

from __future__ import annotations

import logging
from fnmatch import fnmatchcase
from functools import cache
from typing import Any
from urllib.parse import parse_qs

import orjson
from fastapi import FastAPI
from fastapi import Request as HttpRequest
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import jobs
from .dialects import dialects
from .dialects._api import Dialect
from .errors import InternalError, MethodNotAllowed, RouteNotFound, TokcountError

log = logging.getLogger("tokcount.server")


@cache
def _route_dialects() -> dict[str, str]:
    """Each dialect route's fixed path and its dialect's name (the first dialect to declare a path wins, as the
    server mounts them)."""
    owners: dict[str, str] = {}
    for dialect in dialects().values():
        for route in dialect.routes:
            if route.path is not None and "{" not in route.path:
                owners.setdefault(route.path, dialect.name)
    return owners


@cache
def _prefixes() -> tuple[tuple[str, str], ...]:
    """(path prefix, dialect name) of every dialect's ``error_prefixes``, the longest first."""
    found = [(p, d.name) for d in dialects().values() for p in d.error_prefixes]
    return tuple(sorted(found, key=lambda item: -len(item[0])))


def dialect_for(path: str, query: str | bytes = "") -> Dialect:
    """The dialect whose error shape a client of ``path`` (with ``query``, for ``/v1/fit``) expects."""
    found = dialects()
    owner = _route_dialects().get(path)
    if owner is not None:
        return found[owner]
    if path == "/v1/fit" or path.startswith("/v1/playground"):
        text = query.decode("latin-1") if isinstance(query, bytes) else query
        name = parse_qs(text).get("dialect", ["openai-chat"])[0] if path == "/v1/fit" else "openai-chat"
        return found.get(name, found["openai-chat"])
    for prefix, name in _prefixes():  # each dialect's own trees (Vertex AI's /v1beta1/, Bedrock's /model/, ...)
        if fnmatchcase(path, prefix) if "*" in prefix else path.startswith(prefix):
            return found[name]
    return _fallback()


@cache
def _fallback() -> Dialect:
    """The one dialect that declares ``fallback_errors``."""
    (only,) = [d for d in dialects().values() if d.fallback_errors]
    return only


def error_response(path: str, err: TokcountError, headers: dict[str, str] | None = None,
                   query: str | bytes = "") -> Response:
    status, body, shaped = dialect_for(path, query).failure(err)
    resp = Response(orjson.dumps(body), status_code=status, media_type="application/json")
    resp.headers.update({**shaped, **(headers or {})})
    return resp


def dialect_error(dialect: Dialect, err: TokcountError) -> Response:
    """``err`` answered in ``dialect``'s shape, as its count routes answer it (``WWW-Authenticate`` on a 401): for
    the routes that know their dialect (``/v1/fit``, the playground's). A 408 also closes the connection: the rest
    of the body may never come, so it is not waited for."""
    out = jobs.error_answer(dialect, err)
    resp = Response(orjson.dumps(out.body), status_code=out.status, media_type="application/json",
                    headers=out.headers)
    if err.status == 408:
        resp.headers["Connection"] = "close"
    return resp


def install(app: FastAPI) -> None:
    """Register the handlers; other HTTP errors keep FastAPI's default behaviour (none is raised today)."""

    async def http_error(request: HttpRequest, exc: Any) -> Response:
        path = request.url.path
        query = request.scope.get("query_string", b"")
        if exc.status_code == 404:
            return error_response(path, RouteNotFound(f"No route {request.method} {path}; see /docs for the "
                                                      "routes this server answers.", param=None), query=query)
        if exc.status_code == 405:
            allow = next((v for k, v in (exc.headers or {}).items() if k.lower() == "allow"), "")
            return error_response(path, MethodNotAllowed(f"{request.method} is not allowed on {path}"
                                                         + (f"; use {allow}." if allow else "."), param=None),
                                  {"allow": allow} if allow else None, query)
        return Response(orjson.dumps({"error": {"message": str(exc.detail), "type": "http_error"}}),
                        status_code=exc.status_code, media_type="application/json", headers=exc.headers)

    app.add_exception_handler(StarletteHTTPException, http_error)


class LastLine:
    """ASGI middleware: an exception escaping the app before its answer started is logged with its traceback and
    answered 500 in the path's error shape (no detail), instead of Starlette's plain-text 500 and a closed
    connection. Once an answer has started nothing more can be said: the exception goes on to the server."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            if started:
                raise
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            err = InternalError("Internal error; see the server log.")
            await error_response(scope["path"], err, query=scope.get("query_string", b""))(scope, receive, send)
