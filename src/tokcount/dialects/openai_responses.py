"""OpenAI Responses API input (``input`` + ``instructions`` + ``tools``), used by ``POST /v1/responses/input_tokens``
(→ ``{"object": "response.input_tokens", "input_tokens": N}``) and by the Bifrost dialect.

Items are converted as vLLM converts a Responses request to a chat completion: ``instructions`` is a system
message first; a ``message`` item is a message; consecutive ``reasoning`` and ``function_call`` items join one
assistant message (reasoning as its reasoning text, calls as its tool calls); a ``function_call_output`` is a
``tool`` message. Tools may be the Responses flat shape ``{type: "function", name, parameters}`` or the chat
nested shape ``{type: "function", function: {...}}``; hosted tools (web search, file search, ...) are refused
because what they add to the prompt is not public.
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidRequest, TokcountError
from ..request import Message, Part, Request, TextPart, ThinkingPart, Tool, ToolCallPart, ToolChoice, ToolResultPart
from ..settings import Settings
from ._api import Dialect, Job, Result, Route, openai_style
from ._fields import arr, model_name, obj, string, tool_arguments, type_name
from .openai_chat import parse_part, parse_tool, structured_format

NAME = "openai"
ROLES = ("system", "developer", "user", "assistant")
TYPES = {
    "authentication": "invalid_request_error",
    "model_not_allowed": "permission_error",
    "internal": "server_error",
}
CODES = {"unknown_model": "model_not_found", "missing_assets": "model_not_found",
         "authentication": "invalid_api_key"}


def parse(body: Any, settings: Settings) -> Job:
    body = obj(body, "body")
    model = model_name(body.get("model"), settings.default_model, required=False)
    request = parse_request(body, input_required=False)
    return Job(models=[model], request=request)


def format(job: Job, result: Result) -> dict[str, Any]:
    assert result.count is not None
    return {"object": "response.input_tokens", "input_tokens": result.count.input_tokens}


def error(err: TokcountError) -> tuple[int, dict[str, Any]]:
    return openai_style(err, TYPES, codes=CODES)


def parse_request(body: dict[str, Any], *, input_required: bool) -> Request:
    messages: list[Message] = []
    instructions = string(body.get("instructions"), "instructions", optional=True)
    if instructions:
        messages.append(Message(role="system", parts=[TextPart(instructions)]))
    raw = body.get("input")
    if raw is None and input_required:
        raise InvalidRequest("input is required.", param="input")
    if isinstance(raw, str):
        messages.append(Message(role="user", parts=[TextPart(raw)]))
    elif raw is not None:
        messages.extend(parse_items(arr(raw, "input", non_empty=input_required), "input"))
    if not messages:
        raise InvalidRequest("input must not be empty (give input or instructions).", param="input")
    raw_text = body.get("text")
    text: dict[str, Any] = raw_text if isinstance(raw_text, dict) else {}
    return Request(messages=messages, tools=parse_tools(body.get("tools")),
                   tool_choice=parse_tool_choice(body.get("tool_choice")), thinking=parse_reasoning(body),
                   api="responses", response_format=structured_format(text.get("format")))


def parse_items(items: list[Any], where: str) -> list[Message]:
    out: list[Message] = []
    #: the assistant message that reasoning / function_call items are still adding to
    open_assistant: Message | None = None
    for i, raw in enumerate(items):
        iwhere = f"{where}[{i}]"
        item = obj(raw, iwhere)
        kind = item.get("type", "message")
        if kind == "message":
            msg = parse_message(item, iwhere)
            if msg.role == "assistant" and open_assistant is not None and _only_reasoning(open_assistant):
                open_assistant.parts.extend(msg.parts)  # reasoning followed by its answer: one turn
                open_assistant.content_is_list = msg.content_is_list
                continue
            out.append(msg)
            open_assistant = msg if msg.role == "assistant" else None
        elif kind == "reasoning":
            text = _reasoning_text(item, iwhere)
            if open_assistant is None:
                open_assistant = Message(role="assistant", parts=[])
                out.append(open_assistant)
            open_assistant.parts.append(ThinkingPart(text))
        elif kind == "function_call":
            name = string(item.get("name"), f"{iwhere}.name") or ""
            raw_args = item.get("arguments", "{}")
            call = ToolCallPart(name=name, arguments=tool_arguments(raw_args, f"{iwhere}.arguments"),
                                id=string(item.get("call_id"), f"{iwhere}.call_id", optional=True))
            if open_assistant is None:
                open_assistant = Message(role="assistant", parts=[])
                out.append(open_assistant)
            open_assistant.parts.append(call)
        elif kind == "function_call_output":
            call_id = string(item.get("call_id"), f"{iwhere}.call_id")
            output = item.get("output", "")
            content: str | list[Part]
            if isinstance(output, str):
                content = output
            else:
                content = [parse_part(p, f"{iwhere}.output[{j}]")
                           for j, p in enumerate(arr(output, f"{iwhere}.output"))]
            out.append(Message(role="tool", parts=[ToolResultPart(content=content, tool_call_id=call_id)],
                               content_is_list=not isinstance(content, str)))
            open_assistant = None
        else:
            raise InvalidRequest(
                f"{iwhere}.type {kind!r} is not supported (message, function_call, function_call_output, "
                "reasoning).", param=f"{iwhere}.type")
    return out


def _only_reasoning(msg: Message) -> bool:
    return all(isinstance(p, ThinkingPart) for p in msg.parts)


def parse_message(item: dict[str, Any], where: str) -> Message:
    role = item.get("role")
    if role not in ROLES:
        raise InvalidRequest(f"{where}.role must be one of {', '.join(ROLES)}; got {role!r}.", param=f"{where}.role")
    content = item.get("content")
    if isinstance(content, str):
        return Message(role=role, parts=[TextPart(content)])
    parts = [parse_part(p, f"{where}.content[{j}]") for j, p in enumerate(arr(content, f"{where}.content"))]
    return Message(role=role, parts=parts, content_is_list=True)


def _reasoning_text(item: dict[str, Any], where: str) -> str:
    texts = []
    for key in ("content", "summary"):
        value = item.get(key)
        if value is None:
            continue
        for j, part in enumerate(arr(value, f"{where}.{key}")):
            part = obj(part, f"{where}.{key}[{j}]")
            texts.append(string(part.get("text"), f"{where}.{key}[{j}].text") or "")
        if texts:
            break  # full reasoning text when given, else its summary
    return "\n".join(texts)


def parse_tools(raw: Any) -> list[Tool]:
    if raw is None:
        return []
    tools = []
    for i, t in enumerate(arr(raw, "tools")):
        where = f"tools[{i}]"
        t = obj(t, where)
        kind = t.get("type", "function")
        if kind != "function":
            raise InvalidRequest(f"{where}.type {kind!r} is not supported: only function tools can be counted.",
                                 param=f"{where}.type")
        if isinstance(t.get("function"), dict):
            function = dict(t["function"])
            function.pop("arguments", None)  # not part of a definition (the Bifrost page's example has it)
            tools.append(parse_tool({"function": function}, where))
            continue
        name = string(t.get("name"), f"{where}.name") or ""
        if not name:
            raise InvalidRequest(f"{where}.name must not be empty.", param=f"{where}.name")
        params = t.get("parameters")
        if params is not None and not isinstance(params, dict):
            raise InvalidRequest(f"{where}.parameters must be an object, got {type_name(params)}.",
                                 param=f"{where}.parameters")
        tools.append(Tool(name=name, description=string(t.get("description"), f"{where}.description",
                                                        optional=True), parameters=params))
    return tools


def parse_tool_choice(raw: Any) -> ToolChoice | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        modes = {"auto": "auto", "none": "none", "required": "required", "any": "required"}
        if raw not in modes:
            raise InvalidRequest(f"tool_choice must be auto, none, required, any or a tool; got {raw!r}.",
                                 param="tool_choice")
        return ToolChoice(mode=modes[raw])  # type: ignore[arg-type]
    raw = obj(raw, "tool_choice")
    function = raw.get("function")
    name = function.get("name") if isinstance(function, dict) else raw.get("name")
    if name is None and raw.get("type") in ("auto", "none", "required", "any", "allowed_tools"):
        return ToolChoice(mode="required" if raw["type"] in ("required", "any") else "auto"
                          if raw["type"] == "allowed_tools" else raw["type"])
    return ToolChoice(mode="tool", name=string(name, "tool_choice.name"))


def parse_reasoning(body: dict[str, Any]) -> bool | None:
    """``reasoning.effort``: ``"none"`` turns a hybrid model's thinking off, any other effort on."""
    raw = body.get("reasoning")
    if raw is None:
        return None
    effort = obj(raw, "reasoning").get("effort")
    if effort is None:
        return None
    effort = string(effort, "reasoning.effort")
    return effort != "none"


DIALECT = Dialect("openai-responses", error, doc=__doc__ or "", routes=(
    Route("/v1/responses/input_tokens", "OpenAI Responses input token count", parse, format,
          example={"model": "qwen3.5", "input": "Hi"}),
))
