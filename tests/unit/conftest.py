"""The unit layer: tests that need none of ../shared, so ``pytest tests/unit`` runs anywhere in seconds.

Each test here runs with an empty asset directory and cache, even when ../shared is present, so a test that quietly
starts reading the real tokenizer files fails here instead of passing only on machines that have them. The package
``__init__.py`` keeps this file importable as ``unit.conftest``: a bare ``conftest`` would shadow tests/conftest.py,
which the helpers (serverkit, hostile_models) and the integration tests import by that name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tokcount.settings import Settings


@pytest.fixture(autouse=True)
def no_shared_assets(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Asset lookups see an empty directory and an empty cache, and the Hub stays offline.

    The library reads its settings once (tokcount.config), so they are installed with ``config.using`` for the test
    (a lazily built config would otherwise keep this test's empty directories for the tests after it); the
    environment gets the same values for code that builds its own ``Settings.load()`` and for huggingface_hub."""
    from tokcount import config

    root = tmp_path_factory.mktemp("no-assets")
    monkeypatch.setenv("TOKCOUNT_ASSET_DIRS", str(root / "assets"))
    monkeypatch.setenv("TOKCOUNT_CACHE_DIR", str(root / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(root / "hf"))
    with config.using(Settings.load(), asset_dirs=(str(root / "assets"),), cache_dir=str(root / "cache"),
                      hub_offline=True):
        yield root
