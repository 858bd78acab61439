"""The CLI knows closed models: counts say exact/method, pull needs nothing for bundled vocabularies."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tokcount.cli import main


def test_count_prints_exactness(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    body = json.dumps({"messages": [{"role": "user", "content": "Tell me a joke."}]})
    for model, exact in (("gpt-4o", True), ("claude-sonnet-4-5", False)):
        monkeypatch.setattr("sys.stdin", io.StringIO(body))
        assert main(["count", "--model", model]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["exact"] is exact and out["method"]


def test_pull_and_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pull", "gpt-4o", "claude-opus-4-1", "gemini-2.5-flash"]) == 0
    out = capsys.readouterr().out
    assert "gpt-4o: built-in framing (openai-chat), bundled vocabulary" in out
    assert "gemini-2.5-flash: tokenizer " in out
    assert main(["models", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["gpt-4o"]["available"] and rows["claude-sonnet-4-5"]["available"]


def _png(path: Path, width: int, height: int) -> None:
    from PIL import Image

    Image.new("RGB", (width, height), (200, 30, 30)).save(path, format="PNG")


@pytest.mark.parametrize(("model", "image_tokens"), [
    ("gpt-4o", 255),             # high detail: one 512 px tile, 85 + 170 (the file unread: 765, as 1024x1024)
    ("claude-sonnet-4-5", 54),   # ceil(200 * 200 / 750) (the file unread: 1590, the 1.15 MP cap)
    ("gemini-2.5-flash", 258),   # both sides <= 384 px
    ("pixtral-12b", None),       # mistral-common's encoder: checked against the same image as a data URL
])
def test_count_reads_a_local_image_for_every_renderer(model: str, image_tokens: int | None, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 11: the CLI's media policy (local files allowed) reaches the closed framings and Mistral too."""
    import base64

    import tokcount

    path = tmp_path / "red.png"
    _png(path, 200, 200)
    image = {"url": str(path), "detail": "high"}
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                                       {"type": "image_url", "image_url": image}]}]}
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(body)))
    assert main(["count", "--model", model]) == 0
    out = json.loads(capsys.readouterr().out)
    data_url = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
    same = tokcount.count(model, {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {**image, "url": data_url}}]}]})
    assert out["input_tokens"] == same.input_tokens
    assert out["image_tokens"] == same.image_tokens == out["modalities"]["image"] > 0
    if image_tokens is not None:
        assert out["image_tokens"] == image_tokens
    assert sum(out["modalities"].values()) == out["input_tokens"]
    assert not any("unknown size" in n for n in out.get("notes", []))
