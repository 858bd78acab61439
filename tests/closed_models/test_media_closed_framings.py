"""The closed framings count an image at exactly what its rule in media/rules.toml says (the rules themselves:
tests/closed_models/test_media_closed.py), and a model whose renderer cannot take a closed rule or any image says so."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

import tokcount
from tokcount.errors import MediaError
from tokcount.models.catalog import default_catalog


def test_a_chat_template_model_naming_a_closed_rule_is_a_clear_error() -> None:
    import dataclasses

    spec = dataclasses.replace(default_catalog().resolve("qwen3.5"), vision="claude")
    with pytest.raises(MediaError, match="closed provider's token count"):
        tokcount.count(spec, [{"role": "user", "content": "hi"}])


def _png(width: int, height: int) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 30)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


@pytest.mark.parametrize(("model", "size", "detail", "expected"), [
    ("gpt-4o", (1024, 1024), "high", 765),
    ("gpt-4o", (1024, 1024), "low", 85),
    ("gpt-4o-mini", (512, 512), "high", 2833 + 5667),
    ("gpt-5-mini", (1800, 2400), None, 1744),
    ("claude-sonnet-4-5", (1000, 1000), None, 1334),
    ("claude-opus-4-7", (200, 200), None, 54),
    ("gemini-2.5-flash", (1536, 768), None, 258),
    ("gemini-2.0-flash", (1536, 768), None, 1806),
    ("gemini-3-pro", (640, 480), None, 1120),
])
def test_framings_count_images_by_their_rule(model: str, size: tuple[int, int], detail: str | None,
                                             expected: int) -> None:
    image: dict = {"url": _png(*size)}
    if detail:
        image["detail"] = detail
    got = tokcount.count(model, {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": image}]}]})
    assert got.image_tokens == expected
    assert got.modalities["image"] == expected
    assert sum(got.modalities.values()) == got.input_tokens


def test_a_text_only_closed_model_refuses_images() -> None:
    with pytest.raises(MediaError, match="takes no images"):
        tokcount.count("gpt-3.5-turbo", {"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": _png(10, 10)}}]}]})
