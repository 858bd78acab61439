"""Pixel size of an image part without decoding it: the caller's width/height, or the header of a data URL.

A small local stand-in for the media package (src/tokcount/media/, built in parallel): closed-model framings only
need (width, height). Swap ``image_size`` for the media package's size reader when it lands; the framings call
nothing else. Remote URLs cannot be fetched here (offline), so their size is unknown unless the caller gives it.
"""

from __future__ import annotations

import base64
import binascii
import struct

from ...request import ImagePart


def image_size(part: ImagePart) -> tuple[int, int] | None:
    """(width, height) of ``part`` or ``None`` when it cannot be known without fetching the image."""
    if part.width and part.height:
        return part.width, part.height
    url = part.url or ""
    if not url.startswith("data:"):
        return None
    _, _, payload = url.partition(",")
    try:
        head = base64.b64decode(payload[:65536] + "=" * (-len(payload[:65536]) % 4), validate=False)
    except (binascii.Error, ValueError):
        return None
    return header_size(head)


def header_size(data: bytes) -> tuple[int, int] | None:
    """Size from the first bytes of a PNG, GIF, WebP or JPEG file."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        w, h = struct.unpack(">II", data[16:24])
        return w, h
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        w, h = struct.unpack("<HH", data[6:10])
        return w, h
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_size(data)
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return w, h
    if chunk == b"VP8 " and len(data) >= 30:
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return w, h
        i += 2 + length
    return None
