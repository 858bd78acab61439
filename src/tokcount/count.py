"""The library facade: canonical request + model → :class:`Count`, asking the model's renderer.

dialect → canonical Request → (this module) the renderer the catalog names (:mod:`tokcount.renderers`) → Count.
Nothing here knows which API shape asked or how any model builds its prompt; what is common to every model
(resolving the name, reading the request, inlining documents for renderers that take none, refusing an empty
chat, turning a bad token id into a 400) is done here once.
"""

from __future__ import annotations

from typing import Any

from . import renderers
from .dialects.openai_chat import parse_request
from .documents import has_documents, inline_documents
from .errors import InvalidRequest
from .media.expand import has_media, read_remote_sizes
from .media.sources import FetchPolicy
from .models.catalog import Catalog, ModelSpec, default_catalog
from .renderers.jinja import render_prompt
from .request import Request
from .result import Count

__all__ = ["Count", "as_request", "count", "count_text", "decode", "render_prompt", "resolve"]


def resolve(model: str | ModelSpec, catalog: Catalog | None = None) -> ModelSpec:
    if isinstance(model, ModelSpec):
        return model
    return (catalog or default_catalog()).resolve(model)


def as_request(request: Request | dict[str, Any] | list[Any]) -> Request:
    """Accept the canonical request, an OpenAI-chat-shaped dict, or a bare list of messages."""
    if isinstance(request, Request):
        return request
    if isinstance(request, list):
        request = {"messages": request}
    if not isinstance(request, dict):
        raise InvalidRequest("request must be a Request, an OpenAI chat body or a list of messages.")
    return parse_request(request)


def count(model: str | ModelSpec, request: Request | dict[str, Any] | list[Any], *, breakdown: bool = True,
          return_tokens: bool = False, catalog: Catalog | None = None,
          media_policy: FetchPolicy | None = None) -> Count:
    """Exact input tokens of ``request`` for ``model`` (a catalog name, alias, or any Hub repo id).

    Images count as the model's processor expands them (sizes read from headers; ``media_policy`` limits how).
    """
    spec = resolve(model, catalog)
    req = as_request(request)
    renderer = renderers.for_spec(spec)
    if not req.messages and not renderer.capabilities.allows_empty:
        raise InvalidRequest("messages must not be empty.", param="messages")
    doc_notes: list[str] = []
    if not renderer.capabilities.takes_documents and has_documents(req):
        req, doc_notes = inline_documents(req)
    if has_media(req):
        read_remote_sizes(req, media_policy)
    result = renderer.count(spec, req, breakdown=breakdown, return_tokens=return_tokens, media_policy=media_policy)
    if doc_notes:
        result.exact = False
        result.notes.extend(doc_notes)
    return result


def count_text(model: str | ModelSpec, text: str, *, return_tokens: bool = False,
               catalog: Catalog | None = None) -> Count:
    """Tokens of a raw prompt string (special-token strings recognised, nothing added)."""
    spec = resolve(model, catalog)
    return renderers.for_spec(spec).count_text(spec, text, return_tokens=return_tokens)


def decode(model: str | ModelSpec, ids: list[int], *, catalog: Catalog | None = None) -> str:
    """The text of token ids (what vLLM's ``/detokenize`` answers); a bad id is a 400 naming it."""
    spec = resolve(model, catalog)
    renderer = renderers.for_spec(spec)
    if not renderer.capabilities.decodes:
        raise InvalidRequest(f"{spec.id}: token ids of this model cannot be decoded (its tokenizer is not "
                             "public; counts are estimates).", param="model")
    try:
        return renderer.decode(spec, ids)
    except ValueError as exc:
        raise InvalidRequest(f"tokens: {exc}.", param="tokens") from None
