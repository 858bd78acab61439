"""Shared adapter for the closed providers' framings (:mod:`tokcount.templates.framings`): each framing module has
``count(spec, req, breakdown=, return_tokens=, media_policy=)`` and ``count_text(spec, text, return_tokens=)``.
"""

from __future__ import annotations

from types import ModuleType

from ..media.expand import check_media_limit
from ..media.sources import FetchPolicy
from ..models.catalog import ModelSpec
from ..request import Request
from ..result import Count


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
