"""Base64 as clients send it: the standard alphabet or the URL-safe one, padded or not, line-wrapped or not.

google-genai sends ``inlineData.data`` URL-safe (``-``/``_``, as protobuf JSON allows), browsers and most SDKs the
standard alphabet; a data URL or an Anthropic ``base64`` source may carry either. One decoder for every base64
field, so no route accepts a form another rejects. Mixing the two alphabets in one value is accepted too: each
character means the same 6 bits in both, so nothing is ambiguous.
"""

from __future__ import annotations

import base64
import binascii

_URLSAFE = str.maketrans("-_", "+/")


def decode(text: str) -> bytes:
    """The bytes ``text`` encodes; :class:`ValueError` when it is not base64 in either alphabet."""
    s = "".join(text.split()).translate(_URLSAFE).rstrip("=")
    if len(s) % 4 == 1:  # no padding makes a single leftover character valid
        raise ValueError("base64 length is invalid")
    try:
        return base64.b64decode(s + "=" * (-len(s) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError(str(exc)) from None


def valid_prefix(text: str, chars: int = 64) -> bool:
    """True when the first ``chars`` characters decode (a cheap check that a large value is base64 at all)."""
    head = "".join(text[: chars * 2].split())[:chars]
    head = head[: len(head) - len(head) % 4] if len(text) > chars else head
    try:
        decode(head)
    except ValueError:
        return False
    return True
