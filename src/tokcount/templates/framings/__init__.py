"""Built-in framings for closed models: how a provider turns a request into prompt tokens when there is no
public chat template. A catalog entry names one with ``renderer = "<name>"``; :func:`tokcount.count.count`
dispatches here for every renderer other than ``"jinja"``. Each framing returns a :class:`~tokcount.count.Count`
that says whether it is exact and by which method.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ...errors import InvalidRequest

if TYPE_CHECKING:
    from ...count import Count
    from ...models.catalog import ModelSpec
    from ...request import Request


def _openai() -> Any:
    from . import openai
    return openai


def _anthropic() -> Any:
    from . import anthropic
    return anthropic


def _gemini() -> Any:
    from . import gemini
    return gemini


#: renderers whose vocabulary ships in an installed package (nothing to find or download)
BUNDLED_RENDERERS = frozenset({"openai-chat", "anthropic"})

#: renderer name -> module with ``count(spec, req, breakdown=, return_tokens=)`` and ``count_text(spec, text)``
FRAMINGS: dict[str, Callable[[], Any]] = {
    "openai-chat": _openai,
    "anthropic": _anthropic,
    "gemini": _gemini,
}


def framing(spec: ModelSpec) -> Any:
    try:
        return FRAMINGS[spec.renderer]()
    except KeyError:
        raise InvalidRequest(f"model {spec.id!r} names renderer {spec.renderer!r}; known: jinja, "
                             f"{', '.join(FRAMINGS)}.", param="model") from None


def count_framed(spec: ModelSpec, req: Request, *, breakdown: bool = True, return_tokens: bool = False) -> Count:
    if not req.messages and spec.renderer != "gemini":
        raise InvalidRequest("messages must not be empty.", param="messages")
    from ...media.expand import check_media_limit

    check_media_limit(req)  # image sizes may be fetched, as for open models
    return framing(spec).count(spec, req, breakdown=breakdown, return_tokens=return_tokens)


def count_text_framed(spec: ModelSpec, text: str, *, return_tokens: bool = False) -> Count:
    return framing(spec).count_text(spec, text, return_tokens=return_tokens)
