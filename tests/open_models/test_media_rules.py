"""Open-model image rules against the models' own processors in ``transformers`` (configured with the real models'
preprocessor values), and Kimi / Step-3 (no transformers processor) against worked examples of their published
rules."""

from __future__ import annotations

import ast
import math
from collections import defaultdict
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers.models.llama4 as llama4_pkg
from PIL import Image
from transformers.image_utils import SizeDict
from transformers.models.glm4v.image_processing_pil_glm4v import Glm4vImageProcessorPil
from transformers.models.llama4.processing_llama4 import Llama4Processor
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

from tokcount.errors import MediaError
from tokcount.media.rules import image_tokens, nominal_tokens, rule_for, step3_crops

# (width, height): tiny, 1×1, odd, extreme aspect ratios (below the 200:1 limit), common, huge
SIZES = [(1, 1), (2, 3), (13, 7), (27, 29), (28, 28), (55, 57), (64, 64), (100, 1), (1, 150), (199, 1), (300, 256),
         (333, 1000), (511, 769), (768, 2000), (1024, 1024), (1500, 256), (1920, 1080), (4000, 30), (30, 5000),
         (4096, 4096), (8000, 6000), (12345, 6789), (20000, 200), (16384, 16384)]
# small enough to run the processor on real pixels (the rest use the processor's own size function)
PIXEL_SIZES = [s for s in SIZES if s[0] * s[1] <= 2_000_000]

QWEN3_VL = {"patch_size": 16, "merge_size": 2, "temporal_patch_size": 2,
            "size": {"shortest_edge": 65536, "longest_edge": 16777216}}  # Qwen3-VL / Qwen3.5 preprocessor_config
QWEN25_VL = {"patch_size": 14, "merge_size": 2, "temporal_patch_size": 2,
             "size": {"shortest_edge": 3136, "longest_edge": 12845056}}  # Qwen2.5-VL min/max_pixels
GLM_4V = {"patch_size": 14, "merge_size": 2, "temporal_patch_size": 2,
          "size": {"shortest_edge": 12544, "longest_edge": 9633792}}  # GLM-4.5V / 4.6V preprocessor_config


def _pads(vision: str, w: int, h: int) -> int:
    exp = rule_for(vision).expand(w, h)
    return sum(n for text, n in exp.segments if text == rule_for(vision).params["pad"])


@pytest.fixture(scope="module")
def qwen3() -> Qwen2VLImageProcessorPil:
    return Qwen2VLImageProcessorPil(**QWEN3_VL)


@pytest.fixture(scope="module")
def qwen25() -> Qwen2VLImageProcessorPil:
    return Qwen2VLImageProcessorPil(**QWEN25_VL)


@pytest.fixture(scope="module")
def glm() -> Glm4vImageProcessorPil:
    return Glm4vImageProcessorPil(**GLM_4V)


def _valid_aspect(w: int, h: int) -> bool:
    return max(w, h) / min(w, h) <= 200


@pytest.mark.parametrize(("vision", "proc"), [("qwen3-vl", "qwen3"), ("qwen2.5-vl", "qwen25"), ("glm-4v", "glm")])
def test_grid_rules_equal_the_processor_size_function(vision: str, proc: str, request: pytest.FixtureRequest) -> None:
    processor = request.getfixturevalue(proc)
    merge = processor.merge_size ** 2
    for w, h in SIZES:
        if not _valid_aspect(w, h):
            continue
        expected = processor.get_number_of_image_patches(h, w, {}) // merge
        assert _pads(vision, w, h) == expected, (vision, w, h)


@pytest.mark.parametrize(("vision", "proc"), [("qwen3-vl", "qwen3"), ("qwen2.5-vl", "qwen25"), ("glm-4v", "glm")])
def test_grid_rules_equal_the_processor_on_real_pixels(vision: str, proc: str, request: pytest.FixtureRequest) -> None:
    processor = request.getfixturevalue(proc)
    rng = np.random.default_rng(0)
    for w, h in PIXEL_SIZES:
        if not _valid_aspect(w, h):
            continue
        img = Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
        grid = processor(images=[img], return_tensors="np")["image_grid_thw"][0]
        assert _pads(vision, w, h) == int(np.prod(grid)) // processor.merge_size ** 2, (vision, w, h)


def test_extreme_aspect_ratio_is_a_clear_media_error(qwen3: Qwen2VLImageProcessorPil) -> None:
    with pytest.raises(ValueError, match="aspect ratio"):
        qwen3.get_number_of_image_patches(1, 300, {})
    for vision in ("qwen3-vl", "glm-4v"):
        with pytest.raises(MediaError, match="aspect ratio"):
            rule_for(vision).expand(300, 1)


def test_wrappers_are_counted_in_the_model_independent_figure() -> None:
    # Qwen3-VL 1024×1024: 32×32 patches of 16 px merged 2×2 → 1024 pads (the multiple of 32 is kept) + 2 wrappers
    assert image_tokens("qwen3-vl", 1024, 1024) == 1024 + 2
    assert image_tokens("glm-4v", 28 * 20, 28 * 10) == 200 + 2
    assert image_tokens("gemma3", 1, 1) == image_tokens("gemma3", 4000, 3000) == 256 + 4  # \n\n,boi,...,eoi,\n\n
    assert nominal_tokens("<|media_begin|>image<|media_content|>") == 3


# ---------------------------------------------------------------------------------------------------- Gemma 3
def test_gemma3_expansion_is_the_processors_full_image_sequence() -> None:
    import json

    from transformers import PreTrainedTokenizerFast
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil
    from transformers.models.gemma3.processing_gemma3 import Gemma3Processor

    from support.shared import HUB

    cfg = json.loads((HUB / "google/gemma-3-1b-it/tokenizer_config.json").read_text())
    tok = PreTrainedTokenizerFast(tokenizer_file=str(HUB / "google/gemma-3-1b-it/tokenizer.json"),
                                  extra_special_tokens={k: cfg[k] for k in ("boi_token", "eoi_token", "image_token")})
    proc = Gemma3Processor(image_processor=Gemma3ImageProcessorPil(), tokenizer=tok, image_seq_length=256)
    for w, h in [(1, 1), (640, 480), (4000, 30)]:
        assert rule_for("gemma3").expand(w, h).text() == proc.full_image_sequence


# ---------------------------------------------------------------------------------------------------- Llama 4
@lru_cache(maxsize=1)
def _llama4_size_functions() -> dict:
    """transformers' own get_best_fit / find_supported_resolutions, taken from its source (the module imports
    torchvision at the top, which is not installed; these functions need only torch)."""
    src = Path(llama4_pkg.__file__).with_name("image_processing_llama4.py").read_text()
    tree = ast.parse(src)
    wanted = {"get_factors", "find_supported_resolutions", "get_best_fit"}
    mod = ast.Module(body=[n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in wanted],
                     type_ignores=[])
    ns = {"torch": torch, "math": math, "defaultdict": defaultdict, "lru_cache": lru_cache, "SizeDict": SizeDict}
    exec(compile(mod, "image_processing_llama4.py", "exec"), ns)
    return ns


def test_llama4_tiles_equal_transformers() -> None:
    fns = _llama4_size_functions()
    possible = torch.tensor(fns["find_supported_resolutions"](16, SizeDict(height=336, width=336)))
    for w, h in SIZES:
        best_h, best_w = fns["get_best_fit"]((h, w), possible, resize_to_max_canvas=False)
        aspect = (int(best_h) // 336, int(best_w) // 336)
        expected = Llama4Processor._prompt_split_image(None, aspect, 144)
        assert rule_for("llama4").expand(w, h).text() == expected, (w, h)


def test_llama4_worked_examples() -> None:
    assert image_tokens("llama4", 336, 336) == 144 + 3           # one tile: only the global view
    # 672×336 (w×h) → canvas 1×2 tiles: 2 tiles + x-separator + y-separator + global tile + start/image/end
    assert image_tokens("llama4", 672, 336) == 144 * 2 + 1 + 1 + 144 + 3


# ---------------------------------------------------------------------------------------------------- Kimi
KIMI_CASES = [
    # (w, h) → media_pad tokens, worked by hand from MoonViT's rule (patch 14, merge 2: 28 px per token,
    # at most 16384 patches and 512 patches per side; scale down never up, then pad up to 28)
    ((28, 28), 1),
    ((1, 1), 1),                 # padded to one 28×28 token
    ((29, 28), 2),               # 29 px pad to 56: 2 × 1
    ((1024, 1024), 37 * 37),     # ceil(1024/28) = 37
    ((1920, 1080), 69 * 39),     # 137×77 = 10549 patches ≤ 16384: no resize; ceil(1920/28)=69, ceil(1080/28)=39
    # 4000×3000: 285×214 patches > 16384 → scale sqrt(16384/60990)=0.51830 → 2073×1554 → 75×56 tokens
    ((4000, 3000), 75 * 56),
    # 8000×20: side limit 512×14 = 7168 px → scale 0.896 → 7168×17 → 256×1 tokens
    ((8000, 20), 256 * 1),
]


@pytest.mark.parametrize(("size", "pads"), KIMI_CASES)
def test_kimi_moonvit_worked_examples(size: tuple[int, int], pads: int) -> None:
    assert _pads("kimi-k2.5", *size) == pads
    assert image_tokens("kimi-k2.5", *size) == pads + 4  # <|media_begin|> image <|media_content|> ... <|media_end|>


def test_kimi_never_exceeds_its_limits() -> None:
    for w, h in SIZES:
        exp = rule_for("kimi-k2.5").expand(w, h)
        new_h, new_w = exp.resized
        assert new_w <= 512 * 14 and new_h <= 512 * 14
        assert (new_w // 14) * (new_h // 14) <= 16384 * 1.01


def test_kimi_video_frames_and_temporal_merge() -> None:
    from tokcount.media.rules import moonvit_video_tokens

    p = rule_for("kimi-k2.5").params
    # 10 s at 30 fps → 20 frames sampled at 2 fps → 5 chunks of 4; 1280×720 per frame: 91×51 = 4641 patches >
    # 4096 → scale 0.9394 → 1202×676 → 43×25 tokens per chunk
    assert moonvit_video_tokens(1280, 720, 300, 30.0, p) == 5 * 43 * 25


# ---------------------------------------------------------------------------------------------------- Step-3
STEP3_CASES = [
    # (w, h) → (crops, crops per row); tokens = crops×(81+2) + 169+2 + row breaks
    ((728, 728), (0, 0)),        # long side ≤ 728 and not elongated: global view only
    ((700, 400), (2, 2)),        # ratio 1.75 > 1.5: window = short side 400; 700/400 → 2 (0.75 > 0.2) → 800×400
    ((1000, 1000), (4, 2)),      # 1000/504 = 1.98: remainder 0.98 > 0.2 → 2 windows per side
    ((1100, 600), (2, 2)),       # 2.18 → 2 (remainder 0.18 ≤ 0.2); 1.19 → 1: 2 crops in one row
    ((3024, 3024), (36, 6)),     # 6 × 6 windows
    ((6048, 3024), (18, 6)),     # scaled to 3024×1512 first: 6 × 3 windows
    ((3000, 600), (6, 6)),       # ratio 5 > 4: window = min(short, 504) = 504 → 6 × 1
]


@pytest.mark.parametrize(("size", "crops"), STEP3_CASES)
def test_step3_worked_examples(size: tuple[int, int], crops: tuple[int, int]) -> None:
    p = rule_for("step-3").params
    assert step3_crops(*size, p) == crops
    n, per_row = crops
    rows = n // per_row if n else 0
    expected = n * (81 + 2) + 169 + 2 + max(rows - 1, 0)
    assert image_tokens("step-3", *size) == expected


def test_step3_small_image_is_169_plus_delimiters() -> None:
    assert image_tokens("step-3", 640, 480) == 171
    text = rule_for("step-3").expand(640, 480).text()
    assert text == "<im_start>" + "<im_patch>" * 169 + "<im_end>"


def test_unknown_rule_is_a_media_error() -> None:
    with pytest.raises(MediaError):
        image_tokens("no-such-rule", 10, 10)
