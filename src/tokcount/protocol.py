"""uvicorn's HTTP protocol with a deadline and size limits for each request's headers (uvicorn has neither).

A module of its own, importing uvicorn, so that ``serve --workers N`` can name the class by its import path
(``tokcount.protocol:HeaderDeadlineProtocol``): worker processes receive the server config pickled, and a class
made at run time could not be. Each worker sets the class attributes (:attr:`timeout`, :attr:`max_header_bytes`,
:attr:`max_headers`) from its settings.

- **Deadline.** One timer per request: armed when the connection opens and after each response (keep-alive),
  disarmed once a request's headers are complete; when it fires the client gets a 408 and the connection is
  closed. uvicorn's keep-alive timer is cancelled by every byte received, so without it a client trickling one
  byte a second holds a connection forever.
- **Size.** httptools (llhttp) has no limit at all on a request line or a header: one connection could send
  hundreds of megabytes of headers, which the parser and uvicorn accumulate (a URL, a header value, a list of
  header tuples), growing the worker for good. Bytes are counted as they are fed to the parser, from a request's
  first byte until its headers are complete, and fed at most up to the limit: past ``max_header_bytes`` (or past
  ``max_headers`` fields) the client gets a 431 and the connection is closed. A pipelined request that starts
  inside a read that also ends the request before it is counted from the next read on, so what one request can
  make the parser hold is bounded by the limit plus one read (asyncio reads at most 256 KiB at a time).
  The same holds for h11 (uvicorn's parser when httptools is not installed), whose own cap on an incomplete head
  (``max_incomplete_event_size``) is set to the same limit; its refusals become the same 431.
- **JSON refusals.** uvicorn answers a request it cannot parse with a plain-text 400; here it is the same JSON
  error object as the 408 and 431 (no route is known yet, so the OpenAI-style shape the other routes default to).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

import h11
import orjson
from uvicorn.protocols.http.h11_impl import H11Protocol

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools is an optional dependency of uvicorn
    HttpToolsProtocol = None  # type: ignore[assignment, misc]

log = logging.getLogger("tokcount.server")

#: defaults of the settings that set them (``max_header_bytes``, ``max_headers``)
MAX_HEADER_BYTES = 64 * 1024
MAX_HEADERS = 100


class HeadersTooLarge(Exception):
    """Raised from a parser callback to stop parsing a request whose head is over a limit (answered 431)."""


class TooManyFields(h11.RemoteProtocolError):
    """h11's refusal of a request with more than ``max_headers`` fields (answered 431)."""


class _Guard:
    """What both parsers' protocols share: the header deadline, the head's byte limit and the JSON refusals (408,
    400, 431); each parser's class says when a request's head is being read and counts its fields."""

    #: seconds a client may take to send a request's headers
    timeout: float = 10.0
    #: bytes of one request's request line and header fields
    max_header_bytes: int = MAX_HEADER_BYTES
    #: header fields in one request
    max_headers: int = MAX_HEADERS

    # set by uvicorn's protocol classes
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    cycle: Any

    _header_timer: asyncio.TimerHandle | None = None
    _waiting_cycle: Any = None
    _head_bytes = 0       # bytes fed while reading the current request's head

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._arm()

    def data_received(self, data: bytes) -> None:
        """Feed ``data`` to the parser; while a request's head is being read, at most up to the byte limit."""
        while data:
            if not self._reading_head():  # a body (or a pipelined request after a complete one): not counted
                self._feed(data)
                return
            room = self.max_header_bytes - self._head_bytes
            if room <= 0:
                log.info("refused a request whose headers exceed %d bytes", self.max_header_bytes)
                self._refuse(431, self._too_many_bytes())
                return
            piece, data = data[:room], data[room:]
            self._head_bytes += len(piece)
            self._feed(piece)
            if self.transport.is_closing():
                return
            if not self._reading_head():
                self._head_bytes = 0  # the head is complete: the next request's is counted afresh

    def _reading_head(self) -> bool:
        """Whether the parser is between requests or inside a request's head (set per parser below)."""
        raise NotImplementedError

    def _feed(self, data: bytes) -> None:
        super().data_received(data)  # type: ignore[misc]
        if self._header_timer is not None and self.cycle is not self._waiting_cycle:
            self._disarm()  # a new request's headers are complete: the app (and its body deadline) take over

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
            self._arm()  # keep-alive: the next request's headers get the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]

    def _arm(self) -> None:
        self._disarm()
        self._waiting_cycle = self.cycle
        self._header_timer = self.loop.call_later(self.timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.cycle is self._waiting_cycle and not self.transport.is_closing():
            log.info("closing a connection whose request headers took longer than %g s", self.timeout)
            self._refuse(408, f"The request headers were not received within {self.timeout:g} s.")

    # ---------------------------------------------------------------------------------------------- refusals
    def send_400_response(self, msg: str) -> None:
        """uvicorn calls this (inside its ``except``) when the parser refuses the request: a 431 when a size
        limit stopped it, else a 400; JSON either way."""
        too_large = self._size_refusal(sys.exc_info()[1])
        if too_large is not None:
            log.info("refused a request whose headers are too large: %s", too_large)
            self._refuse(431, too_large)
        else:
            self._refuse(400, "The request could not be parsed as HTTP/1.1.")

    def _size_refusal(self, exc: BaseException | None) -> str | None:
        """The message of a size refusal behind ``exc`` (ours, raised in a parser callback, or h11's own cap on
        an incomplete head), else None."""
        for _ in range(4):  # the callback's exception is the context of httptools' own
            if exc is None:
                return None
            if isinstance(exc, HeadersTooLarge | TooManyFields):
                return str(exc)
            if isinstance(exc, h11.RemoteProtocolError) and exc.error_status_hint == 431:
                return self._too_many_bytes()
            exc = exc.__cause__ or exc.__context__
        return None

    def _too_many_bytes(self) -> str:
        return (f"The request line and headers exceed {self.max_header_bytes} bytes "
                "(max_header_bytes, TOKCOUNT_MAX_HEADER_BYTES).")

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` and close. A response still being sent for an earlier (pipelined) request is not
        interleaved with this one: the connection is just closed."""
        self._disarm()
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(_answer(status, message))
        self.transport.close()


def _too_many_fields(limit: int) -> str:
    return f"The request has more than {limit} header fields (max_headers, TOKCOUNT_MAX_HEADERS)."


_REASONS = {400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large"}
_KINDS = {400: "invalid_request_error", 408: "request_timeout", 431: "request_too_large"}
_CODES = {400: "bad_request", 408: "request_timeout", 431: "header_fields_too_large"}


def _answer(status: int, message: str) -> bytes:
    body = orjson.dumps({"error": {"message": message, "type": _KINDS[status], "param": None,
                                   "code": _CODES[status]}})
    return (b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\nconnection: close\r\n" % (status,
            _REASONS[status].encode()) + b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


if HttpToolsProtocol is not None:
    class HttpToolsGuard(_Guard, HttpToolsProtocol):  # type: ignore[misc]
        """httptools: a request's head ends when the parser says so; header fields are counted as it reports them."""

        _in_body = False      # this request's headers are complete: bytes now are its body (not counted)
        _fields = 0           # header fields of the request being read

        def _reading_head(self) -> bool:
            return not self._in_body

        def on_message_begin(self) -> None:
            self._fields = 0
            super().on_message_begin()

        def on_header(self, name: bytes, value: bytes) -> None:
            self._fields += 1
            if self._fields > self.max_headers:  # stops the parser: uvicorn calls send_400_response
                raise HeadersTooLarge(_too_many_fields(self.max_headers))
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._in_body = True
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._in_body = False
            self._head_bytes = 0  # a pipelined request may begin in the same read
            super().on_message_complete()


class _CountingConnection(h11.Connection):
    """An h11 connection that refuses a request with more than ``max_headers`` fields (h11 caps bytes itself)."""

    def __init__(self, max_bytes: int, max_headers: int) -> None:
        super().__init__(h11.SERVER, max_incomplete_event_size=max_bytes)
        self.max_headers = max_headers

    def next_event(self) -> Any:
        event = super().next_event()
        if isinstance(event, h11.Request) and len(event.headers) > self.max_headers:
            raise TooManyFields(_too_many_fields(self.max_headers), error_status_hint=431)
        return event


class H11Guard(_Guard, H11Protocol):  # type: ignore[misc]
    """h11: a request's head is read while the client's state is IDLE (h11's own cap on an incomplete event is set
    to the same limit); header fields are counted per request."""

    conn: h11.Connection

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn = _CountingConnection(self.max_header_bytes, self.max_headers)

    def _reading_head(self) -> bool:
        return self.conn.their_state is h11.IDLE


#: the protocol ``tokcount serve`` runs: httptools when installed (uvicorn's own choice, "auto"), else h11
HeaderDeadlineProtocol: type[_Guard] = HttpToolsGuard if HttpToolsProtocol is not None else H11Guard
