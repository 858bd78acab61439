"""The body each provider's count endpoint takes, built from the canonical request or the caller's own body.

When the request came in the provider's own shape (an Anthropic body for a Claude model, a Gemini body for a
Gemini model, ...) that body is forwarded as sent, keeping only the fields that endpoint counts: nothing is lost
in a translation. Otherwise the canonical request is written out in the provider's shape: an Anthropic-shaped
request for ``gpt-4o`` goes to OpenAI as a Responses body, one for ``kimi-k2.6`` to Moonshot as chat messages.
Fields that would reach the operator's stored data at the provider (``previous_response_id``, ``conversation``)
or make the provider connect elsewhere (``mcp_servers``) are never forwarded.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ..dialects import dialects
from ..models.catalog import PROVIDER_PREFIXES, ModelSpec
from ..renderers.jinja.prepare import split_tool_results
from ..request import DocumentPart, ImagePart, Request, TextPart, ThinkingPart, ToolCallPart, ToolResultPart
from .upstreams import Upstream

ANTHROPIC_VERSION = "2023-06-01"
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class NotForwardable(ValueError):
    """The request cannot be sent as it is: it names something only the caller's account has (a file id, which
    at the provider would name a file of the *operator's* account), so it is counted locally."""


@dataclass(frozen=True)
class Origin:
    """The request as it arrived: the dialect's name and its decoded JSON body (and URL parameters)."""

    dialect: str
    body: Any


def upstream_model(spec: ModelSpec, requested: str) -> str:
    """The model name the provider is asked about: the caller's name without provider prefixes when it names
    this model or a snapshot of it (``claude-sonnet-4-5-20250929``: snapshots may count differently) or is a name
    the catalog does not list that a family rule matched (``gpt-5.9``), else the catalog's ``upstream_model`` or
    id. Only plain names pass, since Gemini's goes into the URL path."""
    name = requested.strip()
    while "/" in name and name.split("/", 1)[0].lower() in PROVIDER_PREFIXES:
        name = name.split("/", 1)[1]
    if _MODEL_NAME.match(name) and name.lower().startswith(spec.id.lower()):
        return name
    if spec.family_match is not None and _MODEL_NAME.match(name):
        return name  # a name the catalog does not list yet: the provider knows its own models; else a fallback
    return str(spec.extra.get("upstream_model", spec.id))


def build_call(up: Upstream, model: str, req: Request,
               origin: Origin | None = None) -> tuple[str, dict[str, str], dict[str, Any]]:
    """(url, headers, JSON body) of the provider's count request. The headers carry the operator's key only;
    nothing of the caller's headers is ever passed on. :class:`NotForwardable` when the body names files."""
    url, headers, body = _build_call(up, model, req, origin)
    _refuse_account_refs(body)
    return url, headers, body


def _refuse_account_refs(value: Any) -> None:
    """Refuse a body that names stored files (``file_id``, Anthropic ``{"type": "file"}`` sources, Gemini Files
    API URIs): sent with the operator's key they would name the operator's files."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            if "file_id" in v or "fileId" in v:
                raise NotForwardable("a file id")
            uri = v.get("fileUri", v.get("file_uri"))
            if isinstance(uri, str) and ("generativelanguage.googleapis.com" in uri or uri.startswith("files/")):
                raise NotForwardable("a Gemini Files API URI")
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)


def _refuse_unreachable_media(req: Request) -> None:
    """Images and documents go to the provider as data or a public URL; a file id (``file_id:...``, OpenAI
    ``file-...``) or a local path (the CLI reads those) cannot be sent, so such a request is counted locally."""
    for m in req.messages:
        parts = [q for p in m.parts for q in ([p, *p.content] if isinstance(p, ToolResultPart)
                                              and not isinstance(p.content, str) else [p])]
        for p in parts:
            ref = p.url if isinstance(p, ImagePart) else p.source if isinstance(p, DocumentPart) else None
            if ref and not ref.startswith(("data:", "http://", "https://")):
                raise NotForwardable("a file id or a local file")


def _build_call(up: Upstream, model: str, req: Request,
                origin: Origin | None) -> tuple[str, dict[str, str], dict[str, Any]]:
    native = _native_body(up.provider, model, origin)
    if native is None:
        _refuse_unreachable_media(req)
    if up.provider == "openai":
        return (f"{up.base_url}/v1/responses/input_tokens", {"Authorization": f"Bearer {up.api_key}"},
                native or to_openai_responses(model, req))
    if up.provider == "anthropic":
        return (f"{up.base_url}/v1/messages/count_tokens",
                {"x-api-key": up.api_key, "anthropic-version": ANTHROPIC_VERSION}, native or to_anthropic(model, req))
    if up.provider == "gemini":
        return (f"{up.base_url}/v1beta/models/{model}:countTokens", {"x-goog-api-key": up.api_key},
                native or {"generateContentRequest": to_gemini(model, req)})
    path = "/v1/tokenizers/estimate-token-count" if up.provider == "moonshot" else "/v1/token/count"
    return f"{up.base_url}{path}", {"Authorization": f"Bearer {up.api_key}"}, native or to_openai_chat(model, req)


def forwards_as_sent(provider: str, origin: Origin | None) -> bool:
    """Whether the caller's own body goes to ``provider`` (its count shape), not a translation of the canonical
    request: then what the dialect left out of the local count (``Request.notes``) is in the provider's count."""
    return _native_body(provider, "", origin) is not None


def _native_body(provider: str, model: str, origin: Origin | None) -> dict[str, Any] | None:
    """The caller's own body, when it already is ``provider``'s count shape, with the model name set."""
    if origin is None or not isinstance(origin.body, dict):
        return None
    dialect = dialects().get(origin.dialect)
    shape = dialect.native if dialect is not None else None  # which incoming dialect is the provider's own shape
    if shape is None or shape.provider != provider:
        return None
    body = {k: v for k, v in origin.body.items() if k in shape.fields}
    if provider == "gemini":
        for key in ("generateContentRequest", "generate_content_request"):
            if isinstance(body.get(key), dict):  # the API wants the wrapped request to name its model too
                body[key] = {**body[key], "model": f"models/{model}"}
        return body
    return {"model": model, **body}


# ------------------------------------------------------------------ translations of the canonical request


def _tool_defs_openai(req: Request) -> list[dict[str, Any]]:
    return [{"type": "function", "function": {"name": t.name, "description": t.description or "",
                                              "parameters": t.parameters or {"type": "object", "properties": {}}}}
            for t in req.tools]


def to_openai_chat(model: str, req: Request) -> dict[str, Any]:
    """OpenAI chat-completions body (Moonshot and StepFun count endpoints take this shape)."""
    messages: list[dict[str, Any]] = []
    for m in split_tool_results(req.messages):
        if m.role == "tool":
            for p in m.parts:
                if isinstance(p, ToolResultPart):
                    messages.append({"role": "tool", "tool_call_id": p.tool_call_id or "", "content": p.text})
            continue
        content: list[dict[str, Any]] = []
        calls: list[dict[str, Any]] = []
        for p in m.parts:
            if isinstance(p, TextPart):
                content.append({"type": "text", "text": p.text})
            elif isinstance(p, ImagePart):
                content.append({"type": "image_url", "image_url": {"url": p.url}})
            elif isinstance(p, ToolCallPart):
                calls.append({"id": p.id or f"call_{len(calls)}", "type": "function",
                              "function": {"name": p.name, "arguments": p.arguments_text}})
        out: dict[str, Any] = {"role": m.role}
        texts_only = all(c["type"] == "text" for c in content)
        out["content"] = "".join(c["text"] for c in content) if texts_only else content
        if calls:
            out["tool_calls"] = calls
        if m.name:
            out["name"] = m.name
        messages.append(out)
    body: dict[str, Any] = {"model": model, "messages": messages}
    if req.tools:
        body["tools"] = _tool_defs_openai(req)
    return body


def to_openai_responses(model: str, req: Request) -> dict[str, Any]:
    """OpenAI Responses ``input_tokens`` body: input items, with system messages as developer/system items."""
    items: list[dict[str, Any]] = []
    for m in req.messages:
        parts: list[dict[str, Any]] = []
        text_type = "output_text" if m.role == "assistant" else "input_text"
        for p in m.parts:
            if isinstance(p, TextPart):
                parts.append({"type": text_type, "text": p.text})
            elif isinstance(p, ImagePart):
                parts.append({"type": "input_image", "image_url": p.url, "detail": p.detail or "auto"})
            elif isinstance(p, DocumentPart):
                parts.append(_responses_file(p))
            elif isinstance(p, ToolCallPart):
                items.append({"type": "function_call", "call_id": p.id or "", "name": p.name,
                              "arguments": p.arguments_text})
            elif isinstance(p, ToolResultPart):
                items.append({"type": "function_call_output", "call_id": p.tool_call_id or "",
                              "output": p.text})
        if parts:
            items.insert(len(items) - sum(1 for p in m.parts if isinstance(p, ToolCallPart)),
                         {"role": m.role, "content": parts})
    body: dict[str, Any] = {"model": model, "input": items}
    if req.tools:
        body["tools"] = [{"type": "function", "name": t.name, "description": t.description or "",
                          "parameters": t.parameters or {"type": "object", "properties": {}}} for t in req.tools]
        if req.tool_choice is not None:  # forcing a tool costs tokens at OpenAI
            tc = req.tool_choice
            body["tool_choice"] = {"type": "function", "name": tc.name} if tc.mode == "tool" and tc.name else (
                "required" if tc.mode in ("required", "tool") else tc.mode)
    return body


def _responses_file(p: DocumentPart) -> dict[str, Any]:
    """An ``input_file`` part (or the document's text)."""
    if p.text is not None:
        return {"type": "input_text", "text": p.text}
    if p.source and p.source.startswith(("http://", "https://")):
        return {"type": "input_file", "file_url": p.source}
    if p.source and p.source.startswith("data:"):
        return {"type": "input_file", "file_data": p.source, "filename": p.title or "document.pdf"}
    raise NotForwardable("a file id" if p.source else "a document without content")


def to_anthropic(model: str, req: Request) -> dict[str, Any]:
    system = "\n\n".join(m.text() for m in req.messages if m.role in ("system", "developer"))
    messages: list[dict[str, Any]] = []
    for m in req.messages:
        if m.role in ("system", "developer"):
            continue
        role = "assistant" if m.role == "assistant" else "user"
        blocks: list[dict[str, Any]] = []
        for p in m.parts:
            if isinstance(p, TextPart):
                if p.text:  # the API refuses empty text blocks
                    blocks.append({"type": "text", "text": p.text})
            elif isinstance(p, ThinkingPart) and not p.redacted:
                blocks.append({"type": "thinking", "thinking": p.text, "signature": ""})
            elif isinstance(p, ImagePart):
                blocks.append(_anthropic_image(p))
            elif isinstance(p, DocumentPart) and (p.source or p.text):
                blocks.append(_anthropic_document(p))
            elif isinstance(p, ToolCallPart):
                args = p.arguments_object if isinstance(p.arguments_object, dict) else {"value": p.arguments_text}
                blocks.append({"type": "tool_use", "id": p.id or "", "name": p.name, "input": args})
            elif isinstance(p, ToolResultPart):
                blocks.append({"type": "tool_result", "tool_use_id": p.tool_call_id or "",
                               "content": p.text, "is_error": p.is_error})
        if not blocks:  # nothing to count, and the API refuses an empty content list
            continue
        if messages and messages[-1]["role"] == role:  # Anthropic merges consecutive turns of one role
            messages[-1]["content"].extend(blocks)
        else:
            messages.append({"role": role, "content": blocks})
    body: dict[str, Any] = {"model": model, "messages": messages}
    if system:
        body["system"] = system
    if req.tools:
        body["tools"] = [{"name": t.name, "description": t.description or "",
                          "input_schema": t.parameters or {"type": "object", "properties": {}}} for t in req.tools]
    if req.tool_choice is not None and req.tools:
        mode = {"required": "any"}.get(req.tool_choice.mode, req.tool_choice.mode)
        body["tool_choice"] = {"type": mode, **({"name": req.tool_choice.name} if mode == "tool" else {})}
    if req.thinking:
        body["thinking"] = ({"type": "adaptive"} if req.thinking_kind == "adaptive"
                            else {"type": "enabled", "budget_tokens": 1024})  # the smallest budget allowed
    return body


def _anthropic_document(p: DocumentPart) -> dict[str, Any]:
    """A document block: its text when known, else its URL or base64 data."""
    if p.text is not None:
        source: dict[str, Any] = {"type": "text", "media_type": "text/plain", "data": p.text}
    elif p.source and p.source.startswith(("http://", "https://")):
        source = {"type": "url", "url": p.source}
    elif p.source and p.source.startswith("file"):
        raise NotForwardable("a file id")
    else:
        data = p.source or ""
        media = p.media_type or "application/pdf"
        if data.startswith("data:"):
            head, _, data = data.partition(",")
            media = head[5:].split(";")[0] or media
        source = {"type": "base64", "media_type": media, "data": data}
    return {"type": "document", "source": source, **({"title": p.title} if p.title else {})}


def _anthropic_image(p: ImagePart) -> dict[str, Any]:
    if p.url.startswith("data:"):
        head, _, data = p.url.partition(",")
        media = head[5:].split(";")[0] or "image/png"
        return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": p.url}}


def to_gemini(model: str, req: Request) -> dict[str, Any]:
    contents: list[dict[str, Any]] = []
    names = {p.id: p.name for m in req.messages for p in m.parts if isinstance(p, ToolCallPart) and p.id}
    for m in req.messages:
        if m.role in ("system", "developer"):
            continue
        parts: list[dict[str, Any]] = []
        for p in m.parts:
            if isinstance(p, TextPart):
                parts.append({"text": p.text})
            elif isinstance(p, ImagePart) and p.url.startswith("data:"):
                head, _, data = p.url.partition(",")
                parts.append({"inlineData": {"mimeType": head[5:].split(";")[0], "data": data}})
            elif isinstance(p, ImagePart):
                parts.append({"fileData": {"fileUri": p.url}})
            elif isinstance(p, ToolCallPart):
                parts.append({"functionCall": {"name": p.name, "args": p.arguments_object
                                               if isinstance(p.arguments_object, dict)
                                               else {"value": p.arguments_text}}})
            elif isinstance(p, ToolResultPart):
                text = p.text
                try:
                    response = json.loads(text)
                except ValueError:
                    response = None
                if not isinstance(response, dict):
                    response = {"result": text}
                parts.append({"functionResponse": {"name": p.name or names.get(p.tool_call_id or "", ""),
                                                   "response": response}})
        if parts:  # Gemini refuses a Content without parts (an assistant turn that held only reasoning)
            contents.append({"role": "model" if m.role == "assistant" else "user", "parts": parts})
    body: dict[str, Any] = {"model": f"models/{model}", "contents": contents}
    system = [m for m in req.messages if m.role in ("system", "developer")]
    if system:
        body["systemInstruction"] = {"parts": [{"text": m.text()} for m in system]}
    if req.tools:
        body["tools"] = [{"functionDeclarations": [{"name": t.name, "description": t.description or "",
                                                    **({"parameters": t.parameters} if t.parameters else {})}
                                                   for t in req.tools]}]
    return body
