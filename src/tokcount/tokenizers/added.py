"""Splitting text on a model's added tokens exactly as Hugging Face ``tokenizers`` (``AddedVocabulary``) does.

Matching is leftmost-longest over all added tokens, special or not (``<think>`` counts as one token in Qwen
even though it is not "special"); ``lstrip``/``rstrip`` absorb the adjacent whitespace into the token and
``single_word`` only matches outside words. Python's regex alternation is leftmost-first, so the alternatives are
ordered longest first, which makes it leftmost-longest; without those flags (every vocabulary here) the tokens are
compiled as a trie instead (:func:`_trie`), which is as exact and much faster for large sets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import compress, repeat
from operator import contains


@dataclass(frozen=True, slots=True)
class AddedToken:
    content: str
    id: int
    special: bool = True
    lstrip: bool = False
    rstrip: bool = False
    single_word: bool = False


class AddedTokens:
    """The set of added tokens of one tokenizer, with a compiled splitter."""

    def __init__(self, tokens: Iterable[AddedToken]) -> None:
        self.by_content: dict[str, AddedToken] = {}
        for tok in tokens:
            if tok.content:
                self.by_content[tok.content] = tok
        self.by_id: dict[int, AddedToken] = {t.id: t for t in self.by_content.values()}
        #: no token has lstrip / rstrip / single_word: the splitter is a trie of literals that reads at most
        #: :attr:`longest` characters from where a match starts and nothing before it (what lets a prompt be
        #: split from an added token onwards: :class:`.core.PromptMemory`)
        self.bounded = not any(t.single_word or t.lstrip or t.rstrip for t in self.by_content.values())
        self.longest = max(map(len, self.by_content), default=0)
        self._pattern = self._compile()
        #: the same matches as one capturing group, for ``re.split`` (:meth:`split_counts`)
        self._splitter = re.compile(f"({self._pattern.pattern})") if self._pattern is not None else None
        (self._main_splitter, self._other_splitter, self._other_firsts,
         self._firsts_in_main) = self._by_first_character()

    def _compile(self) -> re.Pattern[str] | None:
        if not self.by_content:
            return None
        if self.bounded:
            return re.compile(_trie(self.by_content))
        alternatives = []
        for tok in sorted(self.by_content.values(), key=lambda t: len(t.content), reverse=True):
            body = re.escape(tok.content)
            if tok.single_word:
                body = rf"(?<!\w){body}(?!\w)"
            if tok.lstrip:
                body = rf"\s*{body}"
            if tok.rstrip:
                body = rf"{body}\s*"
            alternatives.append(body)
        return re.compile("|".join(alternatives))

    def _by_first_character(self) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None, tuple[str, ...],
                                           frozenset[str]]:
        """Splitters for the tokens that begin with the most common first character and for the others (None
        when one of them contains that character), the others' first characters, and those of them that occur
        inside a main token.

        Why: ``re`` scans for a pattern that begins with one literal character at memchr speed, but tries every
        position against a set of first characters (DeepSeek's 817 ``<`` tokens and its ``｜DSML｜``: 0.8 ms
        instead of 0.15 ms for a 300 kB prompt). See :meth:`split_parts` for when the main split is the split."""
        if not self.bounded:
            return None, None, (), frozenset()
        firsts: dict[str, list[str]] = {}
        for content in self.by_content:
            firsts.setdefault(content[0], []).append(content)
        if len(firsts) < 2:
            return None, None, (), frozenset()
        main = max(firsts, key=lambda c: len(firsts[c]))
        others = [t for c, tokens in firsts.items() if c != main for t in tokens]
        second = None if any(main in t for t in others) else re.compile(f"({_trie(others)})")
        other_firsts = tuple(c for c in firsts if c != main)
        inside = frozenset(c for c in other_firsts if any(c in t for t in firsts[main]))
        return re.compile(f"({_trie(firsts[main])})"), second, other_firsts, inside

    def __len__(self) -> int:
        return len(self.by_content)

    def split(self, text: str) -> list[str | AddedToken]:
        """``text`` as ordinary stretches (str) and added tokens, in order; empty stretches are dropped."""
        if self._pattern is None:
            return [text] if text else []
        out: list[str | AddedToken] = []
        pos = 0
        for m in self._pattern.finditer(text):
            if m.start() > pos:
                out.append(text[pos : m.start()])
            out.append(self._token_of(m.group()))
            pos = m.end()
        if pos < len(text):
            out.append(text[pos:])
        return out

    def split_counts(self, text: str) -> tuple[int, list[str]]:
        """How many added tokens ``text`` holds and its ordinary stretches, as :meth:`split` finds them, but with
        the splitting done by ``re.split`` in C (a prompt of 1,000 messages has thousands of stretches; what counts
        them needs neither the token objects nor a Python step per match)."""
        parts = self.split_parts(text)
        return len(parts) // 2, [p for p in parts[::2] if p]

    def split_parts(self, text: str) -> list[str]:
        """``text`` as ``[stretch, token, stretch, ..., token, stretch]`` (stretches may be empty), as
        :meth:`split` finds them with ``re.split``; the lengths locate every token.

        Split by the main tokens first (:meth:`_by_first_character`) where the text's other first characters all
        occur in main tokens (DeepSeek's ``｜``), else in one pass (Gemma's newlines). The main split is the
        split when no stretch of it holds another token's first character: scanning left to right both stand at
        the same positions; at one holding the main character they try the same tokens, and any other position
        lies in a stretch, where no token begins. Otherwise, when no other token contains the main character,
        the stretches that hold one are split by the other tokens: no other token can span a main token's
        first character, so each main token found is one the one-pass scan finds too, and what lies between two
        is split as the one-pass scan splits it."""
        full = self._splitter
        main = self._main_splitter
        if main is None or full is None:
            return full.split(text) if full is not None else [text]
        present = [c for c in self._other_firsts if c in text]
        if not present:
            return main.split(text)
        if not self._firsts_in_main.issuperset(present):
            return full.split(text)
        parts = main.split(text)
        stretches = parts[::2]
        found: set[int] = set()
        for c in present:  # the stretches holding one, found in C (a prompt of 1,000 messages has thousands)
            found.update(compress(range(len(stretches)), map(contains, stretches, repeat(c))))
        if not found:
            return parts
        if self._other_splitter is None:
            return full.split(text)
        second = self._other_splitter.split
        out: list[str] = []
        done = 0
        for k in sorted(found):
            out += parts[done : 2 * k]
            out += second(parts[2 * k])
            done = 2 * k + 1
        out += parts[done:]
        return out

    def _token_of(self, matched: str) -> AddedToken:
        tok = self.by_content.get(matched)
        if tok is None:  # lstrip/rstrip absorbed whitespace around it
            tok = self.by_content[matched.strip()]
        return tok


def _trie(words: Iterable[str]) -> str:
    """One regex matching the longest of ``words`` at a position, as a trie: ``re`` tries alternatives one by one,
    so a flat alternation of Gemma 3's 6,415 added tokens cost every ``<`` in a prompt thousands of attempts (it
    made counting slower than transformers); the trie decides with one character at a time. An optional group
    after a word that is also a prefix of longer ones tries the longer first, so the match is leftmost-longest."""
    root: dict[str, dict] = {}
    for word in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, dict]) -> str:
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return build(root)
