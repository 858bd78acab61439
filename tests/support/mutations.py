"""Hostile variants of a valid request body, and one rich valid body per count route: the 500-hunting walks of the
server-error and tools tests."""

from __future__ import annotations

import random
from collections.abc import Iterator


def mutations(body: object, rng: random.Random) -> Iterator[object]:
    """Type-swapped variants of every value of ``body`` (depth-first), plus deletions of every key."""
    weird = [None, True, 0, -1, 1.5, "", "x", [], {}, [None], {"type": None}, "\u0000", 2**70]
    if isinstance(body, dict):
        for key in list(body):
            rest = dict(body)
            del rest[key]
            yield rest
            for w in rng.sample(weird, 4):
                yield {**body, key: w}
            for sub in mutations(body[key], rng):
                yield {**body, key: sub}
    elif isinstance(body, list):
        for i, item in enumerate(body):
            for sub in mutations(item, rng):
                yield [*body[:i], sub, *body[i + 1:]]


#: one valid body per route, using every field the route knows
RICH = {
    "/v1/messages/count_tokens": {
        "model": "qwen3.5", "system": [{"type": "text", "text": "s"}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "t"},
                                         {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                                      "data": "AAAA"}}]},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "hm", "signature": "x"},
                                              {"type": "tool_use", "id": "c1", "name": "f", "input": {"a": 1}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "c1", "content": "r"}]}],
        "tools": [{"name": "f", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "tool", "name": "f"}, "thinking": {"type": "enabled", "budget_tokens": 100},
    },
    "/v1/count_tokens": {
        "model": "qwen/qwen3.5", "instructions": "i", "fallbacks": ["minimax/minimax-m2.5"],
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "t"}]},
                  {"type": "reasoning", "summary": [{"type": "summary_text", "text": "r"}]},
                  {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{\"a\": 1}"},
                  {"type": "function_call_output", "call_id": "c", "output": "o"}],
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}], "tool_choice": "auto",
    },
    "/v1/token/count": {"model": "qwen3.5", "messages": [
        {"role": "system", "content": "s"},
        {"role": "user", "content": [{"type": "text", "text": "t"}, {"type": "image_url", "image_url": {"url": "x"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "1", "content": "ok"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]},
    "/tokenize": {"model": "qwen3.5", "messages": [{"role": "user", "content": "t"}], "add_generation_prompt": True,
                  "return_token_strs": True, "tools": [{"type": "function", "function": {"name": "f"}}]},
}
