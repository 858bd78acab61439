"""The loader asks a renderer's capabilities, never its name: a model whose renderer needs a chat template is warm
only while the loader's LRU holds it (template included); any other renderer's model is warm once it counted."""

from __future__ import annotations

import dataclasses

import pytest

from tokcount import loader, renderers
from tokcount.models.catalog import default_catalog

pytestmark = pytest.mark.no_shared


@pytest.fixture
def templated_copy(monkeypatch: pytest.MonkeyPatch) -> str:
    """A renderer registered under another name with the Jinja renderer's capabilities."""
    monkeypatch.setitem(renderers.REGISTRY, "jinja-too", "tokcount.renderers.jinja.renderer")
    monkeypatch.setattr(renderers, "_loaded", {})
    return "jinja-too"


def test_a_templated_renderer_under_any_name_is_warm_only_when_loaded(templated_copy: str) -> None:
    loader.clear()
    spec = dataclasses.replace(default_catalog().resolve("qwen3.5"), renderer=templated_copy)
    loader.mark_warm(spec)  # counted once: not enough for a model whose files live in the LRU
    assert not loader.is_loaded(spec)


def test_a_renderer_without_a_template_is_warm_once_it_counted() -> None:
    loader.clear()
    spec = default_catalog().resolve("gpt-4o")
    assert not renderers.for_spec(spec).capabilities.needs_template
    assert not loader.is_loaded(spec)
    loader.mark_warm(spec)
    assert loader.is_loaded(spec)
    loader.clear()
