"""Incremental counting is exact: counts taken with a warm segment cache (a conversation re-sent turn after turn,
in random order, across models sharing a vocabulary) equal counts taken with no cache at all, including templates
whose rendering of earlier turns depends on later ones (reasoning shown only after the last user turn)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from support.shared import load_corpus
from tokcount import count, loader
from tokcount.models.catalog import default_catalog
from tokcount.tokenizers.core import SegmentCache

MODELS = ["qwen3-8b", "qwen3.5", "deepseek-v3.2", "glm-4.7-flash", "minimax-m2.5", "gpt-oss-20b", "llama-3.1"]
TOOLS = [{"type": "function", "function": {"name": "lookup", "description": "Look a thing up.", "parameters": {
    "type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}}]


def _texts() -> list[str]:
    out = []
    for case in load_corpus():
        for m in case["messages"]:
            if isinstance(m.get("content"), str) and m["content"]:
                out.append(m["content"])
    return out


def _conversation(rnd: random.Random, texts: list[str], turns: int, tools: bool) -> list[dict]:
    msgs: list[dict] = [{"role": "system", "content": rnd.choice(texts)}]
    for t in range(turns):
        msgs.append({"role": "user", "content": "\n".join(rnd.choice(texts) for _ in range(rnd.randint(1, 3)))})
        reply: dict = {"role": "assistant", "content": rnd.choice(texts)}
        if rnd.random() < 0.6:
            reply["reasoning_content"] = rnd.choice(texts)
        msgs.append(reply)
        if tools and rnd.random() < 0.4:
            msgs.append({"role": "assistant", "content": "", "tool_calls": [{"id": f"call{t}", "type": "function",
                         "function": {"name": "lookup", "arguments": {"q": rnd.choice(texts)[:40]}}}]})
            msgs.append({"role": "tool", "tool_call_id": f"call{t}", "name": "lookup", "content": rnd.choice(texts)})
    return msgs


def _uncached(spec: object, request: dict) -> int:
    tok = loader.load(spec).tokenizer
    saved = tok.cache
    tok.cache = SegmentCache(max_chars=0)  # keeps nothing: every segment is encoded
    try:
        return count(spec, request, breakdown=False).input_tokens
    finally:
        tok.cache = saved


@pytest.mark.parametrize("model", MODELS)
def test_warm_counts_equal_uncached_counts(model: str) -> None:
    spec = default_catalog().resolve(model)
    tok = loader.load(spec).tokenizer
    rnd = random.Random(hash(model) & 0xFFFF)
    texts = _texts()
    hits_before = tok.cache.hits
    for _ in range(4):
        msgs = _conversation(rnd, texts, rnd.randint(2, 7), tools=model not in ("llama-3.1",))
        prefixes = [msgs[: i + 1] for i in range(1, len(msgs)) if msgs[i]["role"] in ("user", "tool")]
        order = prefixes + rnd.sample(prefixes, len(prefixes))  # growing, then re-sent in random order
        for messages in order:
            request = {"messages": messages, "tools": TOOLS}
            warm = count(spec, request, breakdown=False).input_tokens
            assert warm == _uncached(spec, request)
    assert tok.cache.hits > hits_before  # the warm path really was exercised


def test_cache_is_bounded_by_characters_and_entries() -> None:
    cache = SegmentCache(max_entries=3, max_chars=100)
    for i in range(5):
        cache.put(f"{i}" * 20, i)
    assert len(cache) == 3 and cache.chars == 60
    assert cache.get("0" * 20) is None and cache.get("4" * 20) == 4
    cache.put("x" * 30, 1)  # over a quarter of the bound: not kept
    assert cache.get("x" * 30) is None
    small = SegmentCache(max_entries=100, max_chars=100)
    for i in range(10):
        small.put(f"{i}" * 20, i)
    assert small.chars <= 100 and small.get("9" * 20) == 9


@pytest.fixture
def glm_on_tiktoken(use_config: Any) -> Iterator[None]:
    """GLM loaded on tiktoken, the engine that releases the GIL (its default, splintr, does not)."""
    use_config(engines=("tiktoken",))  # settings are read once: the engines setting, not the environment
    loader.clear()
    yield
    loader.clear()


def test_two_thread_counting_equals_one_thread(monkeypatch: pytest.MonkeyPatch, glm_on_tiktoken: None) -> None:
    """A large cold prompt split over two threads counts exactly as one thread does (GLM on tiktoken, which
    releases the GIL)."""
    from tokcount.tokenizers import core

    spec = default_catalog().resolve("glm-4.7-flash")
    tok = loader.load(spec).tokenizer
    assert tok.encoder.releases_gil
    texts = _texts()
    request = {"messages": [{"role": "user" if i % 2 == 0 else "assistant", "content": "\n".join(texts[i::40])}
                            for i in range(40)], "tools": TOOLS}
    tok.clear_caches()
    monkeypatch.setattr(core, "PARALLEL_CHARS", 10**12)
    serial = count(spec, request, breakdown=False).input_tokens
    tok.clear_caches()
    monkeypatch.setattr(core, "PARALLEL_CHARS", 1000)
    calls = []
    real = core._helper

    def spy() -> object:
        calls.append(1)
        return real()

    monkeypatch.setattr(core, "_helper", spy)
    assert count(spec, request, breakdown=False).input_tokens == serial
    assert calls
