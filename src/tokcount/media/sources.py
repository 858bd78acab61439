"""Width × height of an image from its source, reading only the bytes the format's header needs.

Sources: ``data:`` URLs (base64), ``http(s)://`` URLs, and — only when the caller allows it (the CLI) — local
paths and ``file://`` URLs. Pixels are never decoded: Pillow's lazy ``Image.open`` / incremental ``ImageFile.Parser``
stop at the header.

Remote fetching is safe by default, because a count-tokens service must not become a proxy into the network it
runs in: only http/https; the host name is resolved once and the connection goes to that very address (no second
lookup an attacker could rebind); private, loopback, link-local, multicast, reserved and cloud-metadata
addresses are refused, for the first URL and for every redirect; a byte cap, a per-read timeout and an overall
deadline bound every fetch. ``FetchPolicy.allow_networks`` opens chosen networks (tests allow their loopback server;
``TOKCOUNT_MEDIA_ALLOW_NETWORKS`` does the same from the environment).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import http.client
import io
import ipaddress
import os
import socket
import ssl
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote_to_bytes, urljoin, urlsplit

from ..errors import MediaError

#: formats whose header Pillow parses; anything else is refused with a clear message
IMAGE_FORMATS = {"JPEG", "PNG", "WEBP", "GIF", "BMP"}

#: addresses refused even though ``ipaddress`` calls some of them global (cloud metadata services)
METADATA_ADDRESSES = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"),
                      ipaddress.ip_address("100.100.100.200")}


@dataclass(frozen=True)
class FetchPolicy:
    """Limits for reading media. Defaults suit a public service; the CLI enables ``allow_local``."""

    max_bytes: int = 20 * 1024 * 1024      # bytes read from a URL or file before giving up on finding a header
    max_data_url_bytes: int = 50 * 1024 * 1024
    timeout: float = 5.0                   # per connect / read
    deadline: float = 10.0                 # whole fetch, redirects included
    max_redirects: int = 5
    max_media_parts: int = 256             # images/videos in one request (each may cost a fetch)
    allow_remote: bool = True
    allow_local: bool = False
    allow_networks: tuple[str, ...] = ()   # CIDRs let through the address guard (tests: "127.0.0.1/32")
    user_agent: str = "tokcount-media/0.1 (+image size probe)"
    extra: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


def default_policy() -> FetchPolicy:
    nets = tuple(n.strip() for n in os.environ.get("TOKCOUNT_MEDIA_ALLOW_NETWORKS", "").split(",") if n.strip())
    remote = os.environ.get("TOKCOUNT_MEDIA_FETCH", "1").lower() not in ("0", "false", "no", "off")
    return FetchPolicy(allow_networks=nets, allow_remote=remote)


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


def image_size(source: str, *, policy: FetchPolicy | None = None, where: str = "image") -> ImageInfo:
    """Width and height of the image at ``source``; raises :class:`MediaError` naming ``where`` on any failure."""
    policy = policy or default_policy()
    if not isinstance(source, str) or not source.strip():
        raise MediaError(f"{where}: the image URL is empty.", param=where)
    source = source.strip()
    scheme = source.split(":", 1)[0].lower() if ":" in source else ""
    if scheme == "data":
        data = _decode_data_url(source, policy, where)
        key = "sha256:" + hashlib.sha256(data).hexdigest()
        cached = CACHE.get(key)
        if cached is not None:
            return cached
        info = _probe_bytes(data, where)
        CACHE.put(key, info)
        return info
    if scheme in ("http", "https"):
        if not policy.allow_remote:
            raise MediaError(f"{where}: fetching remote images is disabled (TOKCOUNT_MEDIA_FETCH=0).", param=where)
        cached = CACHE.get("url:" + source)
        if cached is not None:
            return cached
        info = _fetch_size(source, policy, where)
        CACHE.put("url:" + source, info)
        return info
    if policy.allow_local and (scheme == "file" or len(scheme) <= 1):  # "" or a Windows drive letter
        path = Path(unquote_to_bytes(urlsplit(source).path).decode() if scheme == "file" else source).expanduser()
        return _probe_file(path, policy, where)
    raise MediaError(f"{where}: unsupported image source {source[:40]!r}: use a data: URL or an http(s) URL.",
                     param=where)


# ----------------------------------------------------------------------------------------------- inline data
def _decode_data_url(url: str, policy: FetchPolicy, where: str) -> bytes:
    head, sep, payload = url.partition(",")
    if not sep:
        raise MediaError(f"{where}: malformed data URL (no comma).", param=where)
    if len(payload) > policy.max_data_url_bytes * 4 // 3 + 4:
        raise MediaError(f"{where}: the data URL is larger than {policy.max_data_url_bytes} bytes.", param=where)
    if head.lower().endswith(";base64"):
        try:
            return base64.b64decode("".join(payload.split()), validate=True)
        except (binascii.Error, ValueError):
            raise MediaError(f"{where}: the data URL is not valid base64.", param=where) from None
    return unquote_to_bytes(payload)


def _probe_bytes(data: bytes, where: str) -> ImageInfo:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:  # lazy: reads the header only
            return _info(img.format, img.size, where)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise MediaError(f"{where}: not a readable image ({type(exc).__name__}: {exc}).", param=where) from None


def _probe_file(path: Path, policy: FetchPolicy, where: str) -> ImageInfo:
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise MediaError(f"{where}: no such image file: {path}", param=where)
    try:
        with Image.open(path) as img:
            return _info(img.format, img.size, where)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise MediaError(f"{where}: not a readable image ({type(exc).__name__}: {exc}).", param=where) from None


def _info(fmt: str | None, size: tuple[int, int], where: str) -> ImageInfo:
    if fmt not in IMAGE_FORMATS:
        raise MediaError(f"{where}: unsupported image format {fmt}; supported: jpeg, png, webp, gif, bmp.",
                         param=where)
    width, height = size
    if width <= 0 or height <= 0:
        raise MediaError(f"{where}: the image has no pixels ({width}x{height}).", param=where)
    return ImageInfo(int(width), int(height), fmt.lower())


# ----------------------------------------------------------------------------------------------- remote fetch
def _allowed(addr: ipaddress.IPv4Address | ipaddress.IPv6Address, policy: FetchPolicy) -> bool:
    for net in policy.allow_networks:
        if addr in ipaddress.ip_network(net, strict=False):
            return True
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if addr in METADATA_ADDRESSES:
        return False
    return addr.is_global and not (addr.is_multicast or addr.is_reserved or addr.is_unspecified)


_RESOLVER = ThreadPoolExecutor(max_workers=4, thread_name_prefix="tokcount-dns")


def resolve_address(host: str, port: int, policy: FetchPolicy, where: str) -> str:
    """Resolve ``host`` once and return an address the guard allows (the connection goes to exactly that).
    The lookup runs in a small pool so a slow resolver costs at most ``policy.timeout``."""
    future = _RESOLVER.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=policy.timeout)
    except FutureTimeout:
        raise MediaError(f"{where}: resolving {host!r} took longer than {policy.timeout:g} s.", param=where) from None
    except (OSError, UnicodeError) as exc:
        raise MediaError(f"{where}: cannot resolve {host!r} ({exc}).", param=where) from None
    refused = []
    for _family, _type, _proto, _name, sockaddr in infos:
        addr = ipaddress.ip_address(sockaddr[0].split("%")[0])
        if _allowed(addr, policy):
            return str(addr)
        refused.append(str(addr))
    raise MediaError(f"{where}: refusing to fetch from {host!r}: it resolves to a non-public address "
                     f"({', '.join(sorted(set(refused)))}).", param=where)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def _fetch_size(url: str, policy: FetchPolicy, where: str) -> ImageInfo:
    start = time.monotonic()
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
        address = resolve_address(host, port, policy, where)
        remaining = policy.deadline - (time.monotonic() - start)
        if remaining <= 0:
            raise MediaError(f"{where}: fetching the image took longer than {policy.deadline:g} s.", param=where)
        cls = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
        conn = cls(host, port, address, min(policy.timeout, remaining))
        try:
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
            raise MediaError(f"{where}: the image server did not answer within {policy.timeout:g} s.",
                             param=where) from None
        except (OSError, http.client.HTTPException) as exc:
            raise MediaError(f"{where}: fetching the image failed ({type(exc).__name__}: {exc}).",
                             param=where) from None
        finally:
            conn.close()
    raise MediaError(f"{where}: more than {policy.max_redirects} redirects.", param=where)


def _read_header(resp: http.client.HTTPResponse, policy: FetchPolicy, start: float, where: str) -> ImageInfo:
    """Feed the body to Pillow's incremental parser until it knows the size; never read more than needed."""
    from PIL import ImageFile

    parser = ImageFile.Parser()
    total = 0
    while True:
        if time.monotonic() - start > policy.deadline:
            raise MediaError(f"{where}: fetching the image took longer than {policy.deadline:g} s.", param=where)
        chunk = resp.read1(16384)
        if not chunk:
            break
        total += len(chunk)
        try:
            parser.feed(chunk)
        except (OSError, ValueError, SyntaxError) as exc:
            raise MediaError(f"{where}: not a readable image ({exc}).", param=where) from None
        if parser.image is not None:  # the header is parsed: stop reading (the parser is dropped unclosed)
            return _info(parser.image.format, parser.image.size, where)
        if total >= policy.max_bytes:
            raise MediaError(f"{where}: no image header in the first {policy.max_bytes} bytes.", param=where)
    raise MediaError(f"{where}: the response ended before an image header was found.", param=where)
