"""Image sizes are read from headers with the size check before anything is decoded (issue 21, item 8): WebP's
size comes from its first 30 bytes (Pillow's plugin builds a libwebp decoder that allocates the declared canvas),
equal to what Pillow reads for every kind of WebP; a 140-byte WebP declaring a 13000x13000 canvas costs no memory;
a GIF whose frame is larger than its screen (Pillow's own bomb check) is a 413, not an escaped exception."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tokcount.errors import ImageTooLarge
from tokcount.media.sources import FetchPolicy, image_size


def _webp(**save: object) -> bytes:
    frames = save.pop("frames", None)
    img = Image.new(str(save.pop("mode", "RGB")), tuple(save.pop("size", (300, 77))), (200, 10, 10))  # type: ignore[arg-type]
    buf = io.BytesIO()
    if frames:
        img.save(buf, "WEBP", save_all=True, append_images=[img.copy() for _ in range(int(frames))], **save)
    else:
        img.save(buf, "WEBP", **save)
    return buf.getvalue()


def _data_url(data: bytes) -> str:
    return "data:image/webp;base64," + base64.b64encode(data).decode()


@pytest.mark.parametrize("kind", ["lossy", "lossless", "alpha", "animated", "odd"])
def test_webp_sizes_match_pillows_reading(kind: str) -> None:
    data = {"lossy": lambda: _webp(quality=50), "lossless": lambda: _webp(lossless=True),
            "alpha": lambda: _webp(mode="RGBA"), "animated": lambda: _webp(frames=2, lossless=True),
            "odd": lambda: _webp(size=(1, 16383))}[kind]()
    with Image.open(io.BytesIO(data)) as img:
        expected = img.size
    info = image_size(_data_url(data), policy=FetchPolicy(), where="p")
    assert (info.width, info.height, info.format) == (*expected, "webp")


def _canvas_webp(width: int, height: int) -> bytes:
    """A valid animated WebP of two 1x1 frames whose VP8X canvas says ``width`` x ``height``."""
    frames = [Image.new("RGBA", (1, 1), c) for c in ((255, 0, 0, 255), (0, 255, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    data = bytearray(buf.getvalue())
    assert data[12:16] == b"VP8X"
    data[24:27] = (width - 1).to_bytes(3, "little")
    data[27:30] = (height - 1).to_bytes(3, "little")
    return bytes(data)


def test_a_small_webp_declaring_a_huge_canvas_costs_no_memory(tmp_path: Path) -> None:
    """Read in a fresh process: its peak virtual size grows by a few MB (the decoder allocated two 676 MB canvases
    for these 140 bytes: +1.3 GB) and the size is the header's."""
    data = _canvas_webp(13000, 13000)
    assert len(data) < 200
    script = tmp_path / "probe.py"
    script.write_text(
        "from tokcount.media.sources import image_size, FetchPolicy\n"
        "def peak():\n"
        "    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmPeak')) // 1024\n"
        "from PIL import Image; Image.init()  # every plugin imported before the measure\n"
        "before = peak()\n"
        f"info = image_size({_data_url(data)!r}, policy=FetchPolicy(), where='p')\n"
        "print(info.width, info.height, peak() - before)\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=True)
    width, height, grown = map(int, out.stdout.split())
    assert (width, height) == (13000, 13000)
    assert grown < 64, f"peak virtual memory grew by {grown} MB"


def test_a_gif_frame_larger_than_its_screen_is_too_large() -> None:
    gif = (b"GIF89a\x01\x00\x01\x00\x00\x00\x00" + b"," + (0).to_bytes(2, "little") * 2
           + (65535).to_bytes(2, "little") * 2 + b"\x00\x02\x02\x4c\x01\x00;")
    with pytest.raises(ImageTooLarge, match="p: the image declares more than"):
        image_size("data:image/gif;base64," + base64.b64encode(gif).decode(), policy=FetchPolicy(), where="p")
