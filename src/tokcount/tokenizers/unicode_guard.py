"""Fast "does this text hold a character of class X" checks, for routing texts between engines.

- :func:`has_unassigned`: engines classify characters with their own Unicode tables (Oniguruma in ``tokenizers``
  knows Unicode 16, quicktok 17, Python 3.11 14), so a letter or mark added in a recent Unicode version can split
  differently in two engines (measured: U+1AE0, a Unicode 17 mark, is a mark to quicktok and unassigned to
  ``tokenizers``). Every such character is unassigned (``Cn``) in any Unicode version older than both engines',
  so a text containing one is sent to the reference engine. tests/open_models/test_fast_engines.py checks that the
  engines agree on every assigned code point.
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


class CharClassCheck:
    """``check(text)``: does ``text`` hold a character whose general category satisfies the predicate?

    ``re`` compiles a class of BMP characters to a bitmap (O(1) a character), whereas a class with astral ranges is
    searched range by range (measured 100x slower); astral characters are rare, so they are looked up one by one.
    Built on first use (a pass over the 65,536 BMP code points, ~0.1 s)."""

    def __init__(self, predicate: Callable[[str], bool]) -> None:
        self._predicate = predicate
        self._bmp: re.Pattern[str] | None = None
        self._lock = threading.Lock()
        self._seen: dict[str, bool] = {}

    def bmp_class(self) -> str:
        """The regex character-class body (no brackets) of the BMP characters that satisfy the predicate."""
        ranges: list[str] = []
        start = None
        for cp in range(0x10001):
            hit = cp <= 0xFFFF and not 0xD800 <= cp <= 0xDFFF and self._predicate(unicodedata.category(chr(cp)))
            if hit and start is None:
                start = cp
            elif not hit and start is not None:
                ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(cp - 1))}")
                start = None
        return "".join(ranges)

    def _pattern(self) -> re.Pattern[str]:
        found = self._bmp
        if found is not None:  # no lock once built: this runs for every non-ASCII segment counted
            return found
        with self._lock:
            if self._bmp is None:
                cls = self.bmp_class()
                self._bmp = re.compile(f"[{cls}]") if cls else re.compile("(?!)")
            return self._bmp

    def holds(self, char: str) -> bool:
        """The predicate on one character, remembered: the same emoji and accents recur in text after text."""
        found = self._seen.get(char)
        if found is None:
            found = self._predicate(unicodedata.category(char))
            if len(self._seen) < _SEEN_MAX:
                self._seen[char] = found
        return found

    def in_bmp(self, text: str, pos: int = 0) -> bool:
        return self._pattern().search(text, pos) is not None

    def __call__(self, text: str) -> bool:
        if text.isascii():
            return False
        return _scan(text).get(self, False) if self in _GUARDS else self.search(text)

    def search(self, text: str, pos: int = 0) -> bool:
        """The check on its own, from ``pos``: a scan for BMP characters, then each distinct astral one."""
        return self.in_bmp(text, pos) or any(self.holds(c) for c in set(_ASTRAL.findall(text, pos)))


#: characters whose class each check remembers, at most (a body listing every code point must not grow it)
_SEEN_MAX = 50_000
_ASTRAL_RANGE = "\U00010000-\U0010ffff"
#: any character outside the Basic Multilingual Plane (emoji, rare CJK...): classified one by one
_ASTRAL = re.compile(f"[{_ASTRAL_RANGE}]")


class _Union:
    """One regex matching a character any of the registered checks may hold (plus every astral character), so one
    scan of a text answers every check, and the second check asked about the same text (a fast engine asks two in
    a row) costs nothing. The class is the BMP bitmap plus a single astral range: cheap per character."""

    def __init__(self, checks: tuple[CharClassCheck, ...]) -> None:
        self.checks = checks
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()
        self._last = threading.local()

    def pattern(self) -> re.Pattern[str]:
        found = self._pattern
        if found is not None:
            return found
        with self._lock:
            if self._pattern is None:
                self._pattern = re.compile("[" + "".join(c.bmp_class() for c in self.checks) + _ASTRAL_RANGE + "]")
            return self._pattern

    def scan(self, text: str) -> dict[CharClassCheck, bool]:
        last = self._last
        if getattr(last, "text", None) is text:
            return last.result
        # one scan collects every character any check may hold (emoji are astral, so most texts have a few);
        # each distinct one is then classified once (remembered per check)
        found = set(self.pattern().findall(text))
        result = {c: any(map(c.holds, found)) for c in self.checks} if found else dict.fromkeys(self.checks, False)
        last.text, last.result = text, result
        return result


#: a code point this Python does not know (ASCII never is one)
has_unassigned = CharClassCheck(lambda cat: cat == "Cn")
#: a combining mark
has_marks = CharClassCheck(lambda cat: cat.startswith("M"))

_GUARDS = (has_unassigned, has_marks)
_UNION = _Union(_GUARDS)
_scan = _UNION.scan

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
