"""Shared test setup: the real assets in ../shared (read, never copied into the repo), offline Hub, pinned clock.

Tests live in directories named for what they test (dialects/, server/, templates/, open_models/, ...); what they
share that is not a test is in support/. Tests marked ``no_shared`` need none of ../shared: each sees an empty asset
directory and cache even when ../shared is present (a test that quietly starts reading real tokenizer files fails
instead of passing only where they exist), and ``pytest -m no_shared`` runs them anywhere in seconds. Every other
test is an oracle or integration test and fails hard, not skips, without ../shared."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.shared import ASSETS, CORPUS, HUB, PINNED_NOW, REPO, SHARED, has_media, load_corpus  # noqa: F401

os.environ["TOKCOUNT_ASSET_DIRS"] = str(ASSETS)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TOKCOUNT_NOW"] = PINNED_NOW
os.environ.setdefault("TOKCOUNT_CACHE_DIR", str(REPO / ".pytest_cache" / "tokcount-cache"))
os.environ.pop("TOKCOUNT_CATALOG", None)




@pytest.fixture(scope="session")
def corpus() -> list[dict]:
    return load_corpus()


NO_SHARED = "pytestmark = pytest.mark.no_shared"
#: test files left out of collection because ../shared is missing and they need it
NEED_SHARED: list[str] = []


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Without ../shared, only the files marked ``no_shared`` are collected: the others read the shared files as
    they import, and their import errors would bury the answer pytest_collection_modifyitems gives."""
    if HUB.is_dir() or not (collection_path.name.startswith("test_") and collection_path.suffix == ".py"):
        return None
    if NO_SHARED in collection_path.read_text(encoding="utf-8"):
        return None
    NEED_SHARED.append(str(collection_path.relative_to(REPO)))
    return True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A hard failure, not a skip, when tests that need ../shared were asked for and it is missing: every exactness
    test needs these files, and a suite that quietly skipped them would pass while proving nothing."""
    if HUB.is_dir() or config.getoption("markexpr") == "no_shared":
        return
    asked = [Path(config.rootpath, arg.split("::")[0]).resolve() for arg in config.args]
    needing = [f for f in NEED_SHARED if any(a == REPO / f or a in (REPO / f).parents for a in asked)]
    needing += sorted({item.nodeid.split("::")[0] for item in items if item.get_closest_marker("no_shared") is None})
    if needing:
        raise pytest.UsageError(f"the shared assets are missing: {HUB} (set TOKCOUNT_SHARED); {len(needing)} test "
                                f"files need them, e.g. {needing[0]} (`pytest -m no_shared` runs the tests that need "
                                "none)")


@pytest.fixture(autouse=True)
def no_shared_assets(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                     monkeypatch: pytest.MonkeyPatch) -> Iterator[Path | None]:
    """For a ``no_shared`` test: asset lookups see an empty directory and an empty cache, and the Hub stays offline.

    The library reads its settings once (tokcount.settings_in_force), so they are installed with
    ``settings_in_force.using`` for the test (settings built lazily would otherwise keep this test's empty
    directories for the tests after it); the environment gets the same values for code that builds its own
    ``Settings.load()`` and for huggingface_hub."""
    if request.node.get_closest_marker("no_shared") is None:
        yield None
        return
    from tokcount import settings_in_force
    from tokcount.settings import Settings

    root = tmp_path_factory.mktemp("no-assets")
    monkeypatch.setenv("TOKCOUNT_ASSET_DIRS", str(root / "assets"))
    monkeypatch.setenv("TOKCOUNT_CACHE_DIR", str(root / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(root / "hf"))
    with settings_in_force.using(Settings.load(), asset_dirs=(str(root / "assets"),),
                                 cache_dir=str(root / "cache"), hub_offline=True):
        yield root


@pytest.fixture
def use_settings():
    """``use_settings(asset_dirs=(...), media_deadline=2, ...)`` installs those settings for the rest of the test
    (restored after), instead of editing ``os.environ``: the library reads its settings once
    (tokcount.settings_in_force)."""
    import contextlib

    from tokcount import settings_in_force

    with contextlib.ExitStack() as stack:
        yield lambda **changes: stack.enter_context(settings_in_force.using(**changes))
