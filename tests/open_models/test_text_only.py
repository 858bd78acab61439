"""A text-only request skips the media and document passes (one pass over the parts' types says so), and a
request holding an image or a document, at any depth, still gets them."""

from __future__ import annotations

import importlib

import pytest

import tokcount
from tokcount.count import as_request
from tokcount.renderers.jinja import renderer as jinja_renderer
from tokcount.request import text_only

count_module = importlib.import_module("tokcount.count")  # the package exports the function under this name

PLAIN = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"},
                      {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function",
                       "function": {"name": "f", "arguments": "{}"}}], "reasoning_content": "think"},
                      {"role": "tool", "tool_call_id": "c1", "content": "ok"}]}


def _refuse(*_: object, **__: object) -> bool:
    raise AssertionError("a text-only request went through a media or document pass")


def test_text_only_request_skips_media_and_document_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = tokcount.count("qwen3.5", PLAIN, breakdown=False).input_tokens
    monkeypatch.setattr(count_module, "has_documents", _refuse)
    monkeypatch.setattr(count_module, "has_media", _refuse)
    monkeypatch.setattr(jinja_renderer, "has_media", _refuse)
    assert tokcount.count("qwen3.5", PLAIN, breakdown=False).input_tokens == expected


@pytest.mark.parametrize("part", [
    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    {"type": "file", "file": {"file_data": "text", "filename": "a.txt"}},
])
def test_media_or_documents_anywhere_are_not_text_only(part: dict) -> None:
    top = as_request({"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}, part]}]})
    nested = as_request({"messages": [{"role": "tool", "tool_call_id": "c", "content": [part]}]})
    assert not text_only(top)
    assert not text_only(nested)
    assert text_only(as_request(PLAIN))
