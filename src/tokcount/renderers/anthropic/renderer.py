"""Claude: a labelled estimate over an o200k proxy (:mod:`tokcount.renderers.anthropic.framing`). Its ids are
not Claude's (no public tokenizer), so nothing decodes."""

from __future__ import annotations

from ...models.catalog import ModelSpec
from .._framing import FramingRenderer
from ..base import Capabilities
from . import framing


class AnthropicRenderer(FramingRenderer):
    name = "anthropic"
    capabilities = Capabilities(takes_documents=True, needs_files=False, decodes=False)
    framing = framing

    def decode(self, spec: ModelSpec, ids: list[int]) -> str:
        raise ValueError(f"{spec.id}: Claude's tokenizer is not public, so its token ids cannot be decoded")


RENDERER = AnthropicRenderer()
