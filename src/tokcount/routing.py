"""Unknown routes (404) and wrong methods (405) answered in an error shape instead of FastAPI's ``{"detail"}``.

The shape is picked by path prefix, as a client of that API would parse it: the Anthropic one under
``/v1/messages``, Google's under ``/v1beta`` and for ``/v1/models/...:countTokens``, the OpenAI one elsewhere.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI
from fastapi import Request as HttpRequest
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from .dialects import dialects
from .dialects._api import Dialect
from .errors import MethodNotAllowed, RouteNotFound, TokcountError


def dialect_for(path: str) -> Dialect:
    """The dialect whose error shape a client of ``path`` expects."""
    found = dialects()
    if path.startswith("/v1/messages"):
        return found["anthropic"]
    if path.startswith("/v1beta/") or (path.startswith("/v1/models/") and path.endswith(":countTokens")):
        return found["gemini"]
    return found["openai-responses"]


def error_response(path: str, err: TokcountError, headers: dict[str, str] | None = None) -> Response:
    status, body = dialect_for(path).error(err)
    resp = Response(orjson.dumps(body), status_code=status, media_type="application/json")
    resp.headers.update(headers or {})
    return resp


def install(app: FastAPI) -> None:
    """Register the handlers; other HTTP errors keep FastAPI's default behaviour (none is raised today)."""

    async def http_error(request: HttpRequest, exc: Any) -> Response:
        path = request.url.path
        if exc.status_code == 404:
            return error_response(path, RouteNotFound(f"No route {request.method} {path}; see /docs for the "
                                                      "routes this server answers.", param=None))
        if exc.status_code == 405:
            allow = next((v for k, v in (exc.headers or {}).items() if k.lower() == "allow"), "")
            return error_response(path, MethodNotAllowed(f"{request.method} is not allowed on {path}"
                                                         + (f"; use {allow}." if allow else "."), param=None),
                                  {"allow": allow} if allow else None)
        return Response(orjson.dumps({"error": {"message": str(exc.detail), "type": "http_error"}}),
                        status_code=exc.status_code, media_type="application/json", headers=exc.headers)

    app.add_exception_handler(StarletteHTTPException, http_error)
