"""The renderer registry: catalog ``renderer`` name → implementation, like tiktoken's encoding constructors.

Adding a renderer is one module defining ``RENDERER`` (an object following :class:`~.base.Renderer`) and one
line in :data:`REGISTRY`. Modules are imported on first use, so a model family's optional dependency
(mistral-common, quicktok) is only needed when one of its models is counted.
"""

from __future__ import annotations

import importlib
import threading
from typing import TYPE_CHECKING

from ..errors import InvalidRequest
from .base import Capabilities, Renderer

if TYPE_CHECKING:  # the package stays light: the settings import renderers.jinja.limits through it
    from ..models.catalog import ModelSpec

__all__ = ["REGISTRY", "Capabilities", "Renderer", "for_spec", "get", "names"]

#: renderer name (what a catalog entry's ``renderer`` says) -> module that defines ``RENDERER``
REGISTRY: dict[str, str] = {
    "jinja": "tokcount.renderers.jinja.renderer",
    "mistral": "tokcount.renderers.mistral.renderer",
    "openai-chat": "tokcount.renderers.openai.renderer",
    "anthropic": "tokcount.renderers.anthropic.renderer",
    "gemini": "tokcount.renderers.gemini.renderer",
}

_loaded: dict[str, Renderer] = {}
_lock = threading.Lock()


def names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def get(name: str) -> Renderer:
    """The renderer registered as ``name``; an unknown name is a 400 naming the known ones."""
    found = _loaded.get(name)
    if found is not None:
        return found
    module = REGISTRY.get(name)
    if module is None:
        raise InvalidRequest(f"unknown renderer {name!r}; known: {', '.join(REGISTRY)}.", param="model")
    with _lock:
        found = _loaded[name] = importlib.import_module(module).RENDERER
    return found


def for_spec(spec: ModelSpec) -> Renderer:
    """The renderer of a catalog entry (a catalog naming an unknown renderer is a 400 naming the model)."""
    try:
        return get(spec.renderer)
    except InvalidRequest as exc:
        raise InvalidRequest(f"model {spec.id!r} names renderer {spec.renderer!r}; known: {', '.join(REGISTRY)}.",
                             param="model") from exc
