"""Offline defaults: the files models/packaged.py maps to PyPI package data are byte-identical to the reference
assets, and with TOKCOUNT_ASSET_DIRS unset (no Hub, empty HF cache) the models count through them to the same
numbers as through ../shared/assets."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import tokcount
from support.shared import HUB
from tokcount.models.packaged import PACKAGED

#: every catalog model the packaged files make complete (tokenizer + config + template)
OFFLINE_MODELS = ["qwen3-8b", "qwen3.5", "qwen3.6", "glm-4.5v", "glm-4.6v", "glm-4.7-flash", "glm-5", "minimax-m3",
                  "minimax-m2.7", "deepseek-v3.1"]
REQUEST = {
    "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What's the weather in Paris? Réponds en français, s'il te plaît. 你好"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "{\"temperature_c\": 18}"},
    ],
    "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Get the weather.",
                                                "parameters": {"type": "object", "properties": {
                                                    "city": {"type": "string"}}, "required": ["city"]}}}],
}
SIMPLE = {"messages": [{"role": "system", "content": "You are a helpful assistant."},
                       {"role": "user", "content": "Hello, world!"}]}

CHILD = r"""
import hashlib, json, sys
from tokcount import assets, count, loader
from tokcount.availability import availability
from tokcount.count import resolve
from tokcount.models.packaged import PACKAGED
args = json.loads(sys.stdin.read())
out = {"sha256": {}, "counts": {}, "paths": {}, "available": {}}
for key, where in PACKAGED.items():
    repo, filename = "/".join(key.split("/")[:2]), "/".join(key.split("/")[2:])
    path = assets._from_package(where, repo, filename)
    out["sha256"][key] = hashlib.sha256(path.read_bytes()).hexdigest() if path else None
for name in args["models"]:
    spec = resolve(name)
    out["available"][name] = availability(spec)
    try:
        out["counts"][name] = count(name, args["request"]).input_tokens
    except Exception as exc:  # the parent compares with the reference, which may refuse too
        out["counts"][name] = type(exc).__name__
    out["counts"][name + "/simple"] = count(name, args["simple"]).input_tokens
    out["paths"][name] = str(loader.load(spec).tokenizer_path)
print(json.dumps(out))
"""


def test_packaged_files_count_like_the_reference_assets(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("TOKCOUNT_ASSET_DIRS", "HF_HUB_CACHE")}
    # TOKCOUNT_ASSET_DIRS empty: not even a checkout's ../shared/assets (the default beside a source checkout)
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "empty-hf"), TOKCOUNT_CACHE_DIR=str(tmp_path / "cache"),
               TOKCOUNT_ASSET_DIRS="")
    proc = subprocess.run([sys.executable, "-c", CHILD], input=json.dumps(
        {"models": OFFLINE_MODELS, "request": REQUEST, "simple": SIMPLE}), env=env, capture_output=True, text=True,
        timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)

    for key, digest in out["sha256"].items():
        reference = HUB / key
        assert digest is not None, f"{key}: {PACKAGED[key]} is not installed (pip install tokcount[offline])"
        # no reference copy here: tests/open_models/test_mistral.py checks these by count
        if key.startswith("mistralai/"):
            continue
        assert digest == hashlib.sha256(reference.read_bytes()).hexdigest(), f"{key} differs from {reference}"

    for name in OFFLINE_MODELS:
        assert out["available"][name] is True, name
        assert str(HUB) not in out["paths"][name]  # really counted through the package's files
        try:
            expected: int | str = tokcount.count(name, REQUEST).input_tokens
        except Exception as exc:
            expected = type(exc).__name__
        assert out["counts"][name] == expected, name
        assert out["counts"][name + "/simple"] == tokcount.count(name, SIMPLE).input_tokens, name
