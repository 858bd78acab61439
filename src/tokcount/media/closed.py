"""Image token rules that closed providers publish (OpenAI, Anthropic, Gemini), as plain functions.

These are the providers' documented formulas; the closed-model framings call them. Where sources disagree the
provider's own documentation wins and docs/media.md records the other figure.
"""

from __future__ import annotations

import math

from ..errors import MediaError

# OpenAI tile models: (base tokens, tokens per 512 px tile) — "Calculating costs", OpenAI vision guide.
OPENAI_TILE_MODELS: dict[str, tuple[int, int]] = {
    "gpt-4o-mini": (2833, 5667),
    "gpt-4o": (85, 170),
    "gpt-4.1": (85, 170),
    "gpt-4.5": (85, 170),
    "chatgpt-4o": (85, 170),
    "o1-pro": (75, 150),
    "o1": (75, 150),
    "o3-pro": (75, 150),
    "o3": (75, 150),
    "gpt-5-chat": (70, 140),
    "gpt-5": (70, 140),
    "computer-use-preview": (65, 129),
}
# OpenAI patch models: 32 px patches, capped at 1536, times a per-model multiplier.
OPENAI_PATCH_MODELS: dict[str, float] = {
    "gpt-5-mini": 1.62,
    "gpt-5-nano": 2.46,
    "gpt-4.1-mini": 1.62,
    "gpt-4.1-nano": 2.46,
    "o4-mini": 1.72,
}
OPENAI_PATCH_CAP = 1536


def _openai_family(model: str) -> tuple[str, str]:
    name = model.strip().lower().split("/")[-1]
    # longest prefix first so "gpt-4o-mini" is not taken for "gpt-4o", "gpt-5-mini" not for "gpt-5"
    for table, kind in ((OPENAI_PATCH_MODELS, "patch"), (OPENAI_TILE_MODELS, "tile")):
        for key in sorted(table, key=len, reverse=True):
            if name == key or name.startswith(key + "-"):
                if kind == "tile" and any(name == p or name.startswith(p + "-") for p in OPENAI_PATCH_MODELS):
                    continue
                return kind, key
    raise MediaError(f"no OpenAI image rule for model {model!r}")


def openai_tiles(width: int, height: int) -> int:
    """512 px tiles after fitting into 2048×2048 and scaling the short side down to 768 (never up)."""
    w, h = float(width), float(height)
    if max(w, h) > 2048:
        s = 2048 / max(w, h)
        w, h = w * s, h * s
    if min(w, h) > 768:
        s = 768 / min(w, h)
        w, h = w * s, h * s
    return math.ceil(w / 512) * math.ceil(h / 512)


def openai_patches(width: int, height: int, cap: int = OPENAI_PATCH_CAP) -> int:
    """32 px patches; above ``cap`` the image is scaled down so the whole patches fit the cap."""
    raw = math.ceil(width / 32) * math.ceil(height / 32)
    if raw <= cap:
        return raw
    r = math.sqrt(32 * 32 * cap / (width * height))
    r *= min(math.floor(width * r / 32) / (width * r / 32), math.floor(height * r / 32) / (height * r / 32))
    return min(cap, math.ceil(width * r / 32) * math.ceil(height * r / 32))


def openai_image_tokens(model: str, width: int, height: int, detail: str | None = "auto") -> int:
    """Input tokens OpenAI bills for one image. ``detail``: low | high | auto (auto is billed as high)."""
    _check(width, height)
    detail = (detail or "auto").lower()
    if detail not in ("low", "high", "auto"):
        raise MediaError(f"detail must be low, high or auto, got {detail!r}", param="detail")
    kind, key = _openai_family(model)
    if kind == "tile":
        base, per_tile = OPENAI_TILE_MODELS[key]
        return base if detail == "low" else base + per_tile * openai_tiles(width, height)
    mult = OPENAI_PATCH_MODELS[key]
    return math.ceil(openai_patches(width, height) * mult)


# Anthropic: tokens = width × height / 750 after scaling to at most 1568 px on the long edge and ~1.15 MP.
ANTHROPIC_MAX_EDGE = 1568
ANTHROPIC_MAX_TOKENS = 1600  # 1600 × 750 = 1.2 MP: 1092×1092 (1.19 MP, 1590 tokens) is the docs' largest square


def anthropic_resized(width: int, height: int) -> tuple[int, int]:
    scale = min(1.0, ANTHROPIC_MAX_EDGE / max(width, height),
                math.sqrt(ANTHROPIC_MAX_TOKENS * 750 / (width * height)))
    return max(1, int(width * scale)), max(1, int(height * scale))


def anthropic_image_tokens(model: str, width: int, height: int) -> int:
    """Anthropic's documented estimate: ceil(w × h / 750) after the resize above (1000×1000 → 1334)."""
    _check(width, height)
    w, h = anthropic_resized(width, height)
    return math.ceil(w * h / 750)


# Gemini: 258 per image with both sides ≤ 384 px, else 258 per 768×768 tile (Gemini 2.x docs);
# Gemini 3 `media_resolution` sets a fixed budget per image.
GEMINI_TILE_TOKENS = 258
GEMINI3_RESOLUTION_TOKENS = {"low": 280, "medium": 560, "high": 1120}


def gemini_image_tokens(model: str, width: int, height: int, media_resolution: str | None = None) -> int:
    _check(width, height)
    name = model.strip().lower().split("/")[-1]
    if name.startswith("gemini-3"):
        level = (media_resolution or "high").lower().removeprefix("media_resolution_")
        if level == "unspecified":
            level = "high"
        if level not in GEMINI3_RESOLUTION_TOKENS:
            raise MediaError(f"unknown media_resolution {media_resolution!r}", param="media_resolution")
        return GEMINI3_RESOLUTION_TOKENS[level]
    if width <= 384 and height <= 384:
        return GEMINI_TILE_TOKENS
    return math.ceil(width / 768) * math.ceil(height / 768) * GEMINI_TILE_TOKENS


def _check(width: int, height: int) -> None:
    if not (isinstance(width, int) and isinstance(height, int)) or width <= 0 or height <= 0:
        raise MediaError(f"image size must be positive integers, got {width}x{height}")
