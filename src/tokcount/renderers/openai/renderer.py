"""OpenAI chat models: the cookbook's message framing over a bundled o200k/cl100k vocabulary
(:mod:`tokcount.renderers.openai.framing`)."""

from __future__ import annotations

from ...models.catalog import ModelSpec
from .._framing import FramingRenderer
from ..base import Capabilities
from . import framing


class OpenAIRenderer(FramingRenderer):
    name = "openai-chat"
    capabilities = Capabilities(takes_documents=True, needs_files=False)
    framing = framing

    def decode(self, spec: ModelSpec, ids: list[int]) -> str:
        return framing.text_encoder(spec).decode(ids)


RENDERER = OpenAIRenderer()
