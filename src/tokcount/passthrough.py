"""Optional upstream passthrough: ask the provider's own count endpoint, fall back to the local count.

Configured per provider (OpenAI, Anthropic, Gemini, Moonshot, StepFun) with a base URL and a key, in code
(:class:`Upstream`) or from the environment (:func:`upstreams_from_env`: ``TOKCOUNT_UPSTREAM_<PROVIDER>_URL`` and
``_KEY``, ``TOKCOUNT_UPSTREAM_TIMEOUT`` seconds). The canonical request is translated into the provider's own
shape, whatever shape the caller used: an Anthropic-shaped request for ``kimi-k2.6`` goes to Moonshot as a
Moonshot (OpenAI-chat-like) body. On a timeout, a connection error, a 5xx, a 4xx such as a bad key, or an
unreadable answer, the local count is returned instead; ``Count.method`` says which was used
(``upstream:<provider>`` or the local method) and ``notes`` says why a fallback happened.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Any

import httpx

from .errors import TokcountError
from .models.catalog import ModelSpec
from .request import DocumentPart, ImagePart, Request, TextPart, ThinkingPart, ToolCallPart, ToolResultPart
from .templates.prepare import split_tool_results

PROVIDERS = ("openai", "anthropic", "gemini", "moonshot", "stepfun")
DEFAULT_TIMEOUT = 5.0
ANTHROPIC_VERSION = "2023-06-01"


@dataclass(frozen=True)
class Upstream:
    provider: str
    base_url: str
    api_key: str
    timeout: float = DEFAULT_TIMEOUT


class UpstreamFailed(Exception):
    """The provider did not give a usable count; the message says why (for the fallback note)."""


def upstreams_from_env(env: dict[str, str] | None = None) -> dict[str, Upstream]:
    env = dict(os.environ if env is None else env)
    timeout = float(env.get("TOKCOUNT_UPSTREAM_TIMEOUT", DEFAULT_TIMEOUT))
    out: dict[str, Upstream] = {}
    for p in PROVIDERS:
        url, key = env.get(f"TOKCOUNT_UPSTREAM_{p.upper()}_URL"), env.get(f"TOKCOUNT_UPSTREAM_{p.upper()}_KEY")
        if url and key:
            out[p] = Upstream(p, url.rstrip("/"), key, timeout)
    return out


def provider_of(spec: ModelSpec) -> str | None:
    """Which provider serves a model, from its catalog family."""
    fam = spec.family
    if fam == "openai":
        return "openai"
    if fam == "claude":
        return "anthropic"
    if fam == "gemini":
        return "gemini"
    if fam.startswith(("kimi", "moonshot")):
        return "moonshot"
    if fam.startswith("step"):
        return "stepfun"
    return None


def count(model: str | ModelSpec, request: Any, *, upstreams: dict[str, Upstream] | None = None,
          client: httpx.Client | None = None) -> Any:
    """The provider's own count when configured and answering, else the local :func:`tokcount.count.count`."""
    count_mod = sys.modules.get("tokcount.count")
    if count_mod is None:  # pragma: no cover
        import tokcount.count  # noqa: F401

        count_mod = sys.modules["tokcount.count"]
    spec = count_mod.resolve(model)
    req = count_mod.as_request(request)
    ups = upstreams_from_env() if upstreams is None else upstreams
    provider = provider_of(spec)
    up = ups.get(provider) if provider else None
    if up is None:
        return count_mod.count(spec, req)
    try:
        n = forward(up, spec, req, client=client)
    except UpstreamFailed as exc:
        reason = f"upstream {provider} not used ({exc}); local count returned"
        try:
            local = count_mod.count(spec, req)
        except TokcountError as local_exc:  # neither answered: say both reasons, keep the local error's type
            local_exc.message += f" Upstream {provider} was tried first and failed: {exc}."
            local_exc.args = (local_exc.message,)
            raise
        local.notes.append(reason)
        return local
    notes = [f"counted by {provider}'s own endpoint ({up.base_url})"]
    exact = provider != "anthropic"
    if not exact:
        notes.append("Anthropic documents its count_tokens result as an estimate")
    return count_mod.Count(model=spec.id, input_tokens=n, exact=exact, method=f"upstream:{provider}",
                           context_window=spec.context_window, notes=notes)


# ------------------------------------------------------------------ one call per provider


def forward(up: Upstream, spec: ModelSpec, req: Request, *, client: httpx.Client | None = None) -> int:
    url, headers, body = build_call(up, spec, req)
    own = client is None
    http = client or httpx.Client()
    try:
        resp = http.post(url, headers=headers, json=body, timeout=up.timeout)
    except httpx.TimeoutException:
        raise UpstreamFailed(f"timeout after {up.timeout:g}s") from None
    except httpx.HTTPError as exc:
        raise UpstreamFailed(f"connection error: {type(exc).__name__}") from None
    finally:
        if own:
            http.close()
    if resp.status_code >= 400:
        raise UpstreamFailed(f"HTTP {resp.status_code}{_error_message(resp)}")
    try:
        return read_count(up.provider, resp.json())
    except (ValueError, KeyError, TypeError) as exc:
        raise UpstreamFailed(f"unreadable answer: {exc}") from None


def _error_message(resp: httpx.Response) -> str:
    try:
        err = resp.json().get("error")
    except ValueError:
        return ""
    msg = err.get("message") if isinstance(err, dict) else err
    return f": {str(msg)[:200]}" if msg else ""


def read_count(provider: str, data: dict[str, Any]) -> int:
    if provider in ("openai", "anthropic"):
        n = data["input_tokens"]
    elif provider == "gemini":
        n = data["totalTokens"]
    else:  # moonshot, stepfun
        if data.get("error"):
            raise ValueError(f"error field: {data['error']}")
        n = data["data"]["total_tokens"]
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"count is not a non-negative integer: {n!r}")
    return n


def build_call(up: Upstream, spec: ModelSpec, req: Request) -> tuple[str, dict[str, str], dict[str, Any]]:
    """(url, headers, JSON body) of the provider's count request for ``req``."""
    model = spec.extra.get("upstream_model", spec.id)
    if up.provider == "openai":
        return (f"{up.base_url}/v1/responses/input_tokens", {"Authorization": f"Bearer {up.api_key}"},
                to_openai_responses(model, req))
    if up.provider == "anthropic":
        return (f"{up.base_url}/v1/messages/count_tokens",
                {"x-api-key": up.api_key, "anthropic-version": ANTHROPIC_VERSION}, to_anthropic(model, req))
    if up.provider == "gemini":
        return (f"{up.base_url}/v1beta/models/{model}:countTokens", {"x-goog-api-key": up.api_key},
                {"generateContentRequest": to_gemini(model, req)})
    path = "/v1/tokenizers/estimate-token-count" if up.provider == "moonshot" else "/v1/token/count"
    return f"{up.base_url}{path}", {"Authorization": f"Bearer {up.api_key}"}, to_openai_chat(model, req)


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
    return body


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
                blocks.append({"type": "text", "text": p.text})
            elif isinstance(p, ThinkingPart) and not p.redacted:
                blocks.append({"type": "thinking", "thinking": p.text, "signature": ""})
            elif isinstance(p, ImagePart):
                blocks.append(_anthropic_image(p))
            elif isinstance(p, DocumentPart) and p.source:
                blocks.append({"type": "document", "source": {"type": "base64", "media_type": p.media_type
                                                              or "application/pdf", "data": p.source}})
            elif isinstance(p, ToolCallPart):
                args = p.arguments_object if isinstance(p.arguments_object, dict) else {"value": p.arguments_text}
                blocks.append({"type": "tool_use", "id": p.id or "", "name": p.name, "input": args})
            elif isinstance(p, ToolResultPart):
                blocks.append({"type": "tool_result", "tool_use_id": p.tool_call_id or "",
                               "content": p.text, "is_error": p.is_error})
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
        body["thinking"] = {"type": "enabled", "budget_tokens": 1024}
    return body


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


__all__ = ["Upstream", "UpstreamFailed", "build_call", "count", "forward", "provider_of",
           "upstreams_from_env"]
