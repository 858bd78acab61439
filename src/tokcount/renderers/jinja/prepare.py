"""Canonical request → the message dicts a Hugging Face chat template reads, prepared as vLLM prepares a chat
completion. These conventions are what "exact" means for a template:

- ``content: null`` becomes ``""`` (templates that test ``content is none`` would otherwise differ);
- tool-call arguments are passed as an object, or as the caller's JSON string when the catalog says the template
  wants strings (DeepSeek-V3.1's official template);
- a list of text parts stays a list when the template iterates over content, else the texts are joined with
  ``"\\n"``, after one line per image holding the model's image placeholder (vLLM's "string" content format);
- tool results inside a user turn (how Anthropic's Messages API and the canonical request keep them) become one
  ``tool`` message each, placed before the rest of the turn, as vLLM's and LiteLLM's Anthropic front ends do;
- reasoning is passed as ``reasoning_content`` (and ``thinking``, which gpt-oss templates read), as
  ``transformers`` aliases it; keys whose value would be ``None`` are left out, as ``transformers`` drops them.
"""

from __future__ import annotations

from typing import Any

from ...request import (
    ImagePart,
    Message,
    Part,
    Request,
    TextPart,
    ThinkingPart,
    Tool,
    ToolCallPart,
    ToolResultPart,
    VideoPart,
)


def tool_schema(tool: Tool) -> dict[str, Any]:
    """A tool in the OpenAI ``{"type": "function", "function": {...}}`` form templates expect."""
    function: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        function["description"] = tool.description
    if tool.parameters is not None:
        function["parameters"] = tool.parameters
    function.update(tool.extra)
    return {"type": "function", "function": function}


def _content(parts: list[Part], as_list: bool, iterates: bool,
             placeholder: str | None = None) -> str | list[dict[str, Any]]:
    visible = [p for p in parts if isinstance(p, TextPart | ImagePart | VideoPart)]
    if as_list and iterates:
        out: list[dict[str, Any]] = []
        for p in visible:
            if isinstance(p, TextPart):
                out.append({"type": "text", "text": p.text})
            elif isinstance(p, ImagePart):
                out.append({"type": "image"})
            else:
                out.append({"type": "video"})
        return out
    texts = [p.text for p in visible if isinstance(p, TextPart)]
    n_images = sum(isinstance(p, ImagePart) for p in visible)
    if placeholder and n_images:
        return "\n".join([placeholder] * n_images + ["\n".join(texts)])
    return "\n".join(texts)


def _arguments(call: ToolCallPart, want_string: bool) -> dict[str, Any] | str:
    return call.arguments_text if want_string else call.arguments_object


def template_message(msg: Message, *, iterates: bool, args_as_string: bool,
                     media_placeholder: str | None = None) -> dict[str, Any]:
    parts = msg.parts
    if (len(parts) == 1 and type(parts[0]) is TextPart and msg.role != "tool" and msg.name is None
            and not (msg.content_is_list and iterates)):
        # most messages are a role and one text: what the general path below gives them, at a third of its cost
        # (a 1,000-message request spent ~1 ms here, as long as MiniJinja took to render it)
        return {"role": msg.role, "content": parts[0].text}
    out: dict[str, Any] = {"role": msg.role}
    reasoning = [p.text for p in msg.parts if isinstance(p, ThinkingPart) and not p.redacted]
    if msg.role == "tool":
        result = next((p for p in msg.parts if isinstance(p, ToolResultPart)), None)
        if result is None:
            out["content"] = _content(msg.parts, msg.content_is_list, iterates, media_placeholder)
        elif isinstance(result.content, str):
            out["content"] = result.content
        else:
            out["content"] = _content(result.content, msg.content_is_list, iterates, media_placeholder)
        if result is not None and result.tool_call_id is not None:
            out["tool_call_id"] = result.tool_call_id
        name = msg.name or (result.name if result is not None else None)
        if name is not None:
            out["name"] = name
        return out
    out["content"] = _content(msg.parts, msg.content_is_list, iterates, media_placeholder)
    calls = [p for p in msg.parts if isinstance(p, ToolCallPart)]
    if calls:
        out["tool_calls"] = [
            {
                **({"id": c.id} if c.id is not None else {}),
                "type": "function",
                "function": {"name": c.name, "arguments": _arguments(c, args_as_string)},
            }
            for c in calls
        ]
    if msg.name is not None:
        out["name"] = msg.name
    if reasoning:
        text = "\n".join(reasoning)
        out = {"thinking": text, **out, "reasoning_content": text}
    return out


def split_tool_results(messages: list[Message]) -> list[Message]:
    """Open-model turns: each tool result of a user turn becomes its own ``tool`` message, before what else the
    turn holds (dropped when nothing else is left). Chat templates only know tool results as ``tool`` messages;
    closed-model framings read the turns unsplit, since that is how those providers bill them."""
    out: list[Message] = []
    for msg in messages:
        parts = msg.parts
        if msg.role != "user" or (len(parts) == 1 and type(parts[0]) is TextPart):  # most messages: no result
            out.append(msg)
            continue
        results = [p for p in parts if isinstance(p, ToolResultPart)]
        if not results:
            out.append(msg)
            continue
        out.extend(Message(role="tool", parts=[p], content_is_list=not isinstance(p.content, str)) for p in results)
        rest: list[Part] = [p for p in msg.parts if not isinstance(p, ToolResultPart)]
        if rest:
            out.append(Message(role=msg.role, parts=rest, name=msg.name, content_is_list=msg.content_is_list))
    return out


def template_messages(request: Request, *, iterates: bool, args_as_string: bool,
                      media_placeholder: str | None = None) -> list[dict[str, Any]]:
    return [template_message(m, iterates=iterates, args_as_string=args_as_string,
                             media_placeholder=media_placeholder) for m in split_tool_results(request.messages)]


def template_tools(request: Request) -> list[dict[str, Any]] | None:
    return [tool_schema(t) for t in request.tools] if request.tools else None
