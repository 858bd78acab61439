"""The renderer registry: catalog ``renderer`` name → implementation, like tiktoken's encoding constructors.

A renderer is a package here: its ``__init__`` says the name catalog entries use (``NAME``) and imports nothing,
its ``renderer.py`` defines ``RENDERER`` (an object following :class:`~.base.Renderer`) beside the renderer's
framing, tool rendering and data. :func:`discover` finds the packages (adding a renderer is adding one), and a
``renderer.py`` is imported on first use, so a model family's optional dependency (mistral-common, quicktok) is
only needed when one of its models is counted.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from typing import TYPE_CHECKING

from ..errors import InvalidRequest
from .base import Capabilities, Renderer

if TYPE_CHECKING:  # the package stays light: the settings import renderers.jinja.limits through it
    from ..models.catalog import ModelSpec

__all__ = ["REGISTRY", "Capabilities", "Renderer", "for_spec", "get", "names"]



def discover(path: list[str] | None = None) -> dict[str, str]:
    """Renderer name -> module defining ``RENDERER``, for every package under ``path`` (this package's) whose
    ``__init__`` declares ``NAME``; two packages declaring one name is a mistake, not an override."""
    found: dict[str, str] = {}
    for info in sorted(pkgutil.iter_modules(__path__ if path is None else path), key=lambda m: m.name):
        if not info.ispkg:
            continue
        name = getattr(importlib.import_module(f"{__name__}.{info.name}"), "NAME", None)
        if name is not None:
            if name in found:
                raise RuntimeError(f"two renderers are named {name!r}")
            found[name] = f"{__name__}.{info.name}.renderer"
    return found


#: renderer name (what a catalog entry's ``renderer`` says) -> module that defines ``RENDERER``
REGISTRY: dict[str, str] = discover()

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
