"""Closed providers' published image token examples reproduce exactly."""

from __future__ import annotations

import pytest

from tokcount.errors import MediaError
from tokcount.media import anthropic_image_tokens, gemini_image_tokens, openai_image_tokens
from tokcount.media.closed import anthropic_resized, openai_patches, openai_tiles


def test_openai_published_tile_examples() -> None:
    # OpenAI vision guide: 1024×1024 high → 768×768 → 4 tiles → 85 + 4×170 = 765
    assert openai_image_tokens("gpt-4o", 1024, 1024, "high") == 765
    # 2048×4096 high → 1024×2048 → 768×1536 → 6 tiles → 85 + 6×170 = 1105
    assert openai_image_tokens("gpt-4o", 2048, 4096, "high") == 1105
    # low detail is the base alone, whatever the size
    assert openai_image_tokens("gpt-4o", 4096, 8192, "low") == 85


def test_openai_auto_is_billed_as_high() -> None:
    assert openai_image_tokens("gpt-4o", 1024, 1024, "auto") == 765
    assert openai_image_tokens("gpt-4o", 1024, 1024, None) == 765


@pytest.mark.parametrize(("model", "base", "tile"), [
    ("gpt-4o", 85, 170), ("gpt-4o-2024-08-06", 85, 170), ("gpt-4.1", 85, 170), ("gpt-4o-mini", 2833, 5667),
    ("openai/gpt-4o-mini-2024-07-18", 2833, 5667), ("o1", 75, 150), ("o3", 75, 150), ("gpt-5", 70, 140),
])
def test_openai_tile_model_constants(model: str, base: int, tile: int) -> None:
    assert openai_image_tokens(model, 512, 512, "low") == base
    assert openai_image_tokens(model, 512, 512, "high") == base + tile      # one tile
    assert openai_image_tokens(model, 1024, 1024, "high") == base + 4 * tile


def test_openai_tiles_never_upscale() -> None:
    assert openai_tiles(100, 100) == 1
    assert openai_tiles(513, 100) == 2


def test_openai_patch_models_published_examples() -> None:
    # 1024×1024 → 32×32 = 1024 patches (under the 1536 cap)
    assert openai_patches(1024, 1024) == 1024
    # 1800×2400 → 4275 raw patches > 1536 → scaled to 1056×1408 → 33×44 = 1452 patches
    assert openai_patches(1800, 2400) == 1452
    assert openai_image_tokens("gpt-4.1-mini", 1024, 1024) == 1659     # ceil(1024 × 1.62)
    assert openai_image_tokens("gpt-4.1-nano", 1024, 1024) == 2520     # ceil(1024 × 2.46 = 2519.04)
    assert openai_image_tokens("o4-mini", 1800, 2400) == 2498          # ceil(1452 × 1.72)
    assert openai_image_tokens("gpt-5-mini", 10, 10) == 2              # one patch × 1.62
    for w, h in [(1, 1), (5000, 20), (20000, 20000), (4096, 4096)]:
        assert openai_patches(w, h) <= 1536


def test_openai_rejects_unknown_models_and_details() -> None:
    with pytest.raises(MediaError):
        openai_image_tokens("text-davinci-003", 10, 10)
    with pytest.raises(MediaError):
        openai_image_tokens("gpt-4o", 10, 10, "ultra")


def test_anthropic_published_examples() -> None:
    assert anthropic_image_tokens("claude-sonnet-4", 1000, 1000) == 1334   # "≈ 1334"
    assert anthropic_image_tokens("claude-sonnet-4", 200, 200) == 54       # "≈ 54"
    assert anthropic_image_tokens("claude-sonnet-4", 1092, 1092) == 1590   # the largest 1:1 kept unresized


def test_anthropic_resizes_large_images() -> None:
    assert anthropic_resized(1568, 700) == (1568, 700)
    w, h = anthropic_resized(4000, 3000)
    assert max(w, h) <= 1568 and w * h <= 1600 * 750
    assert anthropic_image_tokens("claude-opus-4", 4000, 3000) <= 1600
    assert anthropic_image_tokens("claude-opus-4", 8000, 200) == -(-1568 * 39 // 750)


def test_gemini_258_rules() -> None:
    assert gemini_image_tokens("gemini-2.5-flash", 384, 384) == 258
    assert gemini_image_tokens("gemini-2.0-flash", 1, 1) == 258
    assert gemini_image_tokens("gemini-2.5-pro", 385, 100) == 258          # one 768 tile
    assert gemini_image_tokens("gemini-2.5-pro", 1000, 1000) == 4 * 258
    assert gemini_image_tokens("gemini-2.5-pro", 1536, 768) == 2 * 258


def test_gemini3_media_resolution_levels() -> None:
    assert gemini_image_tokens("gemini-3-pro-preview", 4000, 3000) == 1120
    assert gemini_image_tokens("gemini-3-pro-preview", 10, 10, "media_resolution_low") == 280
    assert gemini_image_tokens("gemini-3-pro-preview", 10, 10, "medium") == 560
    with pytest.raises(MediaError):
        gemini_image_tokens("gemini-3-pro-preview", 10, 10, "extreme")


def test_sizes_must_be_positive() -> None:
    for fn in (lambda: openai_image_tokens("gpt-4o", 0, 10), lambda: anthropic_image_tokens("c", 10, -1),
               lambda: gemini_image_tokens("gemini-2.5-pro", 0, 0)):
        with pytest.raises(MediaError):
            fn()
