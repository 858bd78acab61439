"""Image token rules of every model, open and closed: small functions of (width, height, options).

The parameters are data (``rules.toml``, keyed by the catalog's ``vision`` field, which every entry that takes
images sets); the functions here are the arithmetic. Two sorts of kind:

* **Open models** (an :class:`Expansion`): the text the model's processor puts in place of each image, written
  from the facts of the real processors (transformers' ``smart_resize`` of Qwen2-VL / GLM-4V, MoonViT's NaViT
  resize, vLLM's Step-3 patcher, Llama 4's tile canvas) and checked against them in the tests. The expansion lists
  the replacement as (text, repeat) segments so the engine can tokenize the surrounding text exactly while a
  16 000-token pad run costs one lookup.
* **Closed providers** (a token count): the formula the provider documents (OpenAI's 512 px tiles and 32 px
  patches, Anthropic's pixels / 750, Gemini's 258-token tiles and Gemini 3's per-image budget). There is no prompt
  text to tokenize, so :meth:`Rule.tokens` is the whole answer; the closed-model framings call it.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .. import rules_data, settings_in_force
from ..errors import MediaError

_SPECIAL = re.compile(r"<[^<>\s]+>|\]<\][^\[\]]*\[>\[")


@dataclass(frozen=True)
class Expansion:
    """What replaces one image's ``target`` token: ``segments`` in order, each (text, how many times)."""

    segments: tuple[tuple[str, int], ...]
    #: size the processor resized the image to (height, width), where it has one
    resized: tuple[int, int] | None = None

    def text_once(self) -> str:
        """The replacement with every repeated run written once (tokenize this, then add the repeats)."""
        return "".join(text for text, _ in self.segments)

    def repeats(self) -> int:
        """Tokens the runs add beyond writing each once (each repeated text is a single special token)."""
        return sum(n - 1 for _, n in self.segments if n > 1)

    def text(self) -> str:
        return "".join(text * n for text, n in self.segments)


@dataclass(frozen=True)
class Rule:
    key: str
    kind: str
    params: dict[str, Any]

    @property
    def target(self) -> str:
        """The token a chat template writes per image; a closed provider's rule has none (a clear 400 when a
        chat-template model's catalog entry names one)."""
        if self.counts_only:
            raise MediaError(f"media rule {self.key!r} is a closed provider's token count, not an expansion: a "
                             "chat-template model's vision must name an open model's rule", param="model")
        return self.params["target"]

    @property
    def placeholder(self) -> str:
        return self.params.get("placeholder", self.target)

    @property
    def wrapper(self) -> tuple[str, ...]:
        return tuple(self.params.get("wrapper", ()))

    @property
    def exact(self) -> bool:
        return bool(self.params.get("exact", True))

    @property
    def counts_only(self) -> bool:
        """A closed provider's rule: a token count per image and no prompt text (nothing to expand)."""
        return self.kind in _COUNT_KINDS

    def expand(self, width: int, height: int, options: dict[str, Any] | None = None) -> Expansion:
        if self.counts_only:
            raise MediaError(f"media rule {self.key!r} ({self.kind}) is a closed provider's token count: it has "
                             "no prompt text to expand, so a chat-template model cannot use it")
        try:
            fn = _KINDS[self.kind]
        except KeyError:
            raise MediaError(f"unknown media rule kind {self.kind!r} for {self.key!r}") from None
        _check_size(width, height)
        return fn(width, height, {**self.params, **(options or {})})

    def tokens(self, width: int, height: int, options: dict[str, Any] | None = None) -> int:
        """Tokens one image costs. A closed provider's rule gives its documented figure (``options`` such as
        OpenAI's ``detail``); an open model's is the expansion's, wrapper included, counting each special token
        and each text run as one (the engine counts with the real tokenizer; this is the model-independent
        figure)."""
        count_fn = _COUNT_KINDS.get(self.kind)
        if count_fn is not None:
            _check_size(width, height)
            return count_fn(width, height, {**self.params, **(options or {})})
        exp = self.expand(width, height, options)
        return nominal_tokens(exp.text_once()) + exp.repeats() + sum(nominal_tokens(w) for w in self.wrapper)


def _check_size(width: int, height: int) -> None:
    if not (isinstance(width, int) and isinstance(height, int)) or width <= 0 or height <= 0:
        raise MediaError(f"image size must be positive integers, got {width}x{height}")


def nominal_tokens(text: str) -> int:
    """Special tokens count one each; each run of other text counts one (e.g. ``"\\n\\n"``, ``"image"``)."""
    n = 0
    pos = 0
    for m in _SPECIAL.finditer(text):
        if text[pos:m.start()]:
            n += 1
        n += 1
        pos = m.end()
    return n + (1 if text[pos:] else 0)


# ------------------------------------------------------------------------------------------------ Qwen / GLM
def smart_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """Qwen2-VL's resize: both sides multiples of ``factor``, area within [min_pixels, max_pixels], aspect kept."""
    if max(height, width) / min(height, width) > 200:
        raise MediaError(f"image aspect ratio must be below 200 for this model, got {width}x{height}")
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def glm4v_smart_resize(num_frames: int, height: int, width: int, temporal_factor: int, factor: int,
                       min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """GLM-4V's variant: tiny images are first scaled up to ``factor``, and the area limits count the frames."""
    if height < factor or width < factor:
        scale = max(factor / height, factor / width)
        height, width = int(height * scale), int(width * scale)
    if max(height, width) / min(height, width) > 200:
        raise MediaError(f"image aspect ratio must be below 200 for this model, got {width}x{height}")
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    t_bar = round(num_frames / temporal_factor) * temporal_factor
    if t_bar * h_bar * w_bar > max_pixels:
        beta = math.sqrt(num_frames * height * width / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif t_bar * h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (num_frames * height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def _pad_run(p: dict[str, Any], n: int) -> tuple[tuple[str, int], ...]:
    segs: list[tuple[str, int]] = []
    if p.get("prefix"):
        segs.append((p["prefix"], 1))
    segs.append((p["pad"], n))
    if p.get("suffix"):
        segs.append((p["suffix"], 1))
    return tuple(segs)


def _qwen(width: int, height: int, p: dict[str, Any]) -> Expansion:
    patch, merge = int(p["patch_size"]), int(p["merge_size"])
    h, w = smart_resize(height, width, patch * merge, int(p["min_pixels"]), int(p["max_pixels"]))
    n = (h // patch) * (w // patch) // (merge * merge)
    return Expansion(_pad_run(p, n), (h, w))


def _glm4v(width: int, height: int, p: dict[str, Any]) -> Expansion:
    patch, merge, temporal = int(p["patch_size"]), int(p["merge_size"]), int(p["temporal_patch_size"])
    h, w = glm4v_smart_resize(temporal, height, width, temporal, patch * merge, int(p["min_pixels"]),
                              int(p["max_pixels"]))
    n = (h // patch) * (w // patch) // (merge * merge)
    return Expansion(_pad_run(p, n), (h, w))


# ------------------------------------------------------------------------------------------------ Kimi MoonViT
def moonvit_resize(width: int, height: int, patch_size: int, merge: int, in_patch_limit: int,
                   side_limit: int) -> tuple[int, int, int, int]:
    """MoonViT's NaViT resize: scale down (never up) to at most ``in_patch_limit`` patches and ``side_limit``
    patches per side, then pad each side up to a multiple of patch × merge. Returns (new_w, new_h, tokens_w,
    tokens_h) where tokens are merged patches."""
    s_total = math.sqrt(in_patch_limit / (max(1.0, width // patch_size) * max(1.0, height // patch_size)))
    scale = min(1.0, s_total, side_limit * patch_size / width, side_limit * patch_size / height)
    new_w = min(max(1, int(width * scale)), side_limit * patch_size)
    new_h = min(max(1, int(height * scale)), side_limit * patch_size)
    factor = merge * patch_size
    return new_w, new_h, math.ceil(new_w / factor), math.ceil(new_h / factor)


def _moonvit(width: int, height: int, p: dict[str, Any]) -> Expansion:
    new_w, new_h, tw, th = moonvit_resize(width, height, int(p["patch_size"]), int(p["merge_kernel_size"]),
                                          int(p["in_patch_limit"]), int(p["patch_limit_on_one_side"]))
    return Expansion(_pad_run(p, tw * th), (new_h, new_w))


# ------------------------------------------------------------------------------------------------ Step-3
def step3_crops(width: int, height: int, p: dict[str, Any]) -> tuple[int, int]:
    """(number of crops, crops per row) of Step-3's patcher: no crops for small images, else a grid of
    ``crop_size`` windows over the image scaled so each side is a whole number of windows (a remainder above
    0.2 of a window adds one)."""
    crop, global_size, max_size = int(p["crop_size"]), int(p["global_size"]), int(p["max_image_size"])
    w, h = width, height
    if min(w, h) < 32 and (w / h > 4 or w / h < 1 / 4):  # thin images are padded to a square first
        w = h = max(w, h)
    if max(w, h) > max_size:
        scale = max_size / max(w, h)
        w, h = int(w * scale), int(h * scale)
    long, short = max(w, h), min(w, h)
    if long <= global_size:
        window = short if long / short > 1.5 else 0
    else:
        window = min(short, crop) if long / short > 4 else crop
    if window == 0:
        return 0, 0

    def fit(side: int) -> int:
        ratio = side / window
        if ratio < 1:
            return side
        whole = side // window
        return window * (whole + 1 if ratio - whole > 0.2 else whole)

    w, h = fit(w), fit(h)
    x_num = 1 if w <= window else math.ceil((w - window) / window + 1)
    y_num = 1 if h <= window else math.ceil((h - window) / window + 1)
    return x_num * y_num, x_num


def _step3(width: int, height: int, p: dict[str, Any]) -> Expansion:
    n_crops, per_row = step3_crops(width, height, p)
    pad = p["pad"]
    segs: list[tuple[str, int]] = []
    for i in range(n_crops):
        segs += [("<patch_start>", 1), (pad, int(p["crop_tokens"])), ("<patch_end>", 1)]
        if (i + 1) % per_row == 0 and i != n_crops - 1:
            segs.append(("<patch_newline>", 1))
    segs += [("<im_start>", 1), (pad, int(p["global_tokens"])), ("<im_end>", 1)]
    return Expansion(tuple(segs))


# ------------------------------------------------------------------------------------------------ Gemma 3
def _fixed(width: int, height: int, p: dict[str, Any]) -> Expansion:
    return Expansion(_pad_run(p, int(p["tokens"])))


# ------------------------------------------------------------------------------------------------ Llama 4
@cache
def llama4_canvases(max_tiles: int, tile: int) -> tuple[tuple[int, int], ...]:
    """Every (height, width) canvas of whole tiles with at most ``max_tiles`` tiles."""
    return tuple((r * tile, c * tile) for r in range(1, max_tiles + 1) for c in range(1, max_tiles // r + 1))


def llama4_best_fit(width: int, height: int, max_tiles: int, tile: int) -> tuple[int, int]:
    """Llama 4's canvas choice: the smallest upscale that fits, else the largest downscale; ties → least area."""
    best_scale: float | None = None
    best: tuple[int, int] | None = None
    choices = []
    for ch, cw in llama4_canvases(max_tiles, tile):
        choices.append((min(ch / height, cw / width), ch, cw))
    ups = [s for s, _, _ in choices if s >= 1]
    best_scale = min(ups) if ups else max(s for s, _, _ in choices)
    for s, ch, cw in choices:
        if s == best_scale and (best is None or ch * cw < best[0] * best[1]):
            best = (ch, cw)
    assert best is not None
    return best


def _llama4(width: int, height: int, p: dict[str, Any]) -> Expansion:
    tile, per_tile = int(p["tile_size"]), int(p["tile_tokens"])
    ch, cw = llama4_best_fit(width, height, int(p["max_tiles"]), tile)
    rows, cols = ch // tile, cw // tile
    segs: list[tuple[str, int]] = [("<|image_start|>", 1)]
    if rows * cols > 1:
        for _ in range(rows):
            for x in range(cols):
                segs.append(("<|patch|>", per_tile))
                if x < cols - 1:
                    segs.append(("<|tile_x_separator|>", 1))
            segs.append(("<|tile_y_separator|>", 1))
    segs += [("<|image|>", 1), ("<|patch|>", per_tile), ("<|image_end|>", 1)]
    return Expansion(tuple(segs), (ch, cw))


# ------------------------------------------------------------------------------------------------ OpenAI
def openai_tiles(width: int, height: int, p: dict[str, Any]) -> int:
    """Tiles of ``tile_size`` px after fitting into ``max_side``² and scaling the short side down to
    ``short_side`` (never up): OpenAI's "Calculating costs" for the tile-priced models."""
    w, h = float(width), float(height)
    max_side, short_side, tile = int(p["max_side"]), int(p["short_side"]), int(p["tile_size"])
    if max(w, h) > max_side:
        s = max_side / max(w, h)
        w, h = w * s, h * s
    if min(w, h) > short_side:
        s = short_side / min(w, h)
        w, h = w * s, h * s
    return math.ceil(w / tile) * math.ceil(h / tile)


def _detail(p: dict[str, Any]) -> str:
    """OpenAI's ``detail``: low | high | auto (auto is billed as high); anything else is the caller's 400."""
    detail = str(p.get("detail") or "auto").lower()
    if detail not in ("low", "high", "auto"):
        raise MediaError(f"detail must be low, high or auto, got {detail!r}", param="detail")
    return detail


def _openai_tile(width: int, height: int, p: dict[str, Any]) -> int:
    """``base`` + ``tile`` per tile; ``detail: low`` is the base alone, whatever the size."""
    if _detail(p) == "low":
        return int(p["base"])
    return int(p["base"]) + int(p["tile"]) * openai_tiles(width, height, p)


def openai_patches(width: int, height: int, p: dict[str, Any]) -> int:
    """``patch_size`` px patches; above ``max_patches`` the image is scaled down so whole patches fit the cap."""
    patch, cap = int(p["patch_size"]), int(p["max_patches"])
    raw = math.ceil(width / patch) * math.ceil(height / patch)
    if raw <= cap:
        return raw
    r = math.sqrt(patch * patch * cap / (width * height))
    r *= min(math.floor(width * r / patch) / (width * r / patch), math.floor(height * r / patch) / (height * r / patch))
    return min(cap, math.ceil(width * r / patch) * math.ceil(height * r / patch))


def _openai_patch(width: int, height: int, p: dict[str, Any]) -> int:
    """Patches × the model's ``multiplier`` rounded up in floating point, + ``per_image`` (measured: 300 patches
    cost 488 on gpt-4.1-mini, ``ceil(300 * 1.62) = 487`` as doubles give it, and 361 at 1.2); ``detail`` does
    not apply to the patch-priced models."""
    _detail(p)
    return math.ceil(openai_patches(width, height, p) * float(p["multiplier"])) + int(p.get("per_image", 0))


# ------------------------------------------------------------------------------------------------ Anthropic
def anthropic_scale(width: int, height: int, p: dict[str, Any]) -> float:
    """The downscale Anthropic documents: the long edge to at most ``max_edge`` and the area to ``max_pixels``."""
    w, h = float(width), float(height)
    return min(1.0, int(p["max_edge"]) / max(w, h), math.sqrt(int(p["max_pixels"]) / (w * h)))


def _anthropic(width: int, height: int, p: dict[str, Any]) -> int:
    """``ceil(w × h / pixels_per_token)`` on the downscaled (unrounded) size: 1000×1000 → 1334, 200×200 → 54."""
    s = anthropic_scale(width, height, p)
    return math.ceil((width * s) * (height * s) / int(p["pixels_per_token"]))


# ------------------------------------------------------------------------------------------------ Gemini
def _gemini_tiles(width: int, height: int, p: dict[str, Any]) -> int:
    """``tokens`` for an image whose sides are both ≤ ``small_side``; a larger one is cut into square tiles of
    side ``floor(min(w, h) / tile_divisor)``, each ``tokens`` (960×540 → 6 tiles → 1548), plus ``overview_tiles``
    more (the whole image at tile size: measured on gemini-2.0-flash, 640×480 → 4 + 1 tiles → 1290)."""
    per_tile, small = int(p["tokens"]), int(p["small_side"])
    if width <= small and height <= small:
        return per_tile
    unit = max(1, math.floor(min(width, height) / float(p["tile_divisor"])))
    return (math.ceil(width / unit) * math.ceil(height / unit) + int(p.get("overview_tiles", 0))) * per_tile


def _per_level(width: int, height: int, p: dict[str, Any]) -> int:
    """A fixed budget per image chosen by a level option (Gemini 3's ``media_resolution``), whatever its size."""
    levels: dict[str, int] = p["levels"]
    raw = p.get(str(p["option"])) or p["default"]
    level = str(raw).lower().removeprefix("media_resolution_")
    if level == "unspecified":
        level = str(p["default"])
    if level not in levels:
        raise MediaError(f"unknown {p['option']} {raw!r}; known: {', '.join(levels)}", param=str(p["option"]))
    return int(levels[level])


_KINDS = {
    "qwen_smart_resize": _qwen,
    "glm4v_smart_resize": _glm4v,
    "moonvit": _moonvit,
    "step3": _step3,
    "fixed": _fixed,
    "llama4_tiles": _llama4,
}
#: closed providers' kinds: a token count per image, no prompt text
_COUNT_KINDS = {
    "openai_tiles": _openai_tile,
    "openai_patches": _openai_patch,
    "anthropic_pixels": _anthropic,
    "gemini_tiles": _gemini_tiles,
    "per_image_level": _per_level,
}


# ------------------------------------------------------------------------------------------------ loading
@cache
def _rules() -> dict[str, Rule]:
    tables: dict[str, dict[str, Any]] = {}
    extra = [tomllib.loads(Path(p).expanduser().read_text(encoding="utf-8"))
             for p in settings_in_force.current().media_rules]
    for parsed in [rules_data.load("rules.toml"), *extra]:
        for key, table in parsed.get("rule", {}).items():
            tables.setdefault(key, {}).update(table)
    return {k: Rule(k, str(t["kind"]), {n: v for n, v in t.items() if n != "kind"}) for k, t in tables.items()}


settings_in_force.on_change(_rules.cache_clear)  # new settings may name other media_rules files


def rule_for(vision: str) -> Rule | None:
    """The rule for a catalog ``vision`` key, or None (text-only model or unknown key)."""
    return _rules().get(vision) if vision else None


def image_tokens(vision: str, width: int, height: int, options: dict[str, Any] | None = None) -> int:
    """Tokens of one image under the rule named ``vision``: a closed provider's documented figure, or an open
    model's model-independent figure (wrapper included)."""
    rule = rule_for(vision)
    if rule is None:
        raise MediaError(f"no media rule named {vision!r}")
    return rule.tokens(width, height, options)
