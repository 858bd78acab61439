"""Width x height from the bytes of an image header, never decoding pixels (and the size limits checked on it).

Headers are read by the format plugins themselves, not through ``Image.open``: only the five formats counted here are
tried, and Pillow's decompression-bomb check (which raises for a header alone, though nothing is ever decoded) is
replaced by the policy's own documented limits, ``max_image_pixels`` and ``max_image_side``, answered as a clear
413 naming the image part. Sources: bytes (a ``data:`` URL's), a local file, or a response being read
(:mod:`.fetch`).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import unquote_to_bytes

from ..errors import ImageTooLarge, MediaError
from . import b64
from .policy import FetchPolicy

#: formats whose header Pillow parses; anything else is refused with a clear message
IMAGE_FORMATS = {"JPEG", "PNG", "WEBP", "GIF", "BMP"}


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    format: str


def decode_data_url(url: str, policy: FetchPolicy, where: str) -> bytes:
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


def open_header(fp: IO[bytes], where: str) -> ImageInfo | None:
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


def sniffed_format(prefix: bytes) -> bool:
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


def unreadable(prefix: bytes, where: str, what: str) -> MediaError:
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


def probe_bytes(data: bytes, policy: FetchPolicy, where: str) -> ImageInfo:
    info = open_header(io.BytesIO(data), where)
    if info is None:
        raise unreadable(data[:16], where, f"its {len(data)} bytes")
    check_limits(info, policy, where)
    return info


def probe_file(path: Path, policy: FetchPolicy, where: str) -> ImageInfo:
    if not path.is_file():
        raise MediaError(f"{where}: no such image file: {path}", param=where)
    try:
        with open(path, "rb") as f:
            info = open_header(f, where)
            if info is None:
                f.seek(0)
                raise unreadable(f.read(16), where, path.name)
    except OSError as exc:
        raise MediaError(f"{where}: cannot read the image file ({type(exc).__name__}).", param=where) from None
    check_limits(info, policy, where)
    return info


def _info(fmt: str | None, size: tuple[int, int], where: str) -> ImageInfo:
    if fmt not in IMAGE_FORMATS:
        raise MediaError(f"{where}: unsupported image format {fmt}; supported: jpeg, png, webp, gif, bmp.",
                         param=where)
    width, height = size
    if width <= 0 or height <= 0:
        raise MediaError(f"{where}: the image has no pixels ({width}x{height}).", param=where)
    return ImageInfo(int(width), int(height), fmt.lower())


def check_limits(info: ImageInfo, policy: FetchPolicy, where: str) -> None:
    pixels = info.width * info.height
    if pixels > policy.max_image_pixels or max(info.width, info.height) > policy.max_image_side:
        raise ImageTooLarge(f"{where}: the image is {info.width}x{info.height} ({pixels:,} pixels); images of at "
                            f"most {policy.max_image_pixels:,} pixels and {policy.max_image_side:,} pixels a side "
                            "are counted (TOKCOUNT_MEDIA_MAX_PIXELS, TOKCOUNT_MEDIA_MAX_SIDE).", param=where)
