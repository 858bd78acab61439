"""Shared adapter for the closed providers' framings (``renderers/<provider>/framing.py``).

A framing is how a provider turns a request into prompt tokens when there is no public chat template. Each framing
module has ``count(spec, req, breakdown=, return_tokens=, media_policy=)`` and ``count_text(spec, text,
return_tokens=)`` returning a :class:`~tokcount.token_count.Count` that says whether it is exact and by which method;
:class:`FramingRenderer` adapts one to the renderer protocol (its package's ``renderer.py`` registers it).
"""

from __future__ import annotations

from types import ModuleType

from ..media.expand import check_media_limit
from ..media.sources import FetchPolicy
from ..models.catalog import ModelSpec
from ..request import Request
from ..token_count import Count


class FramingRenderer:
    """A renderer over one framing module; subclasses set ``name``, ``capabilities``, ``framing`` and ``decode``."""

    framing: ModuleType

    def count(self, spec: ModelSpec, req: Request, *, breakdown: bool, return_tokens: bool,
              media_policy: FetchPolicy | None) -> Count:
        check_media_limit(req, media_policy)  # image sizes may be fetched, as for open models
        # the policy goes on: it says how image sizes may be read (the CLI reads local files, a server never)
        return self.framing.count(spec, req, breakdown=breakdown, return_tokens=return_tokens,
                                  media_policy=media_policy)

    def count_text(self, spec: ModelSpec, text: str, *, return_tokens: bool) -> Count:
        return self.framing.count_text(spec, text, return_tokens=return_tokens)
