"""A renderer is its package: ``__init__`` names it, ``renderer.py`` defines ``RENDERER``. Adding one is those two
files (docs/architecture.md says so; this keeps it true): the toy renderer below is planted in a fresh directory
the package searches, and the registry finds it and counts with it, with no line added anywhere else."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import tokcount
from tokcount import renderers
from tokcount.models.catalog import default_catalog
from tokcount.token_count import Count

pytestmark = pytest.mark.no_shared

TOY = '''
from tokcount.renderers.base import Capabilities
from tokcount.token_count import Count


class Toy:
    name = "toy-words"
    capabilities = Capabilities(needs_files=False, decodes=False)

    def count(self, spec, req, *, breakdown, return_tokens, media_policy):
        words = sum(len(p.text.split()) for m in req.messages for p in m.parts if hasattr(p, "text"))
        return Count(model=spec.id, input_tokens=words, exact=False, method="toy-words")

    def count_text(self, spec, text, *, return_tokens=False):
        return Count(model=spec.id, input_tokens=len(text.split()), exact=False, method="toy-words")

    def decode(self, spec, ids):
        raise NotImplementedError


RENDERER = Toy()
'''


def test_a_renderer_is_found_from_its_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "toy_words"
    package.mkdir()
    (package / "__init__.py").write_text('"""A toy renderer: one token a word."""\nNAME = "toy-words"\n')
    (package / "renderer.py").write_text(TOY)
    monkeypatch.setattr(renderers, "__path__", [*renderers.__path__, str(tmp_path)])
    monkeypatch.setattr(renderers, "REGISTRY", renderers.discover())
    monkeypatch.setattr(renderers, "_loaded", {})
    assert renderers.REGISTRY["toy-words"] == "tokcount.renderers.toy_words.renderer"
    spec = dataclasses.replace(default_catalog().resolve("qwen3.5"), renderer="toy-words")
    counted = tokcount.count(spec, [{"role": "user", "content": "three words here"}])
    assert isinstance(counted, Count) and counted.input_tokens == 3 and counted.method == "toy-words"


def test_the_shipped_renderers_are_the_packages_here() -> None:
    assert renderers.discover() == {"anthropic": "tokcount.renderers.anthropic.renderer",
                                    "gemini": "tokcount.renderers.gemini.renderer",
                                    "jinja": "tokcount.renderers.jinja.renderer",
                                    "mistral": "tokcount.renderers.mistral.renderer",
                                    "openai-chat": "tokcount.renderers.openai.renderer"}
