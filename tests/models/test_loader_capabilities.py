"""The loader never asks which renderer a model has: a renderer that counts from the chat template says so when it
loads the model (``load(spec, template=True)``), and only such a model is warm just while the LRU holds it; any
other model is warm once it counted, whatever its renderer is called."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from tokcount import assets, loader
from tokcount.models.catalog import default_catalog

pytestmark = pytest.mark.no_shared


@pytest.fixture
def no_memory_of_misses() -> Iterator[None]:
    loader.clear()
    loader.configure(miss_ttl=0.0)
    yield
    loader.configure(miss_ttl=assets.MISS_TTL_S)
    loader.clear()


@pytest.mark.usefixtures("no_memory_of_misses")
def test_warmth_follows_what_the_renderer_said_not_its_name() -> None:
    catalog = default_catalog()
    framed = dataclasses.replace(catalog.resolve("gpt-4o"), renderer="any-name")
    assert not loader.is_loaded(framed)
    loader.mark_warm(framed)
    assert loader.is_loaded(framed)
    templated = dataclasses.replace(catalog.resolve("qwen3.5"), renderer="another-name")  # its files ship offline
    loader.load(templated, template=True)  # what matters is that the renderer said "template", not its name
    assert loader.is_loaded(templated)
    with loader._lock:  # evicted from the LRU
        loader._models.pop(templated)
    loader.mark_warm(templated)  # counted once is not enough: its files live in the LRU, which no longer has them
    assert not loader.is_loaded(templated)
