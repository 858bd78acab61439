"""The command line, run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import tokcount
from support.shared import REPO

CHAT = {"messages": [{"role": "system", "content": "You are a helpful assistant."},
                     {"role": "user", "content": "Hello, world!"}]}


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tokcount.cli", *args], input=stdin, capture_output=True,
                          text=True, timeout=300, cwd=REPO, env=os.environ.copy())


def test_count_prints_one_json_object(tmp_path) -> None:
    path = tmp_path / "req.json"
    path.write_text(json.dumps(CHAT))
    out = run("count", "--model", "minimax/minimax-m2.5", str(path))
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer["model"] == "minimax-m2.5" and answer["exact"] is True
    assert answer["input_tokens"] == tokcount.count("minimax-m2.5", CHAT).input_tokens == 26
    b = answer["breakdown"]
    assert b["system"] + b["tools"] + sum(b["messages"]) + b["template"] == answer["input_tokens"]


def test_jsonl_answers_in_order_with_errors_inline() -> None:
    lines = [json.dumps(CHAT), "{not json", json.dumps({"messages": []}),
             json.dumps({**CHAT, "model": "ignored-because---model-given"}), json.dumps({"messages": [{"role": "x"}]})]
    out = run("count", "--model", "qwen3.5", "--jsonl", "-", stdin="\n".join(lines) + "\n")
    answers = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(answers) == 5
    assert answers[0]["input_tokens"] == 25 and answers[3]["input_tokens"] == 25
    assert "error" in answers[1] and "error" in answers[2] and "error" in answers[4]
    assert answers[4]["error"]["param"] == "messages[0].role"
    assert out.returncode == 1


def test_model_from_body_and_unknown_model() -> None:
    out = run("count", stdin=json.dumps({**CHAT, "model": "glm-4.7-flash"}))
    assert json.loads(out.stdout)["input_tokens"] == 16
    out = run("count", "--model", "glm-4.77", stdin=json.dumps(CHAT))
    err = json.loads(out.stdout)["error"]
    assert err["type"] == "unknown_model" and "glm-4.7" in err["message"]


def test_models_lists_availability() -> None:
    out = run("models", "--json")
    rows = {r["id"]: r for r in json.loads(out.stdout)}
    assert rows["qwen3.5"]["available"] is True
    assert rows["kimi-k2.6"]["available"] is True  # its vocabulary is in ../shared, and tokcount can build it
    assert rows["step-3.7-flash"]["available"] is False  # no vocabulary anywhere here
    assert rows["deepseek-v4"]["context_window"] == 1048576
