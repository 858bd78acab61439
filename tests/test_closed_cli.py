"""The CLI knows closed models: counts say exact/method, pull needs nothing for bundled vocabularies."""

from __future__ import annotations

import io
import json

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
