"""OpenAI Responses API input (``input`` + ``instructions`` + ``tools``), used by ``POST /v1/responses/input_tokens``
(→ ``{"object": "response.input_tokens", "input_tokens": N}``) and by the Bifrost dialect.

Items are converted as vLLM converts a Responses request to a chat completion: ``instructions`` is a system
message first; a ``message`` item is a message; consecutive ``reasoning`` and ``function_call`` items join one
assistant message (reasoning as its reasoning text, calls as its tool calls); a ``function_call_output`` is a
``tool`` message; ``custom_tool_call`` / ``custom_tool_call_output`` items are the same with free-form text. Tools
may be the Responses flat shape ``{type: "function", name, parameters}``, the chat nested shape ``{type:
"function", function: {...}}``, ``custom`` tools or a ``namespace`` of them. What the API takes but whose prompt
is not public (hosted tools such as web search and their replayed items, stored items by ``item_reference``) is
accepted and left out of the count, which says so in its notes and is not labelled exact (docs/accepted-bodies.md).
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidRequest, TokcountError
from ..request import Message, Part, Request, TextPart, ThinkingPart, Tool, ToolCallPart, ToolChoice, ToolResultPart
from ..settings import Settings
from ._api import Dialect, Job, Native, Outcome, Route, openai_style
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


def format(job: Job, result: Outcome) -> dict[str, Any]:
    assert result.count is not None
    return {"object": "response.input_tokens", "input_tokens": result.count.input_tokens}


def error(err: TokcountError) -> tuple[int, dict[str, Any]]:
    return openai_style(err, TYPES, codes=CODES)


def parse_request(body: dict[str, Any], *, input_required: bool) -> Request:
    messages: list[Message] = []
    tools: list[Tool] = []
    notes: list[str] = []
    instructions = string(body.get("instructions"), "instructions", optional=True)
    if instructions:
        messages.append(Message(role="system", parts=[TextPart(instructions)]))
    raw = body.get("input")
    if raw is None and input_required:
        raise InvalidRequest("input is required.", param="input")
    if isinstance(raw, str):
        messages.append(Message(role="user", parts=[TextPart(raw)]))
    elif raw is not None:
        messages.extend(parse_items(arr(raw, "input", non_empty=input_required), "input", tools=tools, notes=notes))
    if not messages:
        why = f" ({'; '.join(notes)})" if notes else ""
        raise InvalidRequest(f"input must not be empty (give input or instructions): nothing in it can be counted"
                             f"{why}.", param="input")
    raw_text = body.get("text")
    text: dict[str, Any] = raw_text if isinstance(raw_text, dict) else {}
    return Request(messages=messages, tools=parse_tools(body.get("tools"), notes) + tools,
                   tool_choice=parse_tool_choice(body.get("tool_choice")), thinking=parse_reasoning(body),
                   api="responses", response_format=structured_format(text.get("format")),
                   notes=list(dict.fromkeys(notes)))


#: input items of hosted tools (and the API's own bookkeeping) that the Responses API takes back in ``input``: what
#: the model is shown for them is not public, so they are accepted and left out of the count, which says so
HOSTED_ITEMS = frozenset({
    "file_search_call", "computer_call", "computer_call_output", "web_search_call", "tool_search_call",
    "tool_search_output", "configuration_update", "compaction", "compaction_trigger", "image_generation_call",
    "code_interpreter_call", "local_shell_call", "local_shell_call_output", "shell_call", "shell_call_output",
    "apply_patch_call", "apply_patch_call_output", "mcp_list_tools", "mcp_approval_request",
    "mcp_approval_response", "mcp_call", "program", "program_output"})


def parse_items(items: list[Any], where: str, *, tools: list[Tool], notes: list[str]) -> list[Message]:
    """The ``input`` items as messages; ``additional_tools`` items add to ``tools``, and what is left out of the
    count (hosted-tool items, stored items referenced by id) is said in ``notes``."""
    out: list[Message] = []
    #: the assistant message that reasoning / function_call items are still adding to
    open_assistant: Message | None = None
    for i, raw in enumerate(items):
        iwhere = f"{where}[{i}]"
        item = obj(raw, iwhere)
        kind = string(item.get("type"), f"{iwhere}.type", optional=True)  # looked up in a set below
        if kind is None:  # an easy message has a role; an item with neither is a reference to a stored item
            kind = "message" if "role" in item or "id" not in item else "item_reference"
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
        elif kind in ("function_call", "custom_tool_call"):
            name = string(item.get("name"), f"{iwhere}.name") or ""
            if kind == "function_call":
                arguments = tool_arguments(item.get("arguments", "{}"), f"{iwhere}.arguments")
            else:  # a custom tool's free-form text input
                arguments = string(item.get("input"), f"{iwhere}.input") or ""
            call = ToolCallPart(name=name, arguments=arguments,
                                id=string(item.get("call_id"), f"{iwhere}.call_id", optional=True))
            if open_assistant is None:
                open_assistant = Message(role="assistant", parts=[])
                out.append(open_assistant)
            open_assistant.parts.append(call)
        elif kind in ("function_call_output", "custom_tool_call_output"):
            out.append(_call_output(item, iwhere))
            open_assistant = None
        elif kind == "additional_tools":  # tools made available from here on: counted with the request's tools
            tools.extend(parse_tools(item.get("tools"), notes, f"{iwhere}.tools"))
            notes.append("additional_tools items counted with the request's tools, not at their place")
        elif kind == "item_reference":
            string(item.get("id"), f"{iwhere}.id")
            notes.append("item_reference items (stored items) are not fetched and not in the count")
        elif kind in HOSTED_ITEMS:
            notes.append(f"{kind} items (hosted tools) are not in the count: what the model is shown for them is "
                         "not public")
        else:
            raise InvalidRequest(
                f"{iwhere}.type {kind!r} is not a Responses input item type (message, function_call, "
                "function_call_output, custom_tool_call, custom_tool_call_output, reasoning, additional_tools, "
                "item_reference, or a hosted tool's item).", param=f"{iwhere}.type")
    return out


def _call_output(item: dict[str, Any], where: str) -> Message:
    """A ``function_call_output`` or ``custom_tool_call_output``: a tool message with the text or parts."""
    call_id = string(item.get("call_id"), f"{where}.call_id")
    output = item.get("output", "")
    content: str | list[Part]
    if isinstance(output, str):
        content = output
    else:
        content = [parse_part(p, f"{where}.output[{j}]") for j, p in enumerate(arr(output, f"{where}.output"))]
    return Message(role="tool", parts=[ToolResultPart(content=content, tool_call_id=call_id)],
                   content_is_list=not isinstance(content, str))


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


#: the Responses API's hosted tools: accepted, left out of the count (their definitions are OpenAI's own), noted
HOSTED_TOOLS = frozenset({
    "file_search", "computer", "computer_use_preview", "web_search", "web_search_2025_08_26", "web_search_preview",
    "web_search_preview_2025_03_11", "mcp", "code_interpreter", "programmatic_tool_calling", "image_generation",
    "local_shell", "shell", "tool_search", "apply_patch"})


def parse_tools(raw: Any, notes: list[str], where: str = "tools") -> list[Tool]:
    """Function and custom tools (a ``namespace``'s tools among them); hosted tools left out and noted."""
    if raw is None:
        return []
    tools = []
    for i, t in enumerate(arr(raw, where)):
        twhere = f"{where}[{i}]"
        t = obj(t, twhere)
        kind = string(t.get("type"), f"{twhere}.type", optional=True) or "function"
        if kind == "namespace":  # function / custom tools grouped under a name the model calls them by
            string(t.get("name"), f"{twhere}.name")
            tools.extend(parse_tools(t.get("tools"), notes, f"{twhere}.tools"))
            notes.append("namespace tools counted as their member tools (the namespace's own framing is not "
                         "public)")
        elif kind in HOSTED_TOOLS:
            notes.append(f"hosted tool {kind!r} is not in the count: its definition is not public")
        elif kind == "custom" or isinstance(t.get("function"), dict):
            function = dict(t)
            if isinstance(t.get("function"), dict):
                function = {"function": {k: v for k, v in t["function"].items() if k != "arguments"}}
            tools.append(parse_tool(function, twhere))  # ``arguments`` is no part of a definition (Bifrost's page)
        elif kind == "function":
            name = string(t.get("name"), f"{twhere}.name") or ""
            if not name:
                raise InvalidRequest(f"{twhere}.name must not be empty.", param=f"{twhere}.name")
            params = t.get("parameters")
            if params is not None and not isinstance(params, dict):
                raise InvalidRequest(f"{twhere}.parameters must be an object, got {type_name(params)}.",
                                     param=f"{twhere}.parameters")
            tools.append(Tool(name=name, description=string(t.get("description"), f"{twhere}.description",
                                                            optional=True), parameters=params))
        else:
            raise InvalidRequest(f"{twhere}.type {kind!r} is not a Responses tool type (function, custom, "
                                 f"namespace, or a hosted tool: {', '.join(sorted(HOSTED_TOOLS))}).",
                                 param=f"{twhere}.type")
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
    kind = string(raw.get("type"), "tool_choice.type", optional=True)
    function = raw.get("function")
    name = function.get("name") if isinstance(function, dict) else raw.get("name")
    if kind == "allowed_tools":
        return ToolChoice(mode="required" if raw.get("mode") == "required" else "auto")
    if name is None and kind in ("required", "any"):
        return ToolChoice(mode="required")
    if name is None and kind in ("auto", "none"):
        return ToolChoice(mode="none" if kind == "none" else "auto")
    if kind in HOSTED_TOOLS or kind == "computer_use":
        return ToolChoice(mode="auto")  # a hosted tool forced: its definition is not counted either
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


DIALECT = Dialect("openai-responses", error, doc=__doc__ or "", conversation=(("input",),), fallback_errors=True,
                  native=Native("openai", ("input", "instructions", "tools", "tool_choice", "reasoning", "text",
                                           "parallel_tool_calls", "truncation")),
                  routes=(
    Route("/v1/responses/input_tokens", "OpenAI Responses input token count", parse, format,
          example={"model": "qwen3.5", "input": "Hi"}),
))
