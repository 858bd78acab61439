"""A tokenizer split regex that backtracks catastrophically, and how to put it into a copy of a real tokenizer.json:
the hostile tokenizer of the isolation and soak tests."""

from __future__ import annotations

import json
from pathlib import Path

#: ``(a+)+b`` backtracks exponentially on runs of ``a`` with no ``b``
BACKTRACKING = r"(a+)+b|\s+|[^\s]"
#: 250 runs of 20 ``a``: seconds of backtracking per run under BACKTRACKING
SLOW_TEXT = ("a" * 20 + " ") * 250


def with_split(repo: Path, pattern: str) -> None:
    """Replaces the first pre-tokenizer's split pattern of ``repo``'s tokenizer.json with ``pattern``."""
    path = repo / "tokenizer.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {"Regex": pattern}
    path.write_text(json.dumps(data), encoding="utf-8")
