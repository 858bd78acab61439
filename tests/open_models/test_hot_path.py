"""The counting hot path is the same count with less work: batched counting equals counting one text at a time,
the batched breakdown equals attributing string by string, the one-scan Unicode guards equal their definitions,
and the C split on added tokens equals the token-by-token split."""

from __future__ import annotations

import json
import random
import unicodedata

import pytest

from support.shared import SHARED
from tokcount import loader
from tokcount.count import as_request, render_prompt
from tokcount.models.catalog import default_catalog
from tokcount.renderers._attribute import attribute, pieces
from tokcount.tokenizers.added import AddedToken
from tokcount.tokenizers.unicode_guard import CharClassCheck, has_marks, has_unassigned

CORPUS = SHARED / "corpus" / "chat.jsonl"


def _corpus() -> list[str]:
    out = []
    with open(CORPUS, encoding="utf-8") as f:
        for line in f:
            out.extend(m["content"] for m in json.loads(line)["messages"] if isinstance(m.get("content"), str))
    return out


def _random_texts(n: int) -> list[str]:
    rng = random.Random(13)
    ranges = [(0x20, 0x7F), (0x80, 0x3000), (0x300, 0x370), (0xFE00, 0xFE10), (0x10000, 0x30000),
              (0x1F300, 0x1FB00), (0xE0000, 0xE0200), (0x1AB0, 0x1B00)]
    texts = []
    for _ in range(n):
        chars = []
        for _ in range(rng.randrange(1, 24)):
            lo, hi = rng.choice(ranges)
            cp = rng.randrange(lo, hi)
            if not 0xD800 <= cp <= 0xDFFF:
                chars.append(chr(cp))
        texts.append("".join(chars))
    return texts


def test_guards_equal_their_definitions() -> None:
    def defined(text: str, pred: object) -> bool:
        return any(pred(unicodedata.category(c)) for c in text)  # type: ignore[operator]

    texts = _corpus() + _random_texts(4000) + ["a\u0301", "x\U0001F600", "\u0378", "z\u1AE0", "\U000E0100"]
    for i, t in enumerate(texts):
        pair = [(has_unassigned, lambda c: c == "Cn"), (has_marks, lambda c: c.startswith("M"))]
        if i % 2:
            pair.reverse()  # the second check of a text is answered from the first one's scan: both orders
        for check, pred in pair:
            assert check(t) == defined(t, pred), (check, t)
    unregistered = CharClassCheck(lambda c: c == "So")  # a check outside the shared scan still works alone
    assert unregistered("snow \u2603") and not unregistered("plain")


def test_split_counts_equals_split() -> None:
    for model in ("qwen3.5", "gemma-3-1b-it", "deepseek-v3.2"):
        added = loader.load(default_catalog().resolve(model)).tokenizer.added
        specials = list(added.by_content)[:40]
        rng = random.Random(7)
        for t in _corpus()[:200]:
            text = "".join(rng.choice([t[:50], rng.choice(specials), " ", t[50:90]]) for _ in range(12))
            parts = added.split(text)
            n, stretches = added.split_counts(text)
            assert n == sum(isinstance(p, AddedToken) for p in parts)
            assert stretches == [p for p in parts if not isinstance(p, AddedToken)]


def test_count_many_equals_count_one_by_one() -> None:
    tok = loader.load(default_catalog().resolve("qwen3.5")).tokenizer
    texts = ["", "hi", "<|im_start|>user\nx<|im_end|>", "café " * 40, "東京 🌧️ " * 30, "a" * 70, "a" * 70,
             *_corpus()[:50]]
    tok.clear_caches()
    batch = tok.count_many(texts)
    tok.clear_caches()
    assert batch == [tok.count(t) for t in texts]
    assert batch == [len(tok.encode(t)) for t in texts]


def test_breakdown_batched_equals_string_by_string() -> None:
    """Attribution with one batch call and a forward search equals counting each string present in the prompt."""
    spec = default_catalog().resolve("qwen3.5")
    tok = loader.load(spec).tokenizer
    req = as_request({"messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "same text"},
        {"role": "assistant", "content": "same text", "reasoning_content": "dropped by the template later"},
        {"role": "user", "content": "same text"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "Be brief."},
    ]})
    prompt = render_prompt(loader.load(spec), req)
    assert "dropped by the template later" not in prompt
    total = tok.count(prompt)
    batched = attribute(req, total, 0, tok.count, prompt, tok.count_many)
    assert batched == attribute(req, total, 0, tok.count, prompt)
    # what attribution was before it was batched: each string counted on its own if the prompt holds it
    per_message = [sum(tok.count(s) for s in pieces(m) if s in prompt) for m in req.messages]
    assert batched["system"] == per_message[0]
    assert batched["messages"] == per_message[1:]


def test_short_stretches_are_remembered_within_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stretches under MIN_CACHED_CHARS are kept in a dict emptied at SHORT_ENTRIES: counts never change, the dict
    never passes its bound, and a re-sent prompt's short stretches are found there (Gemma 3 has thousands: its
    newlines are added tokens)."""
    from tokcount.tokenizers import core

    tok = loader.load(default_catalog().resolve("gemma-3-1b-it")).tokenizer
    tok.clear_caches()
    monkeypatch.setattr(core, "SHORT_ENTRIES", 50)
    texts = [f"line {i}\n\nand {i * 7}\n" * 3 for i in range(200)]
    first = tok.count_many(texts)
    assert 0 < len(tok.short_counts) <= 50
    assert first == [len(tok.encode(t)) for t in texts]
    prompt = "\n".join(texts[:10])
    tok.count(prompt)
    held = dict(tok.short_counts)
    assert tok.count(prompt) == len(tok.encode(prompt)) and tok.short_counts == held  # all found: nothing added
