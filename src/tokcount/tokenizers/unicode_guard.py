"""Which texts a faster engine may not see: those with code points this Python's Unicode database leaves unassigned.

Engines classify characters with their own Unicode tables (Oniguruma in ``tokenizers`` knows Unicode 16, quicktok
17, Python 3.11 14), so a letter or mark added in a recent Unicode version can split differently in two engines
(measured: U+1AE0, a Unicode 17 mark, is a mark to quicktok and unassigned to ``tokenizers``). Every such character
is unassigned (``Cn``) in any Unicode version older than both engines', so a text containing one is sent to the
reference engine instead. tests/test_fast_engines.py checks that the engines agree on every assigned code point.
"""

from __future__ import annotations

import re
import threading
import unicodedata

_lock = threading.Lock()
_bmp: re.Pattern[str] | None = None
#: any character outside the Basic Multilingual Plane (emoji, rare CJK...): checked one by one
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def _unassigned_bmp() -> re.Pattern[str]:
    """A class of the BMP's unassigned code points; ``re`` compiles a BMP-only class to a bitmap (O(1) a char),
    whereas a class with astral ranges is searched range by range (measured 100x slower)."""
    global _bmp
    with _lock:
        if _bmp is None:
            ranges: list[str] = []
            start = None
            for cp in range(0x10001):
                cn = cp <= 0xFFFF and not 0xD800 <= cp <= 0xDFFF and unicodedata.category(chr(cp)) == "Cn"
                if cn and start is None:
                    start = cp
                elif not cn and start is not None:
                    ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(cp - 1))}")
                    start = None
            _bmp = re.compile("[" + "".join(ranges) + "]")
        return _bmp


def has_unassigned(text: str) -> bool:
    """True when ``text`` holds a code point this Python does not know (ASCII never does)."""
    if text.isascii():
        return False
    if _unassigned_bmp().search(text) is not None:
        return True
    return any(unicodedata.category(c) == "Cn" for c in set(_ASTRAL.findall(text)))
