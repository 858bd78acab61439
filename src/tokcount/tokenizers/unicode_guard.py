"""Fast "does this text hold a character of class X" checks, for routing texts between engines.

- :func:`has_unassigned`: engines classify characters with their own Unicode tables (Oniguruma in ``tokenizers``
  knows Unicode 16, quicktok 17, Python 3.11 14), so a letter or mark added in a recent Unicode version can split
  differently in two engines (measured: U+1AE0, a Unicode 17 mark, is a mark to quicktok and unassigned to
  ``tokenizers``). Every such character is unassigned (``Cn``) in any Unicode version older than both engines',
  so a text containing one is sent to the reference engine. tests/test_fast_engines.py checks that the engines
  agree on every assigned code point.
- :func:`has_marks`: combining marks (``Mn``/``Mc``/``Me``), the only characters on which some split patterns
  differ from a grammar a faster engine implements (see :mod:`.fast`).
- :func:`has_long_space_run`: not a Unicode question but a speed one: splintr's SentencePiece path takes time
  quadratic in the length of a whitespace run holding line breaks or tabs (measured on Gemma 3: 160k characters of
  ``"\r\n"`` 8.8 s, of ``" \n"`` 3.4 s, where ``tokenizers`` needs 0.2-0.3 s), so such texts go to ``tokenizers``.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable

#: any character outside the Basic Multilingual Plane (emoji, rare CJK...): checked one by one
_ASTRAL = re.compile("[\\U00010000-\\U0010ffff]")


class CharClassCheck:
    """``check(text)``: does ``text`` hold a character whose general category satisfies the predicate?

    ``re`` compiles a class of BMP characters to a bitmap (O(1) a character), whereas a class with astral ranges is
    searched range by range (measured 100x slower); astral characters are rare, so they are looked up one by one.
    Built on first use (a pass over the 65,536 BMP code points, ~0.1 s)."""

    def __init__(self, predicate: Callable[[str], bool]) -> None:
        self._predicate = predicate
        self._bmp: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def _pattern(self) -> re.Pattern[str]:
        with self._lock:
            if self._bmp is None:
                ranges: list[str] = []
                start = None
                for cp in range(0x10001):
                    hit = cp <= 0xFFFF and not 0xD800 <= cp <= 0xDFFF and self._predicate(unicodedata.category(chr(cp)))
                    if hit and start is None:
                        start = cp
                    elif not hit and start is not None:
                        ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(cp - 1))}")
                        start = None
                self._bmp = re.compile("[" + "".join(ranges) + "]") if ranges else re.compile("(?!)")
            return self._bmp

    def __call__(self, text: str) -> bool:
        if text.isascii():
            return False
        if self._pattern().search(text) is not None:
            return True
        return any(self._predicate(unicodedata.category(c)) for c in set(_ASTRAL.findall(text)))


#: a code point this Python does not know (ASCII never is one)
has_unassigned = CharClassCheck(lambda cat: cat == "Cn")
#: a combining mark
has_marks = CharClassCheck(lambda cat: cat.startswith("M"))


#: whitespace runs of at least ``2 * SPACE_BLOCK - 1`` characters are always found (shorter ones may be); at 1,000
#: characters splintr still costs ~0.4 us a character on its worst runs, below ``tokenizers``' ~4 us
SPACE_BLOCK = 500


def has_long_space_run(text: str) -> bool:
    """Does ``text`` hold a whitespace run that fills one of its aligned ``SPACE_BLOCK``-character blocks? A run of
    ``2 * SPACE_BLOCK - 1`` characters always does. One ``str.isspace`` per block (mostly stopped by the block's
    first character), so ~0.1 ms for a 400k-character text and no work at all below ``SPACE_BLOCK``."""
    for i in range(0, len(text) - SPACE_BLOCK + 1, SPACE_BLOCK):
        if text[i].isspace() and text[i:i + SPACE_BLOCK].isspace():
            return True
    return False
