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
from tokcount.count import as_request, render_prompt
from tokcount.models.catalog import default_catalog
from tokcount.tokenizers.added import AddedToken, AddedTokens
from tokcount.tokenizers.core import PromptMemory, SegmentCache, Tokenizer, common_prefix

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
def glm_on_tiktoken(use_settings: Any) -> Iterator[None]:
    """GLM loaded on tiktoken, the engine that releases the GIL (its default, splintr, does not)."""
    use_settings(engines=("tiktoken",))  # settings are read once: the engines setting, not the environment
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


@pytest.mark.parametrize("model", ["qwen3-8b", "qwen3.5", "deepseek-v3.2", "gemma-3-1b-it", "glm-4.7-flash",
                                   "minimax-m2.5", "gpt-oss-20b", "llama-3.1"])
def test_resent_prompts_are_counted_from_where_they_are_new_and_exactly(model: str) -> None:
    """A long prompt that begins like one counted before is split and counted only from the last added token the
    two share safely (PromptMemory), and its count equals encoding it whole: chained conversations grown turn by
    turn, re-sent in random order, and edited in the middle (a turn replaced, so the prompts part there)."""
    spec = default_catalog().resolve(model)
    loaded = loader.load(spec)
    tok = loaded.tokenizer
    tok.clear_caches()
    rnd = random.Random(11)
    texts = _texts()
    msgs: list[dict] = [{"role": "system", "content": "\n".join(texts * 4)[:20_000]}]
    prompts = []
    for _ in range(14):
        msgs.append({"role": "user", "content": "\n".join(rnd.choice(texts) for _ in range(4))})
        prompts.append(render_prompt(loaded, as_request({"messages": list(msgs)})))
        msgs.append({"role": "assistant", "content": rnd.choice(texts)})
    edited = [dict(m) for m in msgs[:-1]]
    edited[len(edited) // 2]["content"] = rnd.choice(texts) + "<think>" + rnd.choice(texts)
    prompts.append(render_prompt(loaded, as_request({"messages": edited})))
    order = prompts + rnd.sample(prompts, len(prompts))
    assert len(order[0]) >= PromptMemory.MIN_CHARS
    for prompt in order:
        assert tok.count(prompt) == len(tok.encode(prompt))
    assert tok.prompts.reused >= len(prompts)


def test_resume_point_keeps_a_longest_token_clear_of_the_difference() -> None:
    """Prompts that part inside what could be a longer added token: the old prompt has ``ab`` then ``<T>``, the new
    one ``ab<Q>`` (one token) from the same place. Resuming at ``<T>``'s start (inside the common part) would keep
    the old ``ab`` token; the resume point stays ``longest`` characters before the difference instead."""
    base = loader.load(default_catalog().resolve("qwen3.5")).tokenizer
    added = AddedTokens([AddedToken("ab", 1), AddedToken("ab<Q>", 2), AddedToken("<T>", 3)])
    tok = Tokenizer("test", base.encoder, added)
    filler = ("plain words and more words " * 1000)[:12285]  # the prompts part at 12,288, where common_prefix
    old = filler + "ab<T>" + "tail <T> text " * 800        # stops exactly (4,096 + 8,192)
    new = filler + "ab<Q>" + "other <T> tail " * 800
    assert common_prefix(old, new) == 12288
    assert tok.count(old) == len(tok.encode(old))
    assert tok.count(new) == len(tok.encode(new))  # with no margin: one token short (``ab`` kept, not ``ab<Q>``)
    assert tok.prompts.reused == 0
    assert tok.count(new + "more") == len(tok.encode(new + "more")) and tok.prompts.reused == 1
