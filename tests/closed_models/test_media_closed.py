"""Closed providers' image rules, one test per rule of media/rules.toml, on the providers' published examples; and
the one-table property: every catalog entry that takes images names a rule there
(tests/closed_models/test_media_closed_framings.py checks that the closed framings count an image at exactly what its
rule says, on the real tokenizers)."""

from __future__ import annotations

import pytest

from tokcount.errors import MediaError
from tokcount.media import image_tokens, rule_for
from tokcount.media.rules import openai_patches, openai_tiles
from tokcount.models.catalog import ModelSpec, default_catalog

#: needs none of ../shared (tests/conftest.py gives it an empty asset directory and cache)
pytestmark = pytest.mark.no_shared

TILE_GEOMETRY = {"tile_size": 512, "max_side": 2048, "short_side": 768}
PATCH_GEOMETRY = {"patch_size": 32, "max_patches": 1536}


def test_openai_gpt_4o_tiles_published_examples() -> None:
    # OpenAI vision guide: 1024×1024 high → 768×768 → 4 tiles → 85 + 4×170 = 765
    assert image_tokens("openai-gpt-4o", 1024, 1024, {"detail": "high"}) == 765
    # 2048×4096 high → 1024×2048 → 768×1536 → 6 tiles → 85 + 6×170 = 1105
    assert image_tokens("openai-gpt-4o", 2048, 4096, {"detail": "high"}) == 1105
    # low detail is the base alone, whatever the size; auto (and no detail) is billed as high
    assert image_tokens("openai-gpt-4o", 4096, 8192, {"detail": "low"}) == 85
    assert image_tokens("openai-gpt-4o", 1024, 1024, {"detail": "auto"}) == 765
    assert image_tokens("openai-gpt-4o", 1024, 1024, {"detail": None}) == 765
    assert image_tokens("openai-gpt-4o", 200, 200) == 85 + 170  # one tile: never scaled up
    with pytest.raises(MediaError, match="detail"):
        image_tokens("openai-gpt-4o", 10, 10, {"detail": "ultra"})


@pytest.mark.parametrize(("rule", "base", "tile"), [
    ("openai-gpt-4o-mini", 2833, 5667), ("openai-o-series", 75, 150), ("openai-gpt-5", 70, 140),
])
def test_openai_other_tile_rules(rule: str, base: int, tile: int) -> None:
    assert image_tokens(rule, 512, 512, {"detail": "low"}) == base
    assert image_tokens(rule, 512, 512, {"detail": "high"}) == base + tile      # one tile
    assert image_tokens(rule, 1024, 1024, {"detail": "high"}) == base + 4 * tile


def test_openai_tile_geometry() -> None:
    assert openai_tiles(100, 100, TILE_GEOMETRY) == 1
    assert openai_tiles(513, 100, TILE_GEOMETRY) == 2
    assert openai_tiles(2048, 4096, TILE_GEOMETRY) == 6


def test_openai_patch_geometry() -> None:
    # 1024×1024 → 32×32 = 1024 patches (under the 1536 cap)
    assert openai_patches(1024, 1024, PATCH_GEOMETRY) == 1024
    # 1800×2400 → 4275 raw patches > 1536 → scaled to 1056×1408 → 33×44 = 1452 patches (OpenAI's example)
    assert openai_patches(1800, 2400, PATCH_GEOMETRY) == 1452
    for w, h in [(1, 1), (5000, 20), (20000, 20000), (4096, 4096)]:
        assert openai_patches(w, h, PATCH_GEOMETRY) <= 1536


@pytest.mark.parametrize(("rule", "size", "expected"), [
    # ceil(patches × multiplier) as doubles give it, + 1 per image (crewAI's 640×480 recordings: 488, 517, 361, 451)
    ("openai-patch-1.62", (1024, 1024), 1660),   # 1024 × 1.62 = 1658.88
    ("openai-patch-1.62", (1800, 2400), 2354),   # 1452 × 1.62 = 2352.24
    ("openai-patch-1.62", (10, 10), 3),          # one patch × 1.62
    ("openai-patch-2.46", (1024, 1024), 2521),   # 1024 × 2.46 = 2519.04
    ("openai-patch-1.72", (1800, 2400), 2499),   # 1452 × 1.72 = 2497.44
    ("openai-patch-1.62", (640, 480), 488),      # 300 × 1.62 = 486.00000000000006
    ("openai-patch-1.72", (640, 480), 517),
    ("openai-patch-1.2", (640, 480), 361),
    ("openai-patch-1.5", (640, 480), 451),
])
def test_openai_patch_rules(rule: str, size: tuple[int, int], expected: int) -> None:
    assert image_tokens(rule, *size) == expected
    assert image_tokens(rule, *size, {"detail": "low"}) == expected  # detail does not apply to patch pricing


def test_claude_published_examples() -> None:
    assert image_tokens("claude", 1000, 1000) == 1334   # "≈ 1334"
    assert image_tokens("claude", 200, 200) == 54       # "≈ 54"
    assert image_tokens("claude", 1092, 1092) == 1590   # the largest 1:1 kept unresized
    assert image_tokens("claude", 4000, 4000) == image_tokens("claude", 1098, 1098)  # resized to ~1.15 MP
    assert image_tokens("claude", 4000, 3000) <= 1608
    assert image_tokens("claude", 8000, 200) == 82      # long edge to 1568: 1568 × 39.2 / 750 = 81.95


def test_gemini_2_tiles() -> None:
    assert image_tokens("gemini-2", 384, 384) == 258
    assert image_tokens("gemini-2", 1, 1) == 258
    assert image_tokens("gemini-2", 200, 100) == 258
    # a tiled image costs one overview tile more (measured on gemini-2.0-flash: 640x480 -> 4 + 1 tiles)
    assert image_tokens("gemini-2", 640, 480) == 5 * 258          # tiles of 320: 2 × 2, + 1
    assert image_tokens("gemini-2", 385, 100) == 13 * 258         # tiles of floor(100 / 1.5) = 66: 6 × 2, + 1
    assert image_tokens("gemini-2", 960, 540) == 7 * 258          # tiles of 360: 3 × 2, + 1
    assert image_tokens("gemini-2", 1024, 1024) == 5 * 258        # tiles of 682: 2 × 2, + 1
    # the case: media/closed.py said 516 (768 px tiles), the framing 1548; tiles of 512: 3 × 2, + 1
    assert image_tokens("gemini-2", 1536, 768) == 7 * 258


def test_gemini_25_media_resolution() -> None:
    assert image_tokens("gemini-2.5", 640, 480) == 256     # default: medium, whatever the size
    assert image_tokens("gemini-2.5", 8, 8) == 256
    assert image_tokens("gemini-2.5", 8, 8, {"media_resolution": "MEDIA_RESOLUTION_LOW"}) == 64


def test_gemini_3_media_resolution() -> None:
    assert image_tokens("gemini-3", 4000, 3000) == 1120    # default: high, whatever the size
    assert image_tokens("gemini-3", 10, 10) == 1120
    assert image_tokens("gemini-3", 10, 10, {"media_resolution": "MEDIA_RESOLUTION_LOW"}) == 280
    assert image_tokens("gemini-3", 10, 10, {"media_resolution": "medium"}) == 560
    assert image_tokens("gemini-3", 10, 10, {"media_resolution": "media_resolution_unspecified"}) == 1120
    with pytest.raises(MediaError, match="media_resolution"):
        image_tokens("gemini-3", 10, 10, {"media_resolution": "extreme"})


@pytest.mark.parametrize("rule", ["openai-gpt-4o", "openai-patch-1.62", "claude", "gemini-2", "gemini-3"])
@pytest.mark.parametrize("size", [(0, 10), (10, -1), (0, 0)])
def test_sizes_must_be_positive(rule: str, size: tuple[int, int]) -> None:
    with pytest.raises(MediaError, match="positive"):
        image_tokens(rule, *size)


def test_closed_rules_have_no_prompt_text() -> None:
    rule = rule_for("claude")
    assert rule is not None and rule.counts_only
    with pytest.raises(MediaError, match="no prompt text"):
        rule.expand(100, 100)
    qwen = rule_for("qwen3-vl")
    assert qwen is not None and not qwen.counts_only


CLOSED = {"openai-chat", "anthropic", "gemini"}
TEXT_ONLY = {"gpt-4", "gpt-3.5-turbo"}  # the API refuses images for these


@pytest.mark.parametrize("spec", list(default_catalog().models.values()), ids=lambda s: s.id)
def test_every_catalog_entry_names_one_rule(spec: ModelSpec) -> None:
    """One field, ``vision``, names the rule; closed renderers' rules are token counts, open ones expansions."""
    assert "image" not in spec.extra and "image_rule" not in spec.extra  # the old per-provider fields are gone
    if not spec.vision:
        assert spec.renderer not in CLOSED or spec.id in TEXT_ONLY
        return
    if spec.renderer == "mistral":  # mistral-common's own image encoder counts (vision = "pixtral" says so)
        assert spec.vision == "pixtral" and rule_for(spec.vision) is None
        return
    rule = rule_for(spec.vision)
    assert rule is not None, f"{spec.id} names unknown rule {spec.vision!r}"
    if spec.renderer in CLOSED:
        assert rule.counts_only
    elif spec.renderer == "jinja":
        assert not rule.counts_only
