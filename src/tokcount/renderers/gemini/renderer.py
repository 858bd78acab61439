"""Gemini: text with Gemma 3's vocabulary (a tokenizer file to find), media with Google's rules
(:mod:`tokcount.renderers.gemini.framing`)."""

from __future__ import annotations

from ... import loader
from ...models.catalog import ModelSpec
from .._framing import FramingRenderer
from ..base import Capabilities
from . import framing


class GeminiRenderer(FramingRenderer):
    name = "gemini"
    capabilities = Capabilities(takes_documents=True)
    framing = framing

    def decode(self, spec: ModelSpec, ids: list[int]) -> str:
        return loader.load(spec).tokenizer.decode(ids)


RENDERER = GeminiRenderer()
