"""Shared test setup: the real assets in ../shared (read, never copied into the repo), offline Hub, pinned clock.

Two layers: ``tests/unit`` needs no assets (``pytest tests/unit`` runs in seconds with ``TOKCOUNT_SHARED`` pointing
nowhere); every other test is an oracle or integration test and fails hard, not skips, without ../shared."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TOKCOUNT_SHARED", REPO.parent / "shared"))
ASSETS = SHARED / "assets"
HUB = ASSETS / "hub"
CORPUS = SHARED / "corpus" / "chat.jsonl"
PINNED_NOW = "2025-01-01"

UNIT = Path(__file__).resolve().parent / "unit"

os.environ["TOKCOUNT_ASSET_DIRS"] = str(ASSETS)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TOKCOUNT_NOW"] = PINNED_NOW
os.environ.setdefault("TOKCOUNT_CACHE_DIR", str(REPO / ".pytest_cache" / "tokcount-cache"))
os.environ.pop("TOKCOUNT_CATALOG", None)


def load_corpus() -> list[dict]:
    with open(CORPUS, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def has_media(case: dict) -> bool:
    return any(
        isinstance(m.get("content"), list) and any(p.get("type") != "text" for p in m["content"])
        for m in case["messages"]
    )


@pytest.fixture(scope="session")
def corpus() -> list[dict]:
    return load_corpus()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A hard failure, not a skip, when a test outside tests/unit is selected and the shared assets are missing:
    every exactness test needs these files, and a suite that quietly skipped them would pass while proving nothing."""
    if HUB.is_dir():
        return
    needing = [item.nodeid for item in items if UNIT not in item.path.parents]
    if needing:
        raise pytest.UsageError(f"the shared assets are missing: {HUB} (set TOKCOUNT_SHARED); {len(needing)} "
                                f"selected tests need them, e.g. {needing[0]} (only tests/unit runs without them)")


@pytest.fixture
def use_config():
    """``use_config(asset_dirs=(...), media_deadline=2, ...)`` installs those settings for the rest of the test
    (restored after), instead of editing ``os.environ``: the library reads its settings once (tokcount.config)."""
    import contextlib

    from tokcount import config

    with contextlib.ExitStack() as stack:
        yield lambda **changes: stack.enter_context(config.using(**changes))
