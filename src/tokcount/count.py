"""The library facade: canonical request + model → :class:`Count`, asking the model's renderer.

dialect → canonical Request → (this module) the renderer the catalog names (:mod:`tokcount.renderers`) → Count.
Nothing here knows which API shape asked or how any model builds its prompt; what is common to every model
(resolving the name, reading the request, inlining documents for renderers that take none, refusing an empty
chat, turning a bad token id into a 400) is done here once.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from . import estimate_error, renderers
from .dialects.openai_chat import parse_request
from .documents import has_documents, inline_documents
from .errors import InvalidRequest
from .media.expand import has_media, read_remote_sizes
from .media.sources import FetchPolicy
from .models.catalog import Catalog, ModelSpec, default_catalog
from .renderers.jinja.renderer import render_prompt
from .request import Request, text_only
from .token_count import Count

__all__ = ["Count", "as_request", "count", "count_text", "counted_as", "decode", "render_prompt", "resolve"]


def resolve(model: str | ModelSpec, catalog: Catalog | None = None) -> ModelSpec:
    if isinstance(model, ModelSpec):
        return model
    return (catalog or default_catalog()).resolve(model)


def counted_as(model: str | ModelSpec, req: Request, catalog: Catalog | None = None) -> ModelSpec:
    """The entry whose rules count ``req`` for ``model``: the model as resolved, as the platform the request came
    through hosts it (the catalog's ``[[hosted]]`` rules; ``Request.api``). The calibration runner keys its
    measurements with the same spec the service does."""
    return (catalog or default_catalog()).hosted(resolve(model, catalog), req.api)


def _own(spec: ModelSpec) -> ModelSpec:
    """What the renderer counts with: a family-matched name counts exactly as the entry it matched does (the
    label goes on afterwards, in :func:`_labelled`), so no renderer has to know about family rules."""
    return replace(spec, family_match=None) if spec.family_match is not None else spec


def _labelled(spec: ModelSpec, result: Count) -> Count:
    """Say whose rules made the count when they are not the model's own: ``+rules-of:<id>`` in the method (a
    listed model that borrows them with ``like``, or an unlisted name of a known family). An unlisted name is
    never exact, whatever the rules would claim for their own model, says what it resolved to, and claims no
    context window (so no ``x-tokcount-fits``)."""
    rules_of = spec.rules_of
    if rules_of is None:
        return result
    result.method = f"{result.method}+rules-of:{rules_of}"
    match = spec.family_match
    if match is not None:
        result.exact = False
        result.resolved_as = spec.id
        result.context_window = spec.known_window  # None: the window of an unlisted model is not known
        result.notes.append(f"{match.requested!r} is not in the catalog: counted with the rules of {spec.id}, the "
                            f"newest entry of its family ({match.pattern}); an estimate")
    return result


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
    req = as_sent = as_request(request)
    asked = counted_as(model, req, catalog)
    spec = _own(asked)
    renderer = renderers.for_spec(spec)
    if not req.messages:  # every provider refuses an empty conversation (Gemini's empty contents too: issue 26)
        raise InvalidRequest("messages must not be empty.", param="messages")
    doc_notes: list[str] = []
    if not text_only(req):  # most requests are text alone: one pass instead of the two below
        if not renderer.capabilities.takes_documents and has_documents(req):
            req, doc_notes = inline_documents(req)
        if has_media(req):
            read_remote_sizes(req, media_policy)
    result = renderer.count(spec, req, breakdown=breakdown, return_tokens=return_tokens, media_policy=media_policy)
    return with_error(asked, as_sent, _labelled(asked, result.estimated([*doc_notes, *req.notes])))


def with_error(spec: ModelSpec, req: Request, result: Count) -> Count:
    """An estimate carries the error measured on held-out recordings of its slice (issue 23, item 6)."""
    if not result.exact and result.estimate_error is None:
        result.estimate_error = estimate_error.lookup(spec, req)
    return result


def count_text(model: str | ModelSpec, text: str, *, return_tokens: bool = False,
               catalog: Catalog | None = None) -> Count:
    """Tokens of a raw prompt string (special-token strings recognised, nothing added)."""
    asked = resolve(model, catalog)
    spec = _own(asked)
    return _labelled(asked, renderers.for_spec(spec).count_text(spec, text, return_tokens=return_tokens))


def decode(model: str | ModelSpec, ids: list[int], *, catalog: Catalog | None = None) -> str:
    """The text of token ids (what vLLM's ``/detokenize`` answers); a bad id is a 400 naming it."""
    spec = _own(resolve(model, catalog))
    renderer = renderers.for_spec(spec)
    if not renderer.capabilities.decodes:
        raise InvalidRequest(f"{spec.id}: token ids of this model cannot be decoded (its tokenizer is not "
                             "public; counts are estimates).", param="model")
    try:
        return renderer.decode(spec, ids)
    except ValueError as exc:
        raise InvalidRequest(f"tokens: {exc}.", param="tokens") from None
