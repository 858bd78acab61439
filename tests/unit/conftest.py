"""The unit layer: tests that need none of ../shared, so ``pytest tests/unit`` runs anywhere in seconds.

Each test here runs with an empty asset directory and cache, even when ../shared is present, so a test that quietly
starts reading the real tokenizer files fails here instead of passing only on machines that have them. The package
``__init__.py`` keeps this file importable as ``unit.conftest``: a bare ``conftest`` would shadow tests/conftest.py,
which the helpers (serverkit, hostile_models) and the integration tests import by that name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def no_shared_assets(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Asset lookups see an empty directory and an empty cache, and the Hub stays offline."""
    root = tmp_path_factory.mktemp("no-assets")
    monkeypatch.setenv("TOKCOUNT_ASSET_DIRS", str(root / "assets"))
    monkeypatch.setenv("TOKCOUNT_CACHE_DIR", str(root / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(root / "hf"))
    yield root
