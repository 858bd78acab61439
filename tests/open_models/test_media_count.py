"""Conversations with images count exactly for vision models, proved against an oracle built from transformers:
apply_chat_template(tokenize=False) renders the placeholders, the model's image processor (run on the fully
decoded pixels) gives each image's grid, the placeholders are expanded as the model's processor does, and the
tokenizer counts the result."""

from __future__ import annotations

import base64
import copy
import dataclasses
import io
import json
from functools import cache

import numpy as np
import pytest
from PIL import Image
from transformers import PreTrainedTokenizerFast
from transformers.models.glm4v.image_processing_pil_glm4v import Glm4vImageProcessorPil
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

import tokcount
from support.oracle import oracle_tokenizer
from support.shared import HUB, has_media, load_corpus
from tokcount.count import as_request, resolve
from tokcount.errors import MediaError

IMAGE_CASES = [c for c in load_corpus() if has_media(c)]

# The real models' preprocessor values (see docs/media.md for sources).
PROCESSORS = {
    "qwen": lambda: Qwen2VLImageProcessorPil(patch_size=16, merge_size=2, temporal_patch_size=2,
                                             size={"shortest_edge": 65536, "longest_edge": 16777216}),
    "glm": lambda: Glm4vImageProcessorPil(patch_size=14, merge_size=2, temporal_patch_size=2,
                                          size={"shortest_edge": 12544, "longest_edge": 9633792}),
}
SETUPS = [
    {"model": "Qwen/Qwen3.5-9B", "tokenizer": "Qwen/Qwen3.5-9B/tokenizer.json",
     "config": "Qwen/Qwen3.5-9B/tokenizer_config.json", "template": "Qwen/Qwen3.5-9B/chat_template.jinja",
     "processor": "qwen", "pad": "<|image_pad|>"},
    {"model": "zai-org/GLM-4.5V", "tokenizer": "zai-org/GLM-4.5V/tokenizer.json",
     "config": "zai-org/GLM-4.5V/tokenizer_config.json", "template": "zai-org/GLM-4.5V/chat_template.jinja",
     "processor": "glm", "pad": "<|image|>"},
    {"model": "glm-4.6v", "tokenizer": "zai-org/GLM-4.5V/tokenizer.json",
     "config": "zai-org/GLM-4.5V/tokenizer_config.json", "template": "zai-org/GLM-4.5V/chat_template.glm-4.6v.jinja",
     "processor": "glm", "pad": "<|image|>"},
]


@cache
def _processor(name: str):
    return PROCESSORS[name]()


def _decode(url: str) -> Image.Image:
    """Fully decode the pixels (the oracle does not share tokcount's header reading)."""
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")


def _images(case: dict) -> list[Image.Image]:
    return [_decode(p["image_url"]["url"]) for m in case["messages"] if isinstance(m["content"], list)
            for p in m["content"] if p["type"] == "image_url"]


def _as_template_parts(messages: list[dict]) -> list[dict]:
    """vLLM passes an image part to an HF template as {"type": "image"} (written here independently)."""
    out = copy.deepcopy(messages)
    for m in out:
        if isinstance(m.get("content"), list):
            m["content"] = [{"type": "image"} if p["type"] == "image_url" else p for p in m["content"]]
    return out


def _expand(text: str, pad: str, counts: list[int]) -> str:
    pieces = text.split(pad)
    assert len(pieces) - 1 == len(counts)
    return pieces[0] + "".join(pad * n + rest for n, rest in zip(counts, pieces[1:], strict=True))


def _oracle(setup: dict, case: dict) -> tuple[int, list[tuple[int, int, int]]]:
    tok = oracle_tokenizer(str(HUB / setup["tokenizer"]), str(HUB / setup["config"]), str(HUB / setup["template"]))
    messages = _as_template_parts(case["messages"])
    rendered = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    proc = _processor(setup["processor"])
    sizes = []
    for img in _images(case):
        grid = proc(images=[img], return_tensors="np")["image_grid_thw"][0]
        sizes.append((img.width, img.height, int(np.prod(grid)) // proc.merge_size ** 2))
    expanded = _expand(rendered, setup["pad"], [n for _, _, n in sizes])
    return len(tok(expanded, add_special_tokens=False)["input_ids"]), sizes


@pytest.mark.parametrize("setup", SETUPS, ids=[s["model"] for s in SETUPS])
def test_corpus_image_conversations_count_exactly(setup: dict) -> None:
    assert len(IMAGE_CASES) == 15
    for case in IMAGE_CASES:
        expected, sizes = _oracle(setup, case)
        got = tokcount.count(setup["model"], {"messages": case["messages"]})
        assert got.exact, (case["id"], got.notes)
        assert got.input_tokens == expected, case["id"]
        b = got.breakdown
        assert b["system"] + b["tools"] + sum(b["messages"]) + b["template"] + b["media_tokens"] == got.input_tokens
        assert [(p["width"], p["height"]) for p in b["media"]] == [(w, h) for w, h, _ in sizes]
        assert [p["tokens"] for p in b["media"]] == [n + 2 for _, _, n in sizes]  # pads + begin/end wrapper
        assert b["media_tokens"] == sum(n + 2 for _, _, n in sizes)
        # the modality split is the same figure, and text is the rest (issue 11: a field of Count)
        assert got.modalities == {"text": got.input_tokens - b["media_tokens"], "image": b["media_tokens"]}


def test_gemma3_counts_like_its_full_processor() -> None:
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil
    from transformers.models.gemma3.processing_gemma3 import Gemma3Processor

    cfg = json.loads((HUB / "google/gemma-3-1b-it/tokenizer_config.json").read_text())
    tok = PreTrainedTokenizerFast(tokenizer_file=str(HUB / "google/gemma-3-1b-it/tokenizer.json"),
                                  bos_token=cfg["bos_token"], eos_token=cfg["eos_token"],
                                  extra_special_tokens={k: cfg[k] for k in ("boi_token", "eoi_token", "image_token")})
    tok.chat_template = cfg["chat_template"]
    proc = Gemma3Processor(image_processor=Gemma3ImageProcessorPil(), tokenizer=tok, image_seq_length=256)
    # Gemma 3 with vision (4b/12b/27b): the catalog falls back to the 1b's tokenizer and template
    spec = resolve("gemma-3-27b-it")
    assert spec.vision == "gemma3"
    for case in IMAGE_CASES[:6]:
        messages = [m for m in _as_template_parts(case["messages"]) if m["role"] != "system"]
        rendered = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        ids = proc(text=[rendered], images=[_images(case)], add_special_tokens=False)["input_ids"][0]
        req = [m for m in case["messages"] if m["role"] != "system"]
        got = tokcount.count(spec, req)
        assert got.exact and got.input_tokens == len(ids), case["id"]


def test_template_without_content_loop_gets_vllm_placeholders() -> None:
    """Qwen3-8B's template takes strings only: vLLM writes one placeholder line per image before the text."""
    spec = dataclasses.replace(resolve("qwen3-8b"), id="qwen3-8b+vision", vision="qwen3-vl")
    case = IMAGE_CASES[0]
    tok = oracle_tokenizer(str(HUB / "Qwen/Qwen3-8B/tokenizer.json"), str(HUB / "Qwen/Qwen3-8B/tokenizer_config.json"),
                           str(HUB / "Qwen/Qwen3-8B/tokenizer_config.json"))
    messages = copy.deepcopy(case["messages"])
    for m in messages:
        if isinstance(m["content"], list):
            n = sum(p["type"] == "image_url" for p in m["content"])
            text = "\n".join(p["text"] for p in m["content"] if p["type"] == "text")
            m["content"] = "\n".join(["<|vision_start|><|image_pad|><|vision_end|>"] * n + [text])
    rendered = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    proc = _processor("qwen")
    counts = [int(np.prod(proc(images=[i], return_tensors="np")["image_grid_thw"][0])) // 4 for i in _images(case)]
    expected = len(tok(_expand(rendered, "<|image_pad|>", counts), add_special_tokens=False)["input_ids"])
    got = tokcount.count(spec, case["messages"])
    assert got.exact and got.input_tokens == expected


def test_model_without_a_vision_rule_is_labelled() -> None:
    case = IMAGE_CASES[0]
    got = tokcount.count("Qwen/Qwen3-8B", case["messages"])
    assert not got.exact
    assert any("no vision rule" in n for n in got.notes)
    assert got.breakdown["media_tokens"] == 0
    assert [p["width"] for p in got.breakdown["media"]] == [None] * len(got.breakdown["media"])


def test_known_sizes_skip_reading_and_bad_images_name_the_part() -> None:
    good = {"role": "user", "content": [{"type": "text", "text": "hi"},
                                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}
    with pytest.raises(MediaError) as err:
        tokcount.count("qwen3.5", [good])
    assert err.value.param == "messages[0].content[1]"
    assert err.value.status == 400
    req = as_request([good])
    req.messages[0].parts[1].width, req.messages[0].parts[1].height = 1024, 1024
    got = tokcount.count("qwen3.5", req)
    assert got.breakdown["media"][0]["tokens"] == 1024 + 2


def test_video_parts_are_labelled_not_exact() -> None:
    msg = {"role": "user", "content": [{"type": "video_url", "video_url": {"url": "https://example.com/v.mp4"}},
                                       {"type": "text", "text": "what happens?"}]}
    got = tokcount.count("qwen3.5", [msg])
    assert not got.exact
    assert any("video" in n for n in got.notes)
    assert got.breakdown["media"][0]["kind"] == "video"


def test_cli_reads_local_image_paths(tmp_path, capsys) -> None:
    from tokcount.cli import main

    img = tmp_path / "shot.png"
    Image.new("RGB", (1000, 500)).save(img)
    body = {"model": "qwen3.5", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": str(img)}}, {"type": "text", "text": "hi"}]}]}
    req = tmp_path / "req.json"
    req.write_text(json.dumps(body))
    assert main(["count", str(req)]) == 0
    out = json.loads(capsys.readouterr().out)
    # 1000×500 → smart_resize(32 px) → 992×512 → 31×16 tokens = 496 pads + 2
    assert out["breakdown"]["media"][0] == {"index": 0, "kind": "image", "where": "messages[0].content[0]",
                                            "width": 1000, "height": 500, "tokens": 498}
    with pytest.raises(MediaError, match="unsupported image source"):  # the library/server never reads paths
        tokcount.count("qwen3.5", body)


def test_too_many_media_parts_is_413() -> None:
    from tokcount.errors import RequestTooLarge
    from tokcount.media.sources import FetchPolicy

    url = "data:image/gif;base64,R0lGODlhAQABAAAAACw="
    msg = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}] * 3}
    with pytest.raises(RequestTooLarge) as err:
        tokcount.count("qwen3.5", [msg], media_policy=FetchPolicy(max_media_parts=2))
    assert err.value.status == 413
