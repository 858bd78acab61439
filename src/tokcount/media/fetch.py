"""Reading an image header from an http(s) URL without becoming a proxy into the network tokcount runs in.

Only http/https; the host name is resolved once and the connection goes to that very address (no second lookup an
attacker could rebind); private, loopback, link-local, multicast, reserved and cloud-metadata addresses are refused,
IPv6 forms that carry an IPv4 address judged by that address (:mod:`.addresses`), for the first URL and for every
redirect (the refusal a client sees names the host, never the internal address it resolved to: that goes to the
log). A byte cap, a per-read timeout and a total deadline bound every fetch; the deadline is enforced by a watchdog
that shuts the socket, so a server trickling its response headers one byte at a time cannot stretch it
(``http.client`` applies its timeout per ``recv``, never in total). ``FetchPolicy.allow_networks`` opens chosen
networks (tests allow their loopback server).
"""

from __future__ import annotations

import contextlib
import http.client
import io
import ipaddress
import logging
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from urllib.parse import urljoin, urlsplit

from ..errors import AddressRefused, MediaError, public_text
from . import addresses
from .headers import ImageInfo, check_limits, open_header, sniffed_format, unreadable
from .policy import FetchPolicy

log = logging.getLogger("tokcount.media")

METADATA_ADDRESSES = addresses.METADATA_ADDRESSES  # refused though ``ipaddress`` calls some of them global


def allowed(addr: ipaddress.IPv4Address | ipaddress.IPv6Address, policy: FetchPolicy) -> bool:
    return addresses.allowed(addr, policy.allow_networks)  # public only, IPv4 carried in IPv6 included


_RESOLVER = ThreadPoolExecutor(max_workers=4, thread_name_prefix="tokcount-dns")


def resolve_address(host: str, port: int, policy: FetchPolicy, where: str, timeout: float | None = None) -> str:
    """Resolve ``host`` once and return an address the guard allows (the connection goes to exactly that).
    The lookup runs in a small pool so a slow resolver costs at most ``timeout`` (default ``policy.timeout``).
    A refusal names the host only: the internal addresses it resolved to are logged, never sent to the client."""
    wait_for = policy.timeout if timeout is None else min(policy.timeout, timeout)
    future = _RESOLVER.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=wait_for)
    except FutureTimeout:
        raise MediaError(f"{where}: resolving {host!r} took longer than {wait_for:g} s.", param=where) from None
    except (OSError, UnicodeError) as exc:
        raise MediaError(f"{where}: cannot resolve {host!r} ({type(exc).__name__}).", param=where) from None
    refused = []
    for _family, _type, _proto, _name, sockaddr in infos:
        addr = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])  # an IPv6 zone id ("%eth0") is not an address
        if allowed(addr, policy):
            return str(addr)
        refused.append(str(addr))
    log.warning("refused to fetch an image from %r: it resolves to non-public %s", host,
                ", ".join(sorted(set(refused))))
    raise AddressRefused(f"{where}: refusing to fetch from {host!r}: it resolves to a private, loopback, link-local "
                         "or otherwise non-public address.", param=where)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address the guard checked (no second lookup); keeps the raw socket for the watchdog."""

    raw: socket.socket | None = None

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = self.raw = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    raw: socket.socket | None = None

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        self.raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(self.raw, server_hostname=self.host)  # type: ignore[attr-defined]


class _Watchdog:
    """Shuts the fetch's socket when the total deadline passes, waking any ``recv`` blocked on it: the only way to
    bound ``http.client``'s header reading, whose timeout restarts with every byte a server trickles."""

    def __init__(self, seconds: float) -> None:
        self.fired = False
        self._conn: _PinnedHTTPConnection | _PinnedHTTPSConnection | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, conn: _PinnedHTTPConnection | _PinnedHTTPSConnection) -> None:
        with self._lock:
            self._conn = conn

    def connected(self) -> None:
        """Called once the socket exists: a deadline that passed during the connect still shuts it."""
        with self._lock:
            if self.fired:
                self._shut()

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            self._shut()

    def _shut(self) -> None:
        raw = self._conn.raw if self._conn is not None else None
        if raw is not None:
            with contextlib.suppress(OSError):  # the raw socket, also under TLS: no SSL state is touched
                raw.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()


def fetch_size(url: str, policy: FetchPolicy, where: str) -> ImageInfo:
    start = time.monotonic()
    watchdog = _Watchdog(policy.deadline)
    too_slow = MediaError(f"{where}: fetching the image took longer than {policy.deadline:g} s.", param=where)
    try:
        for _ in range(policy.max_redirects + 1):
            parts = urlsplit(url)
            scheme = parts.scheme.lower()
            if scheme not in ("http", "https"):
                raise MediaError(f"{where}: refusing a redirect to a {scheme or 'relative'} URL.", param=where)
            host = parts.hostname
            if not host:
                raise MediaError(f"{where}: the URL has no host.", param=where)
            try:
                port = parts.port or (443 if scheme == "https" else 80)
            except ValueError:
                raise MediaError(f"{where}: the URL has an invalid port.", param=where) from None
            remaining = policy.deadline - (time.monotonic() - start)
            if remaining <= 0:
                raise too_slow
            address = resolve_address(host, port, policy, where, timeout=remaining)
            remaining = policy.deadline - (time.monotonic() - start)
            if remaining <= 0:
                raise too_slow
            cls = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
            conn = cls(host, port, address, min(policy.timeout, remaining))
            watchdog.watch(conn)
            try:
                conn.connect()
                watchdog.connected()
                path = parts.path or "/"
                if parts.query:
                    path += "?" + parts.query
                conn.request("GET", path, headers={"User-Agent": policy.user_agent, "Accept": "image/*",
                                                   "Accept-Encoding": "identity"})
                resp = conn.getresponse()
                if resp.status in (301, 302, 303, 307, 308):
                    location = resp.getheader("Location")
                    if not location:
                        raise MediaError(f"{where}: redirect without a Location header.", param=where)
                    url = urljoin(url, location)
                    continue
                if resp.status != 200:
                    raise MediaError(f"{where}: fetching the image returned HTTP {resp.status}.", param=where)
                return _read_header(resp, policy, start, where)
            except TimeoutError:
                if watchdog.fired:
                    raise too_slow from None
                raise MediaError(f"{where}: the image server did not answer within {policy.timeout:g} s.",
                                 param=where) from None
            except (OSError, http.client.HTTPException) as exc:
                if watchdog.fired:
                    raise too_slow from None
                log.info("fetching an image from %r failed: %r", host, exc)
                raise MediaError(f"{where}: fetching the image failed ({type(exc).__name__}: {public_text(str(exc))}).",
                                 param=where) from None
            except MediaError:
                if watchdog.fired:
                    raise too_slow from None
                raise
            finally:
                conn.close()
        raise MediaError(f"{where}: more than {policy.max_redirects} redirects.", param=where)
    finally:
        watchdog.cancel()


def _read_header(resp: http.client.HTTPResponse, policy: FetchPolicy, start: float, where: str) -> ImageInfo:
    """Read the body until a counted format's header parses; never read more than needed (nor past the cap).

    Each parse attempt starts over from the first byte (the plugins read from a file), so past the first 64 KiB
    an attempt is made only once the buffer has grown by half: the work stays linear in the bytes read even for a
    JPEG whose size marker sits behind megabytes of metadata."""
    buf = bytearray()
    next_try = 0
    while True:
        if time.monotonic() - start > policy.deadline:
            raise MediaError(f"{where}: fetching the image took longer than {policy.deadline:g} s.", param=where)
        chunk = resp.read1(16384)
        if chunk:
            buf += chunk
            if len(buf) >= 16 and not sniffed_format(bytes(buf[:16])):
                raise unreadable(bytes(buf[:16]), where, "the response")
        at_end = not chunk or len(buf) >= policy.max_bytes
        if len(buf) >= next_try or at_end:
            info = open_header(io.BytesIO(bytes(buf)), where)
            if info is not None:  # the header is parsed: stop reading
                check_limits(info, policy, where)
                return info
            next_try = len(buf) + 1 if len(buf) < 65536 else len(buf) * 3 // 2
        if not chunk:
            if len(buf) < 16:
                raise unreadable(bytes(buf), where, "the response")
            raise MediaError(f"{where}: the response ended before an image header was found.", param=where)
        if len(buf) >= policy.max_bytes:
            raise MediaError(f"{where}: no image header in the first {policy.max_bytes} bytes.", param=where)
