"""The counting engine: canonical request + model → :class:`Count`.

dialect → canonical Request → (this module) render with the model's template → tokenize → Count.
Nothing here knows which API shape asked.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from . import loader
from .dialects.openai_chat import parse_request
from .documents import has_documents, inline_documents
from .errors import InvalidRequest
from .media.expand import count_media, has_media, placeholder_for
from .media.sources import FetchPolicy
from .models.catalog import Catalog, ModelSpec, default_catalog
from .request import Message, Request, TextPart, ThinkingPart, ToolCallPart, ToolResultPart, VideoPart
from .result import Count
from .templates.jinja_env import compile_template
from .templates.prepare import template_messages, template_tools
from .templates.render import render

SYSTEM_ROLES = ("system", "developer")
#: renderers of open-weight models, which take no documents (see :mod:`tokcount.documents`)
OPEN_RENDERERS = ("jinja", "mistral")


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


def render_prompt(model: loader.LoadedModel, req: Request, *, with_tools: bool = True) -> str:
    """The exact prompt text the model receives for ``req``."""
    if not req.messages:
        raise InvalidRequest("messages must not be empty.", param="messages")
    source = model.template()
    name = f"{model.spec.id}'s chat template ({model.template_source})"
    compile_template(source, name)  # one that does not compile is a TemplateError naming it and the line
    iterates = model.iterates_content()
    messages = template_messages(req, iterates=iterates, args_as_string=model.spec.tool_arguments == "string",
                                 media_placeholder=placeholder_for(model.spec.vision))
    last_is_assistant = req.messages[-1].role == "assistant"
    add_gen = req.add_generation_prompt if req.add_generation_prompt is not None else not last_is_assistant
    continue_final = last_is_assistant and not add_gen and _has_text(req.messages[-1])
    variables: dict[str, Any] = dict(model.variables)
    if req.thinking is not None:
        variables.setdefault("enable_thinking", req.thinking)
        variables.setdefault("thinking", req.thinking)
    variables.update(req.template_kwargs)
    return render(source, messages, template_tools(req) if with_tools else None,
                  add_generation_prompt=add_gen, continue_final=continue_final, variables=variables, name=name)


def _has_text(msg: Message) -> bool:
    return any(isinstance(p, TextPart) and p.text for p in msg.parts)


def count(model: str | ModelSpec, request: Request | dict[str, Any] | list[Any], *, breakdown: bool = True,
          return_tokens: bool = False, catalog: Catalog | None = None,
          media_policy: FetchPolicy | None = None) -> Count:
    """Exact input tokens of ``request`` for ``model`` (a catalog name, alias, or any Hub repo id).

    Images count as the model's processor expands them (sizes read from headers; ``media_policy`` limits how).
    """
    spec = resolve(model, catalog)
    req = as_request(request)
    doc_notes: list[str] = []
    if spec.renderer in OPEN_RENDERERS and has_documents(req):
        req, doc_notes = inline_documents(req)
    if spec.renderer != "jinja":  # Mistral (mistral-common) and closed models (built-in framings)
        result = renderer_for(spec)(spec, req, breakdown, return_tokens)
        return _label_documents(result, doc_notes)
    loaded = loader.load(spec)
    prompt = render_prompt(loaded, req)
    tok = loaded.tokenizer
    base = total = tok.count(prompt)
    notes: list[str] = []
    exact = True
    media = count_media(tok, spec.vision, req, prompt, policy=media_policy) if has_media(req) else None
    if media is not None:
        total, exact = media.total, media.exact
        notes.extend(media.notes)
    result = Count(
        model=spec.id,
        input_tokens=total,
        exact=exact,
        method=f"chat_template+{tok.engine}",
        context_window=spec.context_window,
        notes=notes,
        image_tokens=media.tokens if media is not None else 0,
    )
    if breakdown:
        result.breakdown = _breakdown(loaded, req, prompt, base)
        if media is not None:  # media tokens move out of the template's share; the parts still sum to the total
            result.breakdown["media"] = media.parts
            result.breakdown["media_tokens"] = media.tokens
            result.breakdown["template"] += total - base - media.tokens
    if return_tokens:
        if media is not None:
            notes.append("tokens/token_strings list the prompt before image expansion")
        ids = tok.encode(prompt)
        result.tokens = ids
        result.token_strings = [tok.id_to_string(i) for i in ids]
    return _label_documents(result, doc_notes)


def _label_documents(result: Count, notes: list[str]) -> Count:
    if notes:
        result.exact = False
        result.notes.extend(notes)
    return result


def count_text(model: str | ModelSpec, text: str, *, return_tokens: bool = False,
               catalog: Catalog | None = None) -> Count:
    """Tokens of a raw prompt string (special-token strings recognised, nothing added)."""
    spec = resolve(model, catalog)
    if spec.renderer == "mistral":
        return _count_text_mistral(spec, text, return_tokens)
    if spec.renderer != "jinja":
        from .templates.framings import count_text_framed
        return count_text_framed(spec, text, return_tokens=return_tokens)
    tok = loader.load(spec).tokenizer
    result = Count(model=spec.id, input_tokens=tok.count(text), exact=True, method=f"text+{tok.engine}",
                   context_window=spec.context_window)
    if return_tokens:
        result.tokens = tok.encode(text)
        result.token_strings = [tok.id_to_string(i) for i in result.tokens]
    return result


Renderer = Callable[[ModelSpec, Request, bool, bool], Count]


def renderer_for(spec: ModelSpec) -> Renderer:
    """The counting path of a model whose prompt is not produced by a Jinja chat template."""
    if spec.renderer == "mistral":
        return _count_mistral
    from .templates.framings import count_framed  # raises InvalidRequest for an unknown renderer name

    return lambda spec, req, breakdown, tokens: count_framed(spec, req, breakdown=breakdown, return_tokens=tokens)


def _mistral_tokenizer(spec: ModelSpec) -> object:
    from .templates import mistral

    found = loader.locate(spec, spec.tokenizer, required=True, what="no Mistral tokenizer file")
    assert found is not None
    return mistral.load_tokenizer(found[0], spec.id)


def _count_text_mistral(spec: ModelSpec, text: str, return_tokens: bool) -> Count:
    from .templates import mistral

    tok = _mistral_tokenizer(spec)
    ids = mistral.encode_text(tok, text)
    result = Count(model=spec.id, input_tokens=len(ids), exact=True, method="text+mistral-common",
                   context_window=spec.context_window)
    if return_tokens:
        result.tokens = ids
        result.token_strings = [mistral.id_to_string(tok, i) for i in ids]
    return result


def _count_mistral(spec: ModelSpec, req: Request, breakdown: bool, return_tokens: bool) -> Count:
    from .templates import mistral

    if not req.messages:
        raise InvalidRequest("messages must not be empty.", param="messages")
    tok = _mistral_tokenizer(spec)
    ids, notes = mistral.encode(tok, req)
    result = Count(model=spec.id, input_tokens=len(ids), exact=not notes, method="mistral-common",
                   context_window=spec.context_window, notes=notes)
    if any(isinstance(p, VideoPart) for m in req.messages for p in m.parts):
        result.exact = False
        result.notes.append("video parts are not counted for Mistral models")
    if breakdown:
        tools = len(ids) - len(mistral.encode(tok, req, with_tools=False)[0]) if req.tools else 0
        result.breakdown = _attribute(req, len(ids), tools, lambda s: mistral.count_text(tok, s), None)
    if return_tokens:
        result.tokens = ids
        result.token_strings = [mistral.id_to_string(tok, i) for i in ids]
    return result


def _pieces(msg: Message) -> list[str]:
    """The content strings of a message as a template prints them, for attribution."""
    out: list[str] = []
    for p in msg.parts:
        if isinstance(p, TextPart | ThinkingPart):
            out.append(p.text)
        elif isinstance(p, ToolCallPart):
            out.append(p.name)
            args = p.arguments_json
            out.append(args if args is not None else json.dumps(p.arguments, ensure_ascii=False))
        elif isinstance(p, ToolResultPart):
            if isinstance(p.content, str):
                out.append(p.content)
            else:
                out.extend(q.text for q in p.content if isinstance(q, TextPart))
    return [s for s in out if s]


def _breakdown(loaded: loader.LoadedModel, req: Request, prompt: str, total: int) -> dict[str, Any]:
    tok = loaded.tokenizer
    tools = 0
    if req.tools:
        tools = total - tok.count(render_prompt(loaded, req, with_tools=False))
    return _attribute(req, total, tools, tok.count, prompt)


def _attribute(req: Request, total: int, tools: int, count_text: Callable[[str], int],
               prompt: str | None) -> dict[str, Any]:
    """Split ``total`` into system, tools, each message's content, and the template's framing (the rest).

    Content the template dropped (absent from ``prompt``, e.g. earlier turns' reasoning) is attributed 0.
    """
    system = 0
    messages: list[int] = []
    for msg in req.messages:
        n = sum(count_text(s) for s in _pieces(msg) if prompt is None or s in prompt)
        if msg.role in SYSTEM_ROLES:
            system += n
        else:
            messages.append(n)
    return {
        "system": system,
        "tools": tools,
        "messages": messages,
        "template": total - system - tools - sum(messages),
    }
