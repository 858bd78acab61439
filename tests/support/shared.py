"""Where the shared data lives (../shared: tokenizer files, chat templates, the corpus, the calibration set), read
and never copied into the repo, and the clock the tests pin."""

from __future__ import annotations

import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("TOKCOUNT_SHARED", REPO.parent / "shared"))
ASSETS = SHARED / "assets"
HUB = ASSETS / "hub"
CORPUS = SHARED / "corpus" / "chat.jsonl"
PINNED_NOW = "2025-01-01"


def load_corpus() -> list[dict]:
    with open(CORPUS, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def has_media(case: dict) -> bool:
    return any(
        isinstance(m.get("content"), list) and any(p.get("type") != "text" for p in m["content"])
        for m in case["messages"]
    )
