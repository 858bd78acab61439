"""The per-message breakdown on templates that trim content (issue 26): a message ending in a newline or a space
is printed trimmed (Qwen3.5's ``content|trim``, GLM's ``.strip()`` of assistant turns), so looked up whole it was
not found, attributed 0 and its tokens given to the template; the total was right."""

from __future__ import annotations

import tokcount

PADDED = [{"role": "user", "content": "Tell me a story about a dragon who learned to paint with fire, please.\n"},
          {"role": "assistant", "content": "Once upon a time, a dragon named Ember found a brush in the ashes. "},
          {"role": "user", "content": "  Make it shorter."}]
TRIMMED = [{**m, "content": m["content"].strip()} for m in PADDED]


def test_trimmed_content_is_attributed_to_its_message() -> None:
    """Qwen3.5 trims every message: the padded and the trimmed conversation are one prompt, one breakdown."""
    padded, trimmed = tokcount.count("qwen3.5", PADDED), tokcount.count("qwen3.5", TRIMMED)
    assert padded.input_tokens == trimmed.input_tokens  # the template printed the same prompt
    assert padded.breakdown == trimmed.breakdown, (padded.breakdown, trimmed.breakdown)
    assert all(n > 0 for n in padded.breakdown["messages"])


def test_a_template_that_trims_some_turns() -> None:
    """GLM-5 strips assistant turns only: the assistant's share is its trimmed text's, the users' keep theirs."""
    padded, trimmed = tokcount.count("glm-5", PADDED), tokcount.count("glm-5", TRIMMED)
    b = padded.breakdown
    assert all(n > 0 for n in b["messages"]) and b["messages"][1] == trimmed.breakdown["messages"][1], b
    assert b["system"] + b["tools"] + sum(b["messages"]) + b["template"] == padded.input_tokens


def test_content_a_template_prints_whole_keeps_its_whitespace() -> None:
    """Qwen3-8B prints content as given: the message's share includes its trailing newline's token."""
    padded, trimmed = tokcount.count("qwen3-8b", PADDED), tokcount.count("qwen3-8b", TRIMMED)
    assert padded.input_tokens > trimmed.input_tokens
    assert sum(padded.breakdown["messages"]) > sum(trimmed.breakdown["messages"])
    assert padded.breakdown["template"] == trimmed.breakdown["template"]
