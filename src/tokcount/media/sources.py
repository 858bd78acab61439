"""Width × height of an image from its source, reading only the bytes the format's header needs.

Sources: ``data:`` URLs (base64), ``http(s)://`` URLs, and — only when the caller allows it (the CLI) — local
paths and ``file://`` URLs. Pixels are never decoded: Pillow's lazy ``Image.open`` / incremental ``ImageFile.Parser``
stop at the header.

Remote fetching is safe by default, because a count-tokens service must not become a proxy into the network it
runs in: only http/https; the host name is resolved once and the connection goes to that very address (no second
lookup an attacker could rebind); private, loopback, link-local, multicast, reserved and cloud-metadata
addresses are refused, IPv6 forms that carry an IPv4 address judged by that address (:mod:`.addresses`), for the
first URL and for every redirect (the refusal a client sees names the host, never
the internal address it resolved to: that goes to the log). A byte cap, a per-read timeout and a total deadline
bound every fetch; the deadline is enforced by a watchdog that shuts the socket, so a server trickling its response
headers one byte at a time cannot stretch it (``http.client`` applies its timeout per ``recv``, never in total).
The images of one request are fetched concurrently (:func:`prefetch`), at most ``max_concurrent_fetches`` at a time
and within ``request_deadline`` in all, on threads shared by the whole process (``max_total_fetches`` of them:
:mod:`tokcount.media.fetchpool`). Inside :func:`deferred` (the server's counting threads) nothing is fetched: a
size not read beforehand raises :class:`NeedsFetch`, and the server reads it off the counting threads and counts
again. ``FetchPolicy.allow_networks`` opens chosen networks (tests allow their
loopback server; ``TOKCOUNT_MEDIA_ALLOW_NETWORKS`` does the same from the environment).

Headers are read by the format plugins themselves, not through ``Image.open``: only the five formats counted here are
tried, and Pillow's decompression-bomb check (which raises for a header alone, though nothing is ever decoded) is
replaced by this module's own documented limits, ``max_image_pixels`` and ``max_image_side``, answered as a clear
413 naming the image part.

Settings (``media_*`` in settings.py, read once: :func:`policy_from`): ``TOKCOUNT_MEDIA_FETCH`` (0 turns
remote fetching off), ``TOKCOUNT_MEDIA_ALLOW_NETWORKS`` (CIDRs), ``TOKCOUNT_MEDIA_MAX_PIXELS``,
``TOKCOUNT_MEDIA_MAX_SIDE``, ``TOKCOUNT_MEDIA_DEADLINE`` (seconds per fetch), ``TOKCOUNT_MEDIA_REQUEST_DEADLINE``
(seconds for all fetches of a request), ``TOKCOUNT_MEDIA_CONCURRENCY`` (fetches at once per request),
``TOKCOUNT_MEDIA_TOTAL_CONCURRENCY`` (fetches at once in the whole process).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import io
import ipaddress
import logging
import socket
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import unquote_to_bytes, urljoin, urlsplit

from ..errors import AddressRefused, ImageTooLarge, MediaError, public_text
from ..settings import Settings, default
from . import addresses, b64
from .fetchpool import Batch

log = logging.getLogger("tokcount.media")

#: formats whose header Pillow parses; anything else is refused with a clear message
IMAGE_FORMATS = {"JPEG", "PNG", "WEBP", "GIF", "BMP"}

METADATA_ADDRESSES = addresses.METADATA_ADDRESSES  # refused though ``ipaddress`` calls some of them global


@dataclass(frozen=True)
class FetchPolicy:
    """Limits for reading media. Defaults suit a public service; the CLI enables ``allow_local``."""

    max_bytes: int = 20 * 1024 * 1024      # bytes read from a URL or file before giving up on finding a header
    max_data_url_bytes: int = 50 * 1024 * 1024
    timeout: float = 5.0                   # per connect / read
    deadline: float = default("media_deadline")
    max_redirects: int = 5
    max_media_parts: int = 256             # images/videos in one request (each may cost a fetch)
    # the bounds a setting can change default to that setting's default (settings.py says why each is what it is)
    max_image_pixels: int = default("media_max_pixels")
    max_image_side: int = default("media_max_side")
    max_concurrent_fetches: int = default("media_concurrency")
    max_total_fetches: int = default("media_total_concurrency")
    request_deadline: float = default("media_request_deadline")
    failure_ttl: float = 30.0              # a failed size read is answered from memory this long (no refetch)
    allow_remote: bool = True
    allow_local: bool = False
    allow_networks: tuple[str, ...] = ()   # CIDRs let through the address guard (tests: "127.0.0.1/32")
    user_agent: str = "tokcount-media/0.1 (+image size probe)"
    extra: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


def policy_from(settings: Settings) -> FetchPolicy:
    """The image-fetch policy ``settings`` describe (``media_*``; a 0 is the setting's default). The server and
    the CLI build theirs once with this and pass it down to every job."""
    bounds = {policy: getattr(settings, name) or default(name) for policy, name in SETTING_OF.items()}
    return FetchPolicy(allow_remote=settings.media_fetch, allow_networks=settings.media_allow_networks, **bounds)


#: the FetchPolicy bound each ``media_*`` setting sets
SETTING_OF = {"max_image_pixels": "media_max_pixels", "max_image_side": "media_max_side", "deadline": "media_deadline",
              "request_deadline": "media_request_deadline", "max_concurrent_fetches": "media_concurrency",
              "max_total_fetches": "media_total_concurrency"}


def default_policy() -> FetchPolicy:
    """The policy of the process's current settings, for library calls given none."""
    from .. import config

    return policy_from(config.current())


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    format: str


class _SizeCache:
    """A bounded LRU of image sizes keyed by URL (remote) or content hash (inline data)."""

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._data: OrderedDict[str, ImageInfo] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> ImageInfo | None:
        with self._lock:
            info = self._data.get(key)
            if info is not None:
                self._data.move_to_end(key)
            return info

    def put(self, key: str, info: ImageInfo) -> None:
        with self._lock:
            self._data[key] = info
            self._data.move_to_end(key)
            while len(self._data) > self.capacity:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


CACHE = _SizeCache()


class _FailureCache:
    """Failed size reads remembered for ``policy.failure_ttl`` seconds, keyed by policy and source, so a request's
    prefetch and the per-part reads after it (closed-model framings) never pay for one slow URL twice, and a
    client repeating a dead URL costs one fetch per TTL, not one per request."""

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._data: OrderedDict[tuple[FetchPolicy, str], tuple[float, MediaError, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, policy: FetchPolicy, key: str, where: str) -> MediaError | None:
        with self._lock:
            hit = self._data.get((policy, key))
            if hit is None:
                return None
            expires, exc, old_where = hit
            if time.monotonic() >= expires:
                del self._data[(policy, key)]
                return None
        return _renamed(exc, old_where, where)

    def put(self, policy: FetchPolicy, key: str, exc: MediaError, where: str) -> None:
        with self._lock:
            self._data[(policy, key)] = (time.monotonic() + policy.failure_ttl, exc, where)
            self._data.move_to_end((policy, key))
            while len(self._data) > self.capacity:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


FAILURES = _FailureCache()


def _renamed(exc: MediaError, old: str, new: str) -> MediaError:
    """``exc`` as raised for part ``new`` (messages start with the part's path)."""
    message = exc.message
    if old != new and message.startswith(old + ":"):
        message = new + message[len(old):]
    return type(exc)(message, param=new)


def image_size(source: str, *, policy: FetchPolicy | None = None, where: str = "image") -> ImageInfo:
    """Width and height of the image at ``source``; raises :class:`MediaError` naming ``where`` on any failure
    (:class:`ImageTooLarge` when the header declares more than the policy's pixel or side limit)."""
    policy = policy or default_policy()
    if not isinstance(source, str) or not source.strip():
        raise MediaError(f"{where}: the image URL is empty.", param=where)
    source = source.strip()
    scheme = source.split(":", 1)[0].lower() if ":" in source else ""
    if scheme == "data":
        data = _decode_data_url(source, policy, where)
        key = "sha256:" + hashlib.sha256(data).hexdigest()
        return _cached(key, policy, where, lambda: _probe_bytes(data, policy, where))
    if scheme in ("http", "https"):
        if not policy.allow_remote:
            raise MediaError(f"{where}: fetching remote images is disabled (TOKCOUNT_MEDIA_FETCH=0).", param=where)
        known = _KNOWN.get()
        if known is not None:  # a counting thread: never the network
            hit = known.get(source)
            if hit is None:
                raise NeedsFetch([(where, source)])
            result = _as_part(hit, policy, where)
            if isinstance(result, MediaError):
                raise result
            return result
        return _cached("url:" + source, policy, where, lambda: _fetch_size(source, policy, where))
    if policy.allow_local and (scheme == "file" or len(scheme) <= 1):  # "" or a Windows drive letter
        path = Path(unquote_to_bytes(urlsplit(source).path).decode() if scheme == "file" else source).expanduser()
        return _probe_file(path, policy, where)
    raise MediaError(f"{where}: unsupported image source {source[:40]!r}: use a data: URL or an http(s) URL.",
                     param=where)


def _cached(key: str, policy: FetchPolicy, where: str, read: Callable[[], ImageInfo]) -> ImageInfo:
    info = CACHE.get(key)
    if info is None:
        failed = FAILURES.get(policy, key, where)
        if failed is not None:
            raise failed
        try:
            info = read()
        except MediaError as exc:
            FAILURES.put(policy, key, exc, where)
            raise
        CACHE.put(key, info)
    _check_limits(info, policy, where)  # the limits may differ between callers; the size does not
    return info


def prefetch(sources: Iterable[tuple[str, str]],
             policy: FetchPolicy | None = None) -> dict[str, ImageInfo | MediaError]:
    """Sizes of the images of one request, keyed by ``where``: remote ones fetched concurrently, at most
    ``policy.max_concurrent_fetches`` at a time and within ``policy.request_deadline`` in all (an image still
    unread then fails with a message saying so). Never raises a :class:`MediaError`: each part gets its result,
    and the caller decides which failures refuse the request. The results also land in the caches, so a later
    :func:`image_size` of the same source is answered from memory. Inside :func:`deferred`, remote sizes come from
    what was read beforehand, and :class:`NeedsFetch` names every remote source that was not."""
    policy = policy or default_policy()
    results: dict[str, ImageInfo | MediaError] = {}
    remote: list[tuple[str, str]] = []
    for where, source in sources:
        if policy.allow_remote and isinstance(source, str) and \
                source.strip().lower().startswith(("http://", "https://")):
            remote.append((where, source))
            continue
        try:
            results[where] = image_size(source, policy=policy, where=where)
        except MediaError as exc:
            results[where] = exc
    if not remote:
        return results
    known = _KNOWN.get()
    if known is None:
        known = _batch(remote, policy).wait()
    else:
        missing = [(where, source) for where, source in remote if source_key(source) not in known]
        if missing:
            raise NeedsFetch(missing)
    for where, source in remote:
        results[where] = _as_part(known[source_key(source)], policy, where)
    return results


async def fetch_sizes(remote: list[tuple[str, str]], policy: FetchPolicy,
                      budget: float) -> dict[str, ImageInfo | MediaError]:
    """The sizes of ``remote`` ((part, URL) pairs) keyed by :func:`source_key`, read on the process's fetch threads
    while the event loop awaits them (no thread waits), for at most ``budget`` seconds: what the server gives a
    :func:`deferred` count."""
    return await _batch(remote, policy).wait_async(budget)


def _batch(remote: list[tuple[str, str]], policy: FetchPolicy) -> Batch[ImageInfo | MediaError]:
    """A request's remote reads on the shared fetch pool (:mod:`tokcount.media.fetchpool`), each one
    :func:`image_size` (guard, caps, deadline, caches), an image unread at the request deadline failing with a
    message that says so (remembered, so a per-part read does not fetch it again)."""

    def read(source: str, where: str) -> ImageInfo | MediaError:
        try:
            return image_size(source, policy=policy, where=where)
        except MediaError as exc:
            return exc

    def late(source: str, where: str, count: int) -> MediaError:
        err = MediaError(f"{where}: reading the sizes of the request's {count} remote images took longer than "
                         f"{policy.request_deadline:g} s.", param=where)
        FAILURES.put(policy, "url:" + source, err, where)
        return err

    def broken(source: str, where: str) -> MediaError:
        return MediaError(f"{where}: the image could not be read.", param=where)

    return Batch([(where, source_key(source)) for where, source in remote], policy, read, late, broken)


def source_key(source: str) -> str:
    """How a remote source is named in a batch's results and in :func:`deferred`'s map (as :func:`image_size`
    reads it)."""
    return source.strip()


class NeedsFetch(Exception):
    """A count inside :func:`deferred` needs the sizes of ``sources`` ((part, URL) pairs) that were not read
    beforehand: whoever set up the block reads them (off the counting threads) and runs the count again."""

    def __init__(self, sources: list[tuple[str, str]]) -> None:
        super().__init__(f"{len(sources)} remote image size(s) to read first")
        self.sources = sources


#: inside :func:`deferred`: the remote sizes read for this count, by :func:`source_key`
_KNOWN: ContextVar[Mapping[str, ImageInfo | MediaError] | None] = ContextVar("tokcount_media_known", default=None)


@contextlib.contextmanager
def deferred(known: Mapping[str, ImageInfo | MediaError]) -> Iterator[None]:
    """Inside the block no remote image is fetched: sizes come from ``known`` (what was read for this request
    beforehand) and any other remote source raises :class:`NeedsFetch`. The server counts this way, so a slow
    image host can hold only the fetch threads, never a thread that counts."""
    token = _KNOWN.set(known)
    try:
        yield
    finally:
        _KNOWN.reset(token)


def _as_part(result: ImageInfo | MediaError, policy: FetchPolicy, where: str) -> ImageInfo | MediaError:
    """A read's result as the answer for part ``where`` (a failure renamed to it; a size checked against this
    caller's limits, which may differ from the reader's)."""
    if isinstance(result, MediaError):
        return _renamed(result, result.param or where, where)
    try:
        _check_limits(result, policy, where)
    except ImageTooLarge as exc:
        return exc
    return result


# ----------------------------------------------------------------------------------------------- headers
def _decode_data_url(url: str, policy: FetchPolicy, where: str) -> bytes:
    head, sep, payload = url.partition(",")
    if not sep:
        raise MediaError(f"{where}: malformed data URL (no comma).", param=where)
    if len(payload) > policy.max_data_url_bytes * 4 // 3 + 4:
        raise MediaError(f"{where}: the data URL is larger than {policy.max_data_url_bytes} bytes.", param=where)
    if head.lower().endswith(";base64"):
        try:
            return b64.decode(payload)  # standard or URL-safe alphabet (google-genai sends URL-safe)
        except ValueError:
            raise MediaError(f"{where}: the data URL is not valid base64.", param=where) from None
    try:
        return unquote_to_bytes(payload)
    except (TypeError, ValueError):  # pragma: no cover - unquote accepts any str
        raise MediaError(f"{where}: the data URL is not percent-encoded text.", param=where) from None


#: what a format plugin may raise on a header that is cut short or garbage: anything (Image.open catches the first
#: seven); a plugin failing on hostile bytes means that format cannot read them, never an error of the server
_HEADER_ERRORS = (Exception,)


def _open_header(fp: IO[bytes], where: str) -> ImageInfo | None:
    """The size the header in ``fp`` declares, or ``None`` when no counted format reads one from it.

    Each counted format's plugin is asked directly (what ``Image.open`` does, minus the dozens of other formats):
    a JPEG, PNG, GIF or BMP header alone allocates nothing, and the size limits are checked by the caller. WebP is
    the exception: Pillow's plugin builds a libwebp decoder over the whole file, which allocates the canvas the
    header declares, so its size is read from the header here (:func:`_webp_size`) and the plugin never runs. A
    plugin that applies Pillow's decompression-bomb check itself (a GIF frame larger than its screen, an MPO
    frame) is refused as too large, like the caller's limits refuse it.
    """
    from PIL import Image

    Image.preinit()  # registers JPEG, PNG, GIF, BMP
    prefix = fp.read(16)
    for fmt in sorted(IMAGE_FORMATS):
        if fmt == "WEBP":
            fp.seek(0)
            size = _webp_size(fp.read(30))
            if size is not None:
                return _info(fmt, size, where)
            continue
        factory, accept = Image.OPEN.get(fmt, (None, None))
        if factory is None or (accept is not None and not _accepts(accept, prefix)):
            continue
        fp.seek(0)
        try:
            img = factory(fp, "")
        except Image.DecompressionBombError:
            raise ImageTooLarge(f"{where}: the image declares more than {2 * (Image.MAX_IMAGE_PIXELS or 0):,} "
                                "pixels (a frame larger than the image); it is not counted.", param=where) from None
        except _HEADER_ERRORS:
            continue
        return _info(img.format, img.size, where)
    return None


def _webp_size(head: bytes) -> tuple[int, int] | None:
    """Width and height from the first 30 bytes of a WebP file (RIFF ``WEBP``, then a ``VP8 ``, ``VP8L`` or
    ``VP8X`` chunk), as libwebp reads them (the canvas of an extended file); None if they are not one."""
    if len(head) < 25 or head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        return None
    chunk = head[12:16]
    if chunk == b"VP8 " and len(head) >= 30 and head[23:26] == b"\x9d\x01\x2a":
        return (int.from_bytes(head[26:28], "little") & 0x3FFF, int.from_bytes(head[28:30], "little") & 0x3FFF)
    if chunk == b"VP8L" and head[20] == 0x2F:
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(head) >= 30:
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    return None


def _accepts(accept: Callable[[bytes], bool | str], prefix: bytes) -> bool | str:
    """A plugin's prefix check, which may itself fail on a prefix shorter than it expects (BMP's DIB check)."""
    try:
        return accept(prefix)
    except _HEADER_ERRORS:
        return False


def _sniffed_format(prefix: bytes) -> bool:
    """Whether ``prefix`` (16 bytes or more) starts like one of the counted formats."""
    from PIL import Image

    Image.preinit()
    for fmt in IMAGE_FORMATS:
        if fmt not in Image.OPEN:
            Image.init()
        _factory, accept = Image.OPEN.get(fmt, (None, None))
        if accept is None or _accepts(accept, prefix[:16]):
            return True
    return False


def _unreadable(prefix: bytes, where: str, what: str) -> MediaError:
    """The error for bytes no counted format reads: names the format when another Pillow plugin claims them."""
    from PIL import Image

    Image.init()
    for fmt in Image.ID:
        _factory, accept = Image.OPEN.get(fmt, (None, None))
        if fmt not in IMAGE_FORMATS and accept is not None and _accepts(accept, prefix[:16]) is True:
            return MediaError(f"{where}: unsupported image format {fmt}; supported: jpeg, png, webp, gif, bmp.",
                              param=where)
    return MediaError(f"{where}: not a readable image: no JPEG, PNG, WebP, GIF or BMP header in {what} (truncated, "
                      "or another format).", param=where)


def _probe_bytes(data: bytes, policy: FetchPolicy, where: str) -> ImageInfo:
    info = _open_header(io.BytesIO(data), where)
    if info is None:
        raise _unreadable(data[:16], where, f"its {len(data)} bytes")
    _check_limits(info, policy, where)
    return info


def _probe_file(path: Path, policy: FetchPolicy, where: str) -> ImageInfo:
    if not path.is_file():
        raise MediaError(f"{where}: no such image file: {path}", param=where)
    try:
        with open(path, "rb") as f:
            info = _open_header(f, where)
            if info is None:
                f.seek(0)
                raise _unreadable(f.read(16), where, path.name)
    except OSError as exc:
        raise MediaError(f"{where}: cannot read the image file ({type(exc).__name__}).", param=where) from None
    _check_limits(info, policy, where)
    return info


def _info(fmt: str | None, size: tuple[int, int], where: str) -> ImageInfo:
    if fmt not in IMAGE_FORMATS:
        raise MediaError(f"{where}: unsupported image format {fmt}; supported: jpeg, png, webp, gif, bmp.",
                         param=where)
    width, height = size
    if width <= 0 or height <= 0:
        raise MediaError(f"{where}: the image has no pixels ({width}x{height}).", param=where)
    return ImageInfo(int(width), int(height), fmt.lower())


def _check_limits(info: ImageInfo, policy: FetchPolicy, where: str) -> None:
    pixels = info.width * info.height
    if pixels > policy.max_image_pixels or max(info.width, info.height) > policy.max_image_side:
        raise ImageTooLarge(f"{where}: the image is {info.width}x{info.height} ({pixels:,} pixels); images of at "
                            f"most {policy.max_image_pixels:,} pixels and {policy.max_image_side:,} pixels a side "
                            "are counted (TOKCOUNT_MEDIA_MAX_PIXELS, TOKCOUNT_MEDIA_MAX_SIDE).", param=where)


# ----------------------------------------------------------------------------------------------- remote fetch
def _allowed(addr: ipaddress.IPv4Address | ipaddress.IPv6Address, policy: FetchPolicy) -> bool:
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
        if _allowed(addr, policy):
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


def _fetch_size(url: str, policy: FetchPolicy, where: str) -> ImageInfo:
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
            if len(buf) >= 16 and not _sniffed_format(bytes(buf[:16])):
                raise _unreadable(bytes(buf[:16]), where, "the response")
        at_end = not chunk or len(buf) >= policy.max_bytes
        if len(buf) >= next_try or at_end:
            info = _open_header(io.BytesIO(bytes(buf)), where)
            if info is not None:  # the header is parsed: stop reading
                _check_limits(info, policy, where)
                return info
            next_try = len(buf) + 1 if len(buf) < 65536 else len(buf) * 3 // 2
        if not chunk:
            if len(buf) < 16:
                raise _unreadable(bytes(buf), where, "the response")
            raise MediaError(f"{where}: the response ended before an image header was found.", param=where)
        if len(buf) >= policy.max_bytes:
            raise MediaError(f"{where}: no image header in the first {policy.max_bytes} bytes.", param=where)
