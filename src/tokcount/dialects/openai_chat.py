"""OpenAI chat-completions shape (``{"messages": [...], "tools": [...]}``) → canonical request.

This is also the shape the library's :func:`tokcount.count` accepts as a plain dict, and the CLI's default
dialect (``openai-chat``): it has no HTTP route, and its answer is the library's :class:`~tokcount.token_count.Count`
as a dict (breakdown included), its errors ``{"error": {"type", "message", "param"}}``.
"""

from __future__ import annotations

import difflib
from typing import Any

from ..errors import InvalidRequest, TokcountError
from ..renderers.jinja import kwargs as template_kwargs
from ..request import (
    DocumentPart,
    ImagePart,
    Message,
    Part,
    Request,
    Role,
    TextPart,
    ThinkingPart,
    Tool,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
    VideoPart,
)
from ..settings import Settings
from ._api import Dialect, Job, Outcome, Route
from ._fields import arr, boolean, model_name, obj, string, tool_arguments, type_name

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
REASONING_KEYS = ("reasoning_content", "reasoning", "thinking")
#: the keys a chat message may have on every OpenAI-chat-like route (StepFun, Moonshot, vLLM, the library's own
#: shape): what is read, Moonshot's ``partial``, and what an assistant turn echoed back from a chat completion
#: carries (``refusal``, ``audio``, ``annotations``: accepted, not counted). Any other key is a 400 naming it
#: (a misspelled ``contnet`` would otherwise count as an empty message). ``tokcount.schemas._common.ChatMessage``
#: lists the same keys (tests/dialects/test_schemas.py checks it).
MESSAGE_KEYS = frozenset({"role", "content", "name", "tool_calls", "tool_call_id", "function_call", *REASONING_KEYS,
                          "partial", "refusal", "audio", "annotations"})


def parse_request(body: Any) -> Request:
    """Parse an OpenAI chat-completions body (model and sampling fields are ignored here)."""
    body = obj(body, "body")
    messages = [_plain_message(m) or parse_message(m, f"messages[{i}]")
                for i, m in enumerate(arr(body.get("messages"), "messages"))]
    tools = parse_tools(body.get("tools"), "tools")
    tools_given = bool(tools)
    if body.get("functions") is not None:  # the legacy name for tools
        legacy = arr(body["functions"], "functions")
        tools += [parse_tool({"function": f}, f"functions[{i}]") for i, f in enumerate(legacy)]
    kwargs = body.get("chat_template_kwargs") or {}
    kwargs = template_kwargs.check(dict(obj(kwargs, "chat_template_kwargs")))
    thinking = kwargs.get("enable_thinking", kwargs.get("thinking"))
    return Request(
        messages=messages,
        tools=tools,
        tool_choice=parse_tool_choice(body.get("tool_choice"), "tool_choice"),
        thinking=thinking if isinstance(thinking, bool) else None,
        template_kwargs=kwargs,
        add_generation_prompt=boolean(body.get("add_generation_prompt"), "add_generation_prompt"),
        api="functions" if _legacy_functions(body, tools_given) else None,
        response_format=structured_format(body.get("response_format")),
    )


def structured_format(raw: Any) -> dict[str, Any] | None:
    """A ``response_format`` / ``text.format`` that asks for JSON (``json_schema``, ``json_object``), else None."""
    if isinstance(raw, dict) and raw.get("type") not in (None, "text"):
        return raw
    return None


def _legacy_functions(body: dict[str, Any], tools_given: bool) -> bool:
    """The 2023 function-calling shape (``functions``, ``function_call`` turns, ``function`` results) and no
    ``tools``: OpenAI prices its forced calls and calls differently from the tools API (renderers/openai/
    framing.toml)."""
    if tools_given:
        return False
    if body.get("functions") is not None:
        return True
    messages = body.get("messages") or []
    return any(isinstance(m, dict) and (m.get("function_call") is not None or m.get("role") == "function")
               for m in messages)


#: the roles whose plain ``{"role", "content": str}`` message parses to one text part, with nothing else to read
_PLAIN_ROLES: frozenset[Role] = frozenset({"system", "developer", "user", "assistant"})


def _plain_message(raw: Any) -> Message | None:
    """A ``{"role", "content": str}`` message of a plain role, parsed; None for any other message. Most messages
    are one: :func:`parse_message` gives exactly this, at a third of the cost, and its ``where`` (the message's
    path for errors) need not be built for them (a 1,000-message body spent ~1 ms in parsing)."""
    if type(raw) is dict and len(raw) == 2:
        role, text = raw.get("role"), raw.get("content")
        if type(text) is str and role in _PLAIN_ROLES:
            return Message(role, [TextPart(text)])
    return None


def parse_message(raw: Any, where: str) -> Message:
    plain = _plain_message(raw)
    if plain is not None:
        return plain
    raw = obj(raw, where)
    check_message_keys(raw, where)
    role = raw.get("role")
    if role not in ROLES:
        raise InvalidRequest(f"{where}.role must be one of {', '.join(ROLES)}; got {role!r}.", param=f"{where}.role")
    if role == "function":
        role = "tool"
    content = raw.get("content")
    parts: list[Part] = []
    for key in REASONING_KEYS:
        reasoning = raw.get(key)
        if isinstance(reasoning, str):
            parts.append(ThinkingPart(reasoning))
            break
    content_parts = parse_content(content, f"{where}.content")
    name = string(raw.get("name"), f"{where}.name", optional=True)
    if role == "tool":
        call_id = string(raw.get("tool_call_id"), f"{where}.tool_call_id", optional=True)
        result: str | list[Part] = content if isinstance(content, str) else content_parts
        parts.append(ToolResultPart(content=result if result is not None else "", tool_call_id=call_id, name=name))
    else:
        parts.extend(content_parts)
    for i, call in enumerate(arr(raw.get("tool_calls") or [], f"{where}.tool_calls")):
        parts.append(parse_tool_call(call, f"{where}.tool_calls[{i}]"))
    if raw.get("function_call") is not None:
        parts.append(parse_tool_call({"function": raw["function_call"]}, f"{where}.function_call"))
    return Message(
        role=role,
        parts=parts,
        name=name,
        content_is_list=isinstance(content, list),
    )


def check_message_keys(raw: dict[str, Any], where: str) -> None:
    """Refuse a key no chat message has, naming it and the closest known key (``contnet`` → ``content``)."""
    for key in raw:
        if key not in MESSAGE_KEYS:
            close = difflib.get_close_matches(str(key), sorted(MESSAGE_KEYS), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else f" Known keys: {', '.join(sorted(MESSAGE_KEYS))}."
            raise InvalidRequest(f"{where} has an unknown key {key!r}.{hint}", param=f"{where}.{key}")


def parse_content(content: Any, where: str) -> list[Part]:
    if content is None:
        return []
    if isinstance(content, str):
        return [TextPart(content)]
    return [parse_part(p, f"{where}[{i}]") for i, p in enumerate(arr(content, where))]


def parse_part(raw: Any, where: str) -> Part:
    if isinstance(raw, str):
        return TextPart(raw)
    raw = obj(raw, where)
    kind = raw.get("type")
    if kind in ("text", "input_text", "output_text"):
        return TextPart(string(raw.get("text"), f"{where}.text") or "")
    if kind in ("image_url", "input_image", "image"):
        return parse_image(raw, where)
    if kind in ("video_url", "video"):
        video = raw.get("video_url", raw.get("video"))
        url = video.get("url") if isinstance(video, dict) else video
        return VideoPart(string(url, f"{where}.video_url.url") or "")
    if kind in ("file", "input_file", "document"):
        file = raw.get("file") if isinstance(raw.get("file"), dict) else raw
        return DocumentPart(
            source=file.get("file_data") or file.get("file_url") or file.get("file_id"),
            title=file.get("filename"),
        )
    if kind in ("thinking", "reasoning"):
        return ThinkingPart(string(raw.get("thinking", raw.get("text")), f"{where}.thinking") or "")
    if kind == "refusal":  # an assistant's refusal sent back as a content part (Chat and Responses take it)
        return TextPart(string(raw.get("refusal"), f"{where}.refusal") or "")
    raise InvalidRequest(f"{where}.type {kind!r} is not a supported content part type.", param=f"{where}.type")


def parse_image(raw: dict[str, Any], where: str) -> ImagePart:
    image = raw.get("image_url", raw.get("image"))
    detail = raw.get("detail")
    if isinstance(image, dict):
        detail = image.get("detail", detail)
        image = image.get("url")
    if image is None and raw.get("file_id") is not None:  # Responses ``input_image`` of an uploaded file
        image = f"file_id:{string(raw['file_id'], f'{where}.file_id')}"
    url = string(image, f"{where}.image_url.url")
    return ImagePart(url=url or "", detail=detail if isinstance(detail, str) else None)


def parse_tool_call(raw: Any, where: str) -> ToolCallPart:
    raw = obj(raw, where)
    if raw.get("type") == "custom":  # a custom tool's call: free-form text input, not JSON arguments
        custom = obj(raw.get("custom"), f"{where}.custom")
        return ToolCallPart(name=string(custom.get("name"), f"{where}.custom.name") or "",
                            arguments=string(custom.get("input"), f"{where}.custom.input") or "",
                            id=string(raw.get("id"), f"{where}.id", optional=True))
    function = obj(raw.get("function", raw), f"{where}.function")
    name = string(function.get("name"), f"{where}.function.name") or ""
    raw_args = function.get("arguments", function.get("input"))
    arguments = tool_arguments(raw_args, f"{where}.function.arguments")
    return ToolCallPart(name=name, arguments=arguments, id=string(raw.get("id"), f"{where}.id", optional=True))


def parse_tools(raw: Any, where: str) -> list[Tool]:
    if raw is None:
        return []
    return [parse_tool(t, f"{where}[{i}]") for i, t in enumerate(arr(raw, where))]


def parse_tool(raw: Any, where: str) -> Tool:
    raw = obj(raw, where)
    if raw.get("type") == "custom" and "function" not in raw:  # Chat nests it under ``custom``, Responses not
        if "custom" in raw:
            return parse_custom_tool(obj(raw["custom"], f"{where}.custom"), f"{where}.custom")
        return parse_custom_tool(raw, where)
    function = raw.get("function", raw)
    function = obj(function, f"{where}.function")
    name = string(function.get("name"), f"{where}.function.name") or ""
    if not name:
        raise InvalidRequest(f"{where}.function.name must not be empty.", param=f"{where}.function.name")
    params = function.get("parameters")
    if params is not None and not isinstance(params, dict):
        raise InvalidRequest(
            f"{where}.function.parameters must be an object, got {type_name(params)}.",
            param=f"{where}.function.parameters",
        )
    extra = {k: v for k, v in function.items() if k not in ("name", "description", "parameters")}
    description = function.get("description")
    return Tool(name=name, description=description if isinstance(description, str) else None,
                parameters=params, extra=extra)


def parse_custom_tool(custom: dict[str, Any], where: str) -> Tool:
    """A custom tool (free-form text input, optionally a grammar ``format``): a tool with no JSON schema."""
    name = string(custom.get("name"), f"{where}.name") or ""
    if not name:
        raise InvalidRequest(f"{where}.name must not be empty.", param=f"{where}.name")
    description = string(custom.get("description"), f"{where}.description", optional=True)
    extra = {"format": custom["format"]} if custom.get("format") is not None else {}
    return Tool(name=name, description=description, parameters=None, extra=extra)


def parse_tool_choice(raw: Any, where: str) -> ToolChoice | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        if raw not in ("auto", "none", "required", "any"):
            raise InvalidRequest(f"{where} must be auto, none, required or a tool; got {raw!r}.", param=where)
        return ToolChoice(mode="required" if raw == "any" else raw)  # type: ignore[arg-type]
    raw = obj(raw, where)
    if raw.get("type") == "allowed_tools":  # a subset of the tools, in mode auto or required
        allowed = obj(raw.get("allowed_tools"), f"{where}.allowed_tools")
        mode = allowed.get("mode", "auto")
        if mode not in ("auto", "required"):
            raise InvalidRequest(f"{where}.allowed_tools.mode must be auto or required; got {mode!r}.",
                                 param=f"{where}.allowed_tools.mode")
        return ToolChoice(mode=mode)
    function = raw.get("function", raw.get("custom"))
    name = function.get("name") if isinstance(function, dict) else raw.get("name")
    if not isinstance(name, str):
        raise InvalidRequest(f"{where}.function.name must be a string.", param=f"{where}.function.name")
    return ToolChoice(mode="tool", name=name)


def parse(body: Any, settings: Settings) -> Job:
    """A chat body, or a bare list of messages; a missing ``model`` means the default model."""
    if isinstance(body, list):
        body = {"messages": body}
    body = obj(body, "body")
    model = model_name(body.get("model"), settings.default_model, required=False)
    return Job(models=[model], request=parse_request(body), breakdown=True)


def format(job: Job, result: Outcome) -> dict[str, Any]:
    assert result.count is not None
    return result.count.to_dict()


def error(err: TokcountError) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"type": err.kind, "message": err.message}
    if err.param:
        body["param"] = err.param
    return err.status, {"error": body}


DIALECT = Dialect("openai-chat", error, doc=__doc__ or "", routes=(
    Route(None, "OpenAI chat body, answered as the library's Count", parse, format,
          example={"model": "qwen3.5", "messages": [{"role": "user", "content": "Hi"}]}),
))
