"""OpenAI chat framing: how the API turns messages and function definitions into prompt tokens.

Message framing (OpenAI cookbook "How to count tokens with tiktoken", verified there against the API for
gpt-3.5-turbo, gpt-4, gpt-4o and gpt-4o-mini): every message costs 3 tokens (``<|start|>{role}\\n ... <|end|>``
minus the role) plus its role and content, a ``name`` costs its tokens + 1, and every reply is primed with 3
(``<|start|>assistant<|message|>``).

Function/tool definitions are shown to the model as TypeScript in a ``namespace functions { ... }`` block of the
system message. The per-request constants (+9 for the block, -4 when a system message exists because the block
joins it, the first system message gaining a newline, +1 for ``tool_choice: none``, name + 4 for a forced tool,
-2 for a function-result message, +3 per call) are the ones measured by hmarr/openai-chat-tokens against the
API; with them the cookbook's ``get_current_weather`` request gives its published 105 (gpt-3.5-turbo, gpt-4) and
101 (gpt-4o, gpt-4o-mini). They are reverse-engineered, so counts with tools are labelled ``exact: false``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ...media.closed import openai_patches, openai_tiles
from ...models.catalog import ModelSpec
from ...request import DocumentPart, ImagePart, Message, Request, TextPart, ThinkingPart, ToolCallPart, ToolResultPart
from ...request import Tool as ToolDef
from ...result import Count
from ...tokenizers.openai_bpe import OpenAIEncoder, encoder
from ._image_size import image_size

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3
FUNCTIONS_BLOCK = 9
SYSTEM_MERGE = -4
FUNCTION_RESULT = -2
CALL_OVERHEAD = 3
CHOICE_NONE = 1
CHOICE_NAMED = 4


@dataclass(frozen=True)
class OpenAIModel:
    encoding: str
    #: image rule: ("tile", base, per_tile) or ("patch", multiplier, 0)
    image: tuple[str, float, float]
    #: framing verified against published API counts for this model family
    verified: bool


def model_of(spec: ModelSpec) -> OpenAIModel:
    extra = spec.extra
    rule = extra.get("image", {"rule": "tile", "base": 85, "tile": 170})
    if rule.get("rule") == "patch":
        image = ("patch", float(rule["multiplier"]), 0.0)
    else:
        image = ("tile", float(rule.get("base", 85)), float(rule.get("tile", 170)))
    return OpenAIModel(encoding=extra.get("encoding", "o200k_base"), image=image,
                       verified=bool(extra.get("framing_verified", False)))


def text_encoder(spec: ModelSpec) -> OpenAIEncoder:
    return encoder(model_of(spec).encoding)


# ------------------------------------------------------------------ function definitions as TypeScript


def format_functions(tools: list[ToolDef]) -> str:
    """The ``namespace functions`` block the model reads (TypeScript types, descriptions as comments)."""
    lines = ["namespace functions {", ""]
    for tool in tools:
        if tool.description:
            lines.append(f"// {tool.description}")
        params = tool.parameters or {}
        if params.get("properties"):
            lines.append(f"type {tool.name} = (_: {{")
            lines.append(_format_properties(params, 0))
            lines.append("}) => any;")
        else:
            lines.append(f"type {tool.name} = () => any;")
        lines.append("")
    lines.append("} // namespace functions")
    return "\n".join(lines)


def _format_properties(obj: dict[str, Any], indent: int) -> str:
    required = obj.get("required") or []
    lines: list[str] = []
    for name, prop in (obj.get("properties") or {}).items():
        prop = prop if isinstance(prop, dict) else {}
        if prop.get("description"):
            lines.append(f"// {prop['description']}")
        mark = "" if name in required else "?"
        lines.append(f"{name}{mark}: {_format_type(prop, indent)},")
    return "\n".join(" " * indent + line for line in lines)


def _format_type(prop: dict[str, Any], indent: int) -> str:
    kind = prop.get("type")
    if isinstance(kind, list):  # ["string", "null"] -> string | null
        return " | ".join(_format_type({**prop, "type": k}, indent) for k in kind)
    enum = prop.get("enum")
    if kind == "string" or (kind is None and enum and all(isinstance(v, str) for v in enum)):
        return " | ".join(json.dumps(v, ensure_ascii=False) for v in enum) if enum else "string"
    if kind in ("number", "integer"):
        return " | ".join(str(v) for v in enum) if enum else "number"
    if kind in ("boolean", "null"):
        return kind
    if kind == "object" or "properties" in prop:
        return "\n".join(["{", _format_properties(prop, indent + 2), "}"])
    if kind == "array":
        items = prop.get("items")
        return f"{_format_type(items, indent)}[]" if isinstance(items, dict) else "any[]"
    for key in ("anyOf", "oneOf"):
        if isinstance(prop.get(key), list):
            return " | ".join(_format_type(p, indent) for p in prop[key] if isinstance(p, dict))
    return "any"


# ------------------------------------------------------------------ images


def image_tokens(model: OpenAIModel, width: int, height: int, detail: str | None) -> int:
    """OpenAI's documented image cost: 512-px tiles after fitting 2048² and a 768-px short side, or 32-px
    patches capped at 1536 for the patch-priced models (geometry in :mod:`tokcount.media.closed`; the per-model
    figures come from the catalog)."""
    kind, a, b = model.image
    if kind == "patch":
        return round(openai_patches(width, height) * a)  # OpenAI does not say how the product is rounded
    if detail == "low":
        return int(a)
    return int(a + b * openai_tiles(width, height))


# ------------------------------------------------------------------ the count


def count(spec: ModelSpec, req: Request, *, breakdown: bool = True, return_tokens: bool = False) -> Count:
    model = model_of(spec)
    enc = encoder(model.encoding)
    notes: list[str] = []
    approximate: list[str] = []
    images: list[int] = []
    call_names = {p.id: p.name for m in req.messages for p in m.parts if isinstance(p, ToolCallPart) and p.id}
    has_system = any(m.role in ("system", "developer") for m in req.messages)
    padded = False
    system = 0
    per_message: list[int] = []
    framing = 0
    for msg in req.messages:
        pad = bool(req.tools) and msg.role in ("system", "developer") and not padded
        padded = padded or pad
        content, frame = _message_tokens(enc, model, msg, call_names, pad=pad, approximate=approximate,
                                         images=images)
        framing += frame
        if msg.role in ("system", "developer"):
            system += content
        else:
            per_message.append(content)
    framing += REPLY_PRIMING
    tools = 0
    if req.tools:
        tools = enc.count(format_functions(req.tools)) + FUNCTIONS_BLOCK + (SYSTEM_MERGE if has_system else 0)
        approximate.append("tool definitions (TypeScript namespace; constants measured by hmarr/openai-chat-tokens)")
    choice = req.tool_choice
    if choice is not None and req.tools:
        if choice.mode == "none":
            tools += CHOICE_NONE
        elif choice.mode == "tool" and choice.name:
            tools += enc.count(choice.name) + CHOICE_NAMED
        elif choice.mode == "required":
            notes.append("tool_choice 'required' is counted like 'auto' (its cost is not published)")
    total = system + tools + sum(per_message) + framing
    exact = not approximate and model.verified
    if not model.verified:
        notes.append(f"{spec.id}: message framing of gpt-4o assumed (not verified against published counts)")
    notes.extend(f"estimated: {a}" for a in dict.fromkeys(approximate))
    result = Count(model=spec.id, input_tokens=total, exact=exact,
                   method=f"openai-chat-framing+{model.encoding}+{enc.engine}",
                   context_window=spec.context_window, notes=notes, image_tokens=sum(images))
    if breakdown:
        result.breakdown = {"system": system, "tools": tools, "messages": per_message,
                            "template": framing}
    if return_tokens:
        notes.append("tokens: only the text of the messages is returned; the framing tokens are not listed")
        ids = [i for m in req.messages for t in _texts(m) for i in enc.encode(t)]
        result.tokens = ids
        result.token_strings = [enc.id_to_string(i) for i in ids]
    return result


def _texts(msg: Message) -> list[str]:
    out: list[str] = []
    for p in msg.parts:
        if isinstance(p, TextPart):
            out.append(p.text)
        elif isinstance(p, ToolResultPart):
            out.append(p.content if isinstance(p.content, str) else "".join(
                q.text for q in p.content if isinstance(q, TextPart)))
        elif isinstance(p, ToolCallPart):
            out.extend([p.name, _arguments(p)])
    return out


def _arguments(p: ToolCallPart) -> str:
    if p.arguments_json is not None:
        return p.arguments_json
    return p.arguments if isinstance(p.arguments, str) else json.dumps(p.arguments, ensure_ascii=False)


def _message_tokens(enc: OpenAIEncoder, model: OpenAIModel, msg: Message, call_names: dict[str, str], *,
                    pad: bool, approximate: list[str], images: list[int]) -> tuple[int, int]:
    """(content tokens, framing tokens) of one message; each image's tokens are also appended to ``images``."""
    frame = TOKENS_PER_MESSAGE + enc.count(msg.role)
    content = 0
    text = "".join(p.text for p in msg.parts if isinstance(p, TextPart))
    if pad:
        text += "\n"
    content += enc.count(text)
    name = msg.name
    for p in msg.parts:
        if isinstance(p, ImagePart):
            size = image_size(p)
            if size is None:
                approximate.append("image of unknown size counted as 1024x1024 (give width/height or a data URL)")
                size = (1024, 1024)
            n = image_tokens(model, size[0], size[1], p.detail)
            content += n
            images.append(n)
            approximate.append("image tokens (documented rule, not verified against the API here)")
        elif isinstance(p, ToolCallPart):
            content += enc.count(p.name) + enc.count(_arguments(p))
            frame += CALL_OVERHEAD
            approximate.append("tool calls (function_call framing measured by hmarr/openai-chat-tokens)")
        elif isinstance(p, ToolResultPart):
            body = p.content if isinstance(p.content, str) else "".join(
                q.text for q in p.content if isinstance(q, TextPart))
            content += enc.count(body)
            name = name or p.name or call_names.get(p.tool_call_id or "")
            frame += FUNCTION_RESULT
            approximate.append("tool results (function-message framing measured by hmarr/openai-chat-tokens)")
        elif isinstance(p, DocumentPart):
            content += enc.count(p.text or "")
            approximate.append("file inputs: only their known text is counted")
        elif isinstance(p, ThinkingPart):
            pass  # reasoning items are not re-sent to the model as prompt text
    if name:
        frame += enc.count(name) + TOKENS_PER_NAME
    return content, frame


def count_text(spec: ModelSpec, text: str, *, return_tokens: bool = False) -> Count:
    """Tokens of raw text in the model's encoding (special-token text counted as ordinary text)."""
    model = model_of(spec)
    enc = encoder(model.encoding)
    result = Count(model=spec.id, input_tokens=enc.count(text), exact=True,
                   method=f"text+{model.encoding}+{enc.engine}", context_window=spec.context_window)
    if return_tokens:
        result.tokens = enc.encode(text)
        result.token_strings = [enc.id_to_string(i) for i in result.tokens]
    return result
