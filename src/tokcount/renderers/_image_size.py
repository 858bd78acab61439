"""Pixel size of an image part for the closed-model framings: the caller's width/height, else the media package's
header reader (data URLs; http(s) URLs behind the same address guard and caps as for open models; local files when
the caller's policy allows them, as the CLI's does).

A closed model's count goes on when the size cannot be read (the framing counts the image at its documented
fallback and says so in a note), where an open model's count is refused, because these are estimates anyway. An
image whose header declares more than the media limits is refused for every model (:class:`ImageTooLarge`, a 413),
and so is a URL at an address the fetch guard refuses (:class:`AddressRefused`, a 400): the provider would refuse
both too, and a fallback size would hide that. ``FramingRenderer.count`` reads every size of the
request up front, concurrently and naming each part (``media.expand.check_media_limit``); the reads here are then
answered from the media caches.
"""

from __future__ import annotations

from ..errors import AddressRefused, ImageTooLarge, MediaError
from ..media.sources import FetchPolicy
from ..media.sources import image_size as read_size
from ..request import ImagePart


def image_size(part: ImagePart, policy: FetchPolicy | None = None) -> tuple[int, int] | None:
    """(width, height) of ``part`` or ``None`` when it cannot be read. ``policy`` is the caller's (the CLI allows
    local files; ``None`` is the server's default), passed on so closed models read what open models read."""
    if part.width and part.height:
        return part.width, part.height
    try:
        info = read_size(part.url or "", policy=policy, where="image")
    except (ImageTooLarge, AddressRefused):
        raise
    except MediaError:
        return None
    return info.width, info.height
