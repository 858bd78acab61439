"""Reading a byte-level BPE ``tokenizer.json`` as data a faster engine can load: byte ranks and split pattern.

Most open-weight vocabularies (Qwen, Llama 3, GLM, MiniMax, DeepSeek, gpt-oss) are GPT-2-style byte-level BPE:
a normalizer (none or NFC), one or more ``Split`` regexes, then ``ByteLevel`` spelling bytes as printable
characters. tiktoken-format engines need the same vocabulary as ``bytes → rank`` and the split regex; this
module extracts both and says plainly why a file does not fit (the caller then keeps ``tokenizers``).
Whether an engine then encodes exactly like ``tokenizers`` is never assumed: :mod:`.fast` verifies it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any


@cache
def byte_decoder() -> dict[str, int]:
    """GPT-2's printable-character → byte table that byte-level vocabularies are spelled in."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs, strict=True)}


@dataclass(frozen=True)
class ByteLevelBPE:
    """The parts of a byte-level BPE tokenizer.json a tiktoken-style engine needs."""

    ranks: dict[bytes, int]
    #: the split regexes applied in sequence (one for most families; DeepSeek chains three)
    patterns: tuple[str, ...]
    #: ``"NFC"`` or ``None``; applied by the caller with the file's own normalizer
    normalizer: str | None


class NotByteLevel(ValueError):
    """The file is not a plain byte-level BPE a tiktoken-style engine can reproduce (the message says why)."""


def parse(data: dict[str, Any]) -> ByteLevelBPE:
    """Extract ranks and split patterns from a parsed tokenizer.json, or raise :class:`NotByteLevel`."""
    model = data.get("model") or {}
    if model.get("type") != "BPE":
        raise NotByteLevel(f"model type {model.get('type')!r} is not BPE")
    if model.get("byte_fallback") or model.get("dropout") or model.get("continuing_subword_prefix") \
            or model.get("end_of_word_suffix"):
        raise NotByteLevel("BPE options (byte_fallback, dropout, subword affixes) a byte-level engine lacks")
    normalizer = _normalizer(data.get("normalizer"))
    patterns = _patterns(data.get("pre_tokenizer"))
    table = byte_decoder()
    added = {t.get("content") for t in data.get("added_tokens", [])}
    ranks: dict[bytes, int] = {}
    for spelled, rank in model.get("vocab", {}).items():
        try:
            ranks[bytes(table[ch] for ch in spelled)] = int(rank)
        except KeyError:
            if spelled in added:  # an added token also listed in the vocabulary: split off before any engine runs
                continue
            raise NotByteLevel(f"vocabulary entry {spelled!r} is not byte-level spelled") from None
    if len(set(ranks.values())) != len(ranks):
        raise NotByteLevel("two vocabulary entries share one id")
    unreachable = _unreachable(model, added)
    if unreachable and model.get("ignore_merges"):
        # tokenizers emits these only as a whole pre-token; a rank-based engine could also merge into them
        raise NotByteLevel(f"{len(unreachable)} tokens no merge produces, with ignore_merges")
    # without ignore_merges, tokenizers never emits them (Qwen3.5 has 201): a rank-based engine must not either
    for spelled in unreachable:
        rank = ranks.pop(bytes(table[ch] for ch in spelled))
        ranks[placeholder(rank)] = rank
    if any(bytes([b]) not in ranks for b in range(256)):
        raise NotByteLevel("not every single byte is in the vocabulary")
    return ByteLevelBPE(ranks=ranks, patterns=patterns, normalizer=normalizer)


def placeholder(rank: int) -> bytes:
    """Bytes standing in for a token an engine must never produce: 0xFF never occurs in UTF-8 text, so no input
    can form them, while the rank keeps its place (engines want ranks ``0..n-1``)."""
    return b"\xff\xfe" + str(rank).encode()


def _unreachable(model: dict[str, Any], added: set[str]) -> list[str]:
    """Multi-character vocabulary entries that no merge produces (and that are not added tokens)."""
    produced = set()
    for merge in model.get("merges", []):
        left, right = merge.split(" ", 1) if isinstance(merge, str) else merge
        produced.add(left + right)
    return [t for t in model.get("vocab", {}) if len(t) > 1 and t not in produced and t not in added]


def _normalizer(node: Any) -> str | None:
    if node is None or (node.get("type") == "Sequence" and not node.get("normalizers")):
        return None
    if node.get("type") == "NFC":
        return "NFC"
    raise NotByteLevel(f"normalizer {node.get('type')!r} is not supported by byte-level engines")


def _patterns(node: Any) -> tuple[str, ...]:
    nodes = (node or {}).get("pretokenizers", [node]) if (node or {}).get("type") == "Sequence" else [node or {}]
    patterns: list[str] = []
    byte_level = False
    for nd in nodes:
        kind = nd.get("type")
        if kind == "Split":
            regex = (nd.get("pattern") or {}).get("Regex")
            behaviour = nd.get("behavior")
            # "Removed" with invert keeps exactly the matches, like "Isolated" keeps matches and gaps; both are what
            # a tiktoken-style findall produces when the pattern matches every character
            if regex is None or (behaviour, bool(nd.get("invert"))) not in (("Isolated", False), ("Removed", True)):
                raise NotByteLevel(f"Split {behaviour!r} (invert={nd.get('invert')}) is not a findall split")
            patterns.append(regex)
        elif kind == "ByteLevel":
            if nd.get("add_prefix_space") or nd.get("use_regex"):
                raise NotByteLevel("ByteLevel with add_prefix_space or its own regex")
            byte_level = True
        else:
            raise NotByteLevel(f"pre-tokenizer {kind!r} is not supported by byte-level engines")
    if not byte_level or not patterns:
        raise NotByteLevel("no ByteLevel pre-tokenizer with a Split regex")
    return tuple(patterns)
