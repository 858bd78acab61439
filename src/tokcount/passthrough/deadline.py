"""A total deadline for a call to a provider, enforced on its sockets.

httpx's timeouts bound each phase (connect, each read, each write), never the call: a provider trickling its status
line and headers a byte every few seconds held a call 40 s against a 5 s timeout, since every byte restarts the
read timeout (and no body chunk came for a loop to check a clock between). The media fetch shuts its socket from a
watchdog thread; here the same bound comes from the network layer httpx runs on (httpcore): every socket operation
of a call is given the time left until the call's deadline instead of the full per-phase timeout, so the blocked
``recv`` itself ends at the deadline, with no thread per call. The deadline is per thread (:func:`within`): a
pooled connection serves whichever call runs on it, and each call is one thread here (the client is synchronous).

httpx offers no way to choose the network backend of its default transport, so :func:`transport` builds the
transport with its own connection pool. A client given a transport does not read proxy settings from the
environment (httpx's rule): the passthrough connects to the configured ``base_url`` directly.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx

_local = threading.local()


@contextlib.contextmanager
def within(seconds: float) -> Iterator[None]:
    """Every socket operation of this thread's calls, inside the block, ends within ``seconds`` of its start."""
    outer = getattr(_local, "deadline", None)
    _local.deadline = time.monotonic() + seconds
    try:
        yield
    finally:
        _local.deadline = outer


def _left(timeout: float | None, expired: type[httpcore.TimeoutException]) -> float | None:
    """``timeout`` cut to the time left before this thread's deadline; ``expired`` raised once none is left."""
    deadline = getattr(_local, "deadline", None)
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired("the call's deadline passed")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    """A connection's stream whose reads, writes and TLS handshake get only the time left."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, _left(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    """httpcore's own synchronous backend, its connections wrapped in :class:`_Stream`."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return _Stream(self._inner.connect_tcp(host, port, _left(timeout, httpcore.ConnectTimeout), local_address,
                                               socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return _Stream(self._inner.connect_unix_socket(path, _left(timeout, httpcore.ConnectTimeout),
                                                       socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _Transport(httpx.HTTPTransport):
    def __init__(self, limits: httpx.Limits) -> None:
        super().__init__(limits=limits)
        self._pool = httpcore.ConnectionPool(  # httpx's own pool, as it builds it, but on the backend above
            ssl_context=httpx.create_ssl_context(), max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections, keepalive_expiry=limits.keepalive_expiry,
            network_backend=_Backend())


def transport(limits: httpx.Limits) -> httpx.BaseTransport:
    """An HTTP/1.1 transport whose calls end by the deadline of :func:`within`."""
    return _Transport(limits)
