"""What the HTTP layer does about slow clients, open docs and secrets in logs, kept out of the routes.

- **Header deadline.** uvicorn has no limit on how long a client may take to send its request headers (its
  keep-alive timer is cancelled by every byte received, and nothing is armed for a fresh connection), so a client
  trickling one byte a second holds a connection forever. :func:`timed_protocol` wraps uvicorn's HTTP protocol with
  one timer per request: armed when the connection opens and again after each response, disarmed once a request's
  headers are complete; when it fires the client gets a 408 and the connection is closed.
- **Header size.** Neither is there a limit on the size of a request line or of the headers (httptools has none):
  the same protocol counts the bytes fed to the parser until a request's headers are complete, and its header
  fields, and answers 431 and closes past ``max_header_bytes`` / ``max_headers`` (see :mod:`tokcount.protocol`).
- **Body deadline.** :func:`body_deadline` bounds the reading of one request body (the routes read bodies by hand);
  the route answers 408 in its own error shape and closes the connection.
- **Docs behind auth.** :class:`DocsAuth` guards ``/docs``, ``/redoc``, ``/docs/oauth2-redirect`` and
  ``/openapi.json`` with the API keys when auth is on (unless ``public_docs``).
- **No secrets in logs.** :func:`install_log_redaction` drops query-string values from uvicorn's access log (a
  Gemini-style ``?key=`` would otherwise be written there). API keys are never logged anywhere.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.datastructures import Headers

from .errors import RequestTimeout, TokcountError

log = logging.getLogger("tokcount.server")

ASGIApp = Callable[[dict[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


# ------------------------------------------------------------------------------------------- header deadline
def timed_protocol(header_timeout: float, max_header_bytes: int | None = None, max_headers: int | None = None,
                   *, base: type[asyncio.Protocol] | None = None) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol (httptools when installed, else h11; ``base`` picks one of
    :mod:`tokcount.protocol`'s) with a deadline and size limits for each request's headers."""
    from . import protocol

    attrs = {"timeout": header_timeout,
             "max_header_bytes": protocol.MAX_HEADER_BYTES if max_header_bytes is None else max_header_bytes,
             "max_headers": protocol.MAX_HEADERS if max_headers is None else max_headers}
    return type("HeaderDeadlineProtocol", (base or protocol.HeaderDeadlineProtocol,), attrs)


# ------------------------------------------------------------------------------------------- body deadline
@asynccontextmanager
async def body_deadline(timeout: float | None) -> AsyncIterator[None]:
    """Raise a 408 :class:`RequestTimeout` when the block (reading one request body) takes longer than ``timeout``."""
    if timeout is None:
        yield
        return
    try:
        async with asyncio.timeout(timeout):
            yield
    except TimeoutError:
        raise RequestTimeout(f"The request body was not received within {timeout:g} s.", param="body") from None


# ------------------------------------------------------------------------------------------- docs behind auth
#: FastAPI's documentation routes: they describe every route, so they are no more public than the routes
DOC_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect", "/openapi.json"})


class DocsAuth:
    """ASGI middleware: the documentation routes answer 401 unless the request carries a valid API key."""

    def __init__(self, app: ASGIApp, authorized: Callable[..., TokcountError | None],
                 denied: Callable[[TokcountError], Any], paths: frozenset[str] = DOC_PATHS) -> None:
        self.app = app
        self.authorized = authorized
        self.denied = denied
        self.paths = paths

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/") in self.paths:
            err = self.authorized(Headers(scope=scope), key_header="x-api-key")
            if err is not None:
                await self.denied(err)(scope, receive, send)
                return
        await self.app(scope, receive, send)


# ------------------------------------------------------------------------------------------- no secrets in logs
_QUERY_VALUE = re.compile(r"([?&][^=&#]*=)[^&#]*")


def redact_query(path: str) -> str:
    """``path`` with every query-string value replaced (names kept): ``/x?key=s3cr3t`` -> ``/x?key=***``."""
    return _QUERY_VALUE.sub(r"\1***", path) if "?" in path else path


class RedactQuery(logging.Filter):
    """Rewrites uvicorn access-log records, whose third argument is the path with its query string."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_query(args[2]), *args[3:])
        return True


_REDACT = RedactQuery()


def install_log_redaction() -> None:
    """Attach the filter to uvicorn's access logger (idempotent: a filter is added once)."""
    logging.getLogger("uvicorn.access").addFilter(_REDACT)
