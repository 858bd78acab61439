"""uvicorn's HTTP protocol with a deadline for each request's headers (see ``httpguard``: uvicorn has none).

A module of its own, importing uvicorn, so that ``serve --workers N`` can name the class by its import path
(``tokcount.protocol:HeaderDeadlineProtocol``): worker processes receive the server config pickled, and a class
made at run time could not be. Each worker sets :attr:`HeaderDeadlineProtocol.timeout` from its settings.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from uvicorn.protocols.http.auto import AutoHTTPProtocol

log = logging.getLogger("tokcount.server")


class HeaderDeadlineProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """One timer per request: armed when the connection opens and after each response (keep-alive), disarmed once
    a request's headers are complete (the protocol has started a new request cycle); when it fires the client gets
    a 408 and the connection is closed."""

    #: seconds a client may take to send a request's headers
    timeout: float = 10.0
    _header_timer: asyncio.TimerHandle | None = None
    _waiting_cycle: Any = None

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._header_timer is not None and self.cycle is not self._waiting_cycle:
            self._disarm()  # a new request's headers are complete: the app (and its body deadline) take over

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
            self._arm()  # keep-alive: the next request's headers get the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

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
            self.transport.write(_answer(self.timeout))
            self.transport.close()


def _answer(timeout: float) -> bytes:
    body = orjson.dumps({"error": {"message": f"The request headers were not received within {timeout:g} s.",
                                   "type": "request_timeout", "param": None, "code": "request_timeout"}})
    return (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
