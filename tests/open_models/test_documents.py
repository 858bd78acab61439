"""Documents sent to open-weight models: known text is counted in place as a text part, unknown content (a PDF, a
URL) is left out, and either way the count says it is not exact."""

from __future__ import annotations

import pytest

from tokcount import count
from tokcount.dialects import anthropic
from tokcount.settings import Settings

TEXT = "Quarterly report. Revenue grew 12% while costs fell; the routing change did most of it."


def _request(blocks: list[dict]) -> object:
    body = {"model": "qwen3.5", "max_tokens": 10, "messages": [{"role": "user", "content": blocks}]}
    return anthropic.parse(body, Settings()).request


@pytest.mark.parametrize("model", ["qwen3.5", "deepseek-v3.2", "mistral-nemo"])
def test_text_document_counts_as_its_text(model: str) -> None:
    doc = count(model, _request([{"type": "document", "source": {"type": "text", "media_type": "text/plain",
                                                                 "data": TEXT}},
                                 {"type": "text", "text": "Summarise it."}]))
    plain = count(model, _request([{"type": "text", "text": TEXT}, {"type": "text", "text": "Summarise it."}]))
    assert doc.input_tokens == plain.input_tokens
    assert plain.exact is True
    assert doc.exact is False and any("document" in n for n in doc.notes)


def test_content_block_document_counts_its_blocks() -> None:
    doc = count("qwen3.5", _request([{"type": "document", "source": {"type": "content", "content": [
        {"type": "text", "text": "part one"}, {"type": "text", "text": "part two"}]}}]))
    plain = count("qwen3.5", _request([{"type": "text", "text": "part one\npart two"}]))
    assert doc.input_tokens == plain.input_tokens and doc.exact is False


def test_pdf_document_is_left_out_and_labelled() -> None:
    pdf = count("qwen3.5", _request([{"type": "document", "source": {"type": "base64", "media_type":
                                      "application/pdf", "data": "JVBERi0xLjQK"}},
                                     {"type": "text", "text": "Summarise it."}]))
    plain = count("qwen3.5", _request([{"type": "text", "text": "Summarise it."}]))
    assert pdf.input_tokens == plain.input_tokens
    assert pdf.exact is False and any("not in the count" in n for n in pdf.notes)
