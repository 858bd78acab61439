"""How many pages a PDF given inline has, read off its bytes (no PDF library): what the closed providers' document
rules multiply (Anthropic counts a page as an image plus its text, Gemini a fixed number a page)."""

from __future__ import annotations

import base64
import binascii
import re

from . import b64


def pdf_pages(source: str | None) -> int | None:
    """Page count of a base64 / data-URL PDF (``/Type /Page`` objects), or ``None`` when unreadable."""
    if not source:
        return None
    payload = source.split(",", 1)[1] if source.startswith("data:") else source
    try:
        data = b64.decode(payload)  # standard or URL-safe
    except ValueError:
        try:  # as before: lenient (stray characters dropped)
            data = base64.b64decode(payload, validate=False)
        except (binascii.Error, ValueError):
            return None
    if not data.startswith(b"%PDF"):
        return None
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", data)) or None
