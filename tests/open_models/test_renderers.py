"""The renderer registry: every catalog entry's renderer is registered and answers the protocol; decode is the
inverse of count_text for each renderer with a public vocabulary (real files)."""

from __future__ import annotations

import dataclasses

import pytest

import tokcount
from tokcount import renderers
from tokcount.availability import availability
from tokcount.count import resolve
from tokcount.models.catalog import default_catalog

TEXT = "Hello world, ünïcödé and <s> [INST] <|endoftext|> as plain text."


def test_every_catalog_renderer_is_registered() -> None:
    used = {spec.renderer for spec in default_catalog().models.values()}
    assert used <= set(renderers.names())
    for name in used:
        r = renderers.get(name)
        assert r.name == name
        assert callable(r.count) and callable(r.count_text) and callable(r.decode)


def test_unknown_renderer_is_a_400_naming_the_model() -> None:
    spec = dataclasses.replace(resolve("qwen3.5"), renderer="no-such-renderer")
    with pytest.raises(tokcount.InvalidRequest) as info:
        tokcount.count(spec, [{"role": "user", "content": "hi"}])
    assert info.value.param == "model" and "no-such-renderer" in info.value.message
    assert "jinja" in info.value.message  # the known names are listed


@pytest.mark.parametrize("model", ["qwen3.5", "gpt-4o", "gpt-4", "mistral-nemo", "gemini-2.5-flash"])
def test_decode_inverts_count_text(model: str) -> None:
    c = tokcount.count_text(model, TEXT, return_tokens=True)
    assert c.tokens and len(c.tokens) == c.input_tokens
    assert tokcount.decode(model, c.tokens) == TEXT


def test_mistral_chat_ids_decode_to_the_prompt_with_control_tokens() -> None:
    c = tokcount.count("mistral-nemo", [{"role": "user", "content": "Hello world"}], return_tokens=True)
    assert tokcount.decode("mistral-nemo", c.tokens) == "<s>[INST]Hello world[/INST]"


@pytest.mark.parametrize(("model", "bad"), [("gpt-4o", 10**9), ("gpt-4o", 199998), ("mistral-nemo", 131072),
                                            ("qwen3.5", 10**9)])
def test_decode_names_an_id_outside_the_vocabulary(model: str, bad: int) -> None:
    with pytest.raises(tokcount.InvalidRequest) as info:
        tokcount.decode(model, [1, bad])
    assert info.value.param == "tokens" and str(bad) in info.value.message


def test_claude_ids_do_not_decode() -> None:
    assert renderers.get("anthropic").capabilities.decodes is False
    with pytest.raises(tokcount.InvalidRequest) as info:
        tokcount.decode("claude-sonnet-4-5", [1, 2])
    assert "not public" in info.value.message


def test_capabilities_drive_availability_and_empty_requests() -> None:
    assert availability(resolve("gpt-4o")) and availability(resolve("claude-sonnet-4-5"))  # bundled vocabulary
    assert not renderers.get("openai-chat").capabilities.needs_files
    assert renderers.get("jinja").capabilities.needs_template
    with pytest.raises(tokcount.InvalidRequest, match="must not be empty"):
        tokcount.count("gpt-4o", [])
    with pytest.raises(tokcount.InvalidRequest, match="must not be empty"):
        tokcount.count("mistral-nemo", [])
    with pytest.raises(tokcount.InvalidRequest, match="must not be empty"):  # as Gemini's countTokens answers
        tokcount.count("gemini-2.5-flash", [])


def test_documents_are_inlined_only_for_renderers_that_take_none() -> None:
    doc = {"role": "user", "content": [{"type": "text", "text": "Summarise:"},
                                       {"type": "file", "file": {"file_data": "data:text/plain;base64,"
                                                                 "SGVsbG8gd29ybGQ="}}]}
    assert renderers.get("jinja").capabilities.takes_documents is False
    open_count = tokcount.count("qwen3.5", [doc])
    assert open_count.exact is False and any("document" in n for n in open_count.notes)
