"""Anthropic Messages ``POST /v1/messages/count_tokens`` (also ``?beta=true``) → ``{"input_tokens": N}``.

Converted to the canonical request the way vLLM's and LiteLLM's Anthropic front ends convert it to a chat
completion, so the count is what an open-weight model served behind them receives:

- ``system`` (a string, a list of strings, of ``{text}`` or of ``{type: "text", text}`` blocks, or null) becomes
  one system message, the texts joined with ``"\\n"``;
- turns stay as the caller sent them: ``tool_use`` blocks become the assistant's tool calls, ``tool_result``
  blocks stay in their user turn as tool results (open-model renderers split them into ``tool`` messages when
  they prepare a template's messages, as vLLM does; Claude bills the turn as one);
- a ``role: "system"`` message between turns (the API accepts it) becomes a system message in place;
- ``thinking`` / ``redacted_thinking`` blocks become reasoning; ``image`` blocks images; ``document`` blocks
  documents; server-tool blocks (``server_tool_use``, ``web_search_tool_result``, ...) a tool call or the text of
  their content, ``search_result`` its title, source and texts;
- ``thinking: {type: "enabled"}`` / ``{enabled: true}`` (or ``between_tools``) turns a hybrid model's thinking
  switch on, ``disabled`` / ``false`` off;
- blocks of newer API versions sent back with a turn: ``fallback`` is left out (the API does not render it),
  ``compaction`` is its summary, tool changes, MCP listings and browser state their JSON text; toolsets without a
  name are a tool named by their family, an ``mcp_toolset`` its pinned listing (docs/accepted-bodies.md).

Errors: ``{"type": "error", "error": {"type", "message"}}``; a body whose fields break the schema is a 422 (as the
seed server documents), malformed JSON and requests the model's template refuses are 400.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import InvalidRequest, TokcountError
from ..request import (
    DocumentPart,
    ImagePart,
    Message,
    Part,
    Request,
    TextPart,
    ThinkingPart,
    Tool,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
)
from ..settings import Settings
from ._api import Dialect, Job, Native, Outcome, Route
from ._fields import arr, boolean, model_name, obj, string, type_name

NAME = "anthropic"
ROLES = ("user", "assistant", "system")
TYPES = {
    "authentication": "authentication_error",
    "unknown_model": "not_found_error",
    "missing_assets": "not_found_error",
    "model_not_allowed": "permission_error",
    "request_too_large": "request_too_large",
    "internal": "api_error",
    "not_found": "not_found_error",  # no such route (tokcount.routing)
}


def parse(body: Any, settings: Settings) -> Job:
    body = obj(body, "body")
    model = model_name(body.get("model"), settings.default_model, required=True)
    name = body["model"]
    messages: list[Message] = []
    notes: list[str] = []
    system = parse_system(body.get("system"))
    if system is not None:
        messages.append(system)
    for i, m in enumerate(arr(body.get("messages"), "messages", non_empty=True)):
        messages.extend(parse_message(m, f"messages[{i}]", notes))
    for key in ("output_config", "cache_control", "metadata", "context_management"):
        if body.get(key) is not None:
            obj(body[key], key)
    request = Request(
        messages=messages,
        tools=parse_tools(body.get("tools"), notes),
        tool_choice=parse_tool_choice(body.get("tool_choice")),
        thinking=parse_thinking(body.get("thinking")),
        thinking_kind=thinking_kind(body.get("thinking")),
        notes=list(dict.fromkeys(notes)),
    )
    return Job(models=[model], request=request, extra={"requested": name})


def format(job: Job, result: Outcome) -> dict[str, Any]:
    assert result.count is not None
    return {"input_tokens": result.count.input_tokens}


def error(err: TokcountError) -> tuple[int, dict[str, Any]]:
    status = err.status
    if err.schema and err.kind == "invalid_request":
        status = 422
    kind = TYPES.get(err.kind, "invalid_request_error")
    return status, {"type": "error", "error": {"type": kind, "message": err.message}}


def parse_system(raw: Any, where: str = "system") -> Message | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        return Message(role="system", parts=[TextPart(raw)])
    texts = []
    for i, block in enumerate(arr(raw, where)):
        bwhere = f"{where}[{i}]"
        if isinstance(block, str):
            texts.append(block)
            continue
        block = obj(block, bwhere)
        kind = block.get("type", "text")
        if kind != "text":
            raise InvalidRequest(f"{bwhere}.type must be 'text', got {kind!r}.", param=f"{bwhere}.type")
        texts.append(string(block.get("text"), f"{bwhere}.text") or "")
    return Message(role="system", parts=[TextPart("\n".join(t for t in texts if t))])


def parse_message(raw: Any, where: str, notes: list[str]) -> list[Message]:
    """One Anthropic message → one canonical message, its blocks in order (tool results included); blocks the API
    does not render (``fallback``) are left out, and ``notes`` says which blocks were counted only approximately."""
    raw = obj(raw, where)
    role = raw.get("role")
    if role not in ROLES:
        raise InvalidRequest(f"{where}.role must be 'user', 'assistant' or 'system'; got {role!r}.",
                             param=f"{where}.role")
    content = raw.get("content")
    if isinstance(content, str):
        return [Message(role=role, parts=[TextPart(content)])]
    if role == "system":
        system = parse_system(content if content is not None else [], f"{where}.content")
        return [system] if system is not None else []
    blocks = arr(content, f"{where}.content")
    parts = [p for i, block in enumerate(blocks)
             if (p := parse_block(block, f"{where}.content[{i}]", role, notes)) is not None]
    return [Message(role=role, parts=parts, content_is_list=True)]


def parse_block(raw: Any, where: str, role: str, notes: list[str]) -> Part | None:
    if isinstance(raw, str):
        return TextPart(raw)
    raw = obj(raw, where)
    kind = string(raw.get("type"), f"{where}.type", optional=True)  # looked up in tables below: a string first
    if kind == "text":
        return TextPart(string(raw.get("text"), f"{where}.text") or "")
    if kind == "image":
        return parse_image(raw, where)
    if kind == "document":
        return parse_document(raw, where, notes)
    if kind == "tool_use":
        if role != "assistant":
            raise InvalidRequest(f"{where}: tool_use blocks belong to assistant messages.", param=f"{where}.type")
        name = string(raw.get("name"), f"{where}.name") or ""
        args = raw.get("input", {})
        if not isinstance(args, dict):
            raise InvalidRequest(f"{where}.input must be an object, got {type_name(args)}.", param=f"{where}.input")
        return ToolCallPart(name=name, arguments=args, id=string(raw.get("id"), f"{where}.id", optional=True))
    if kind == "tool_result":
        if role != "user":
            raise InvalidRequest(f"{where}: tool_result blocks belong to user messages.", param=f"{where}.type")
        call_id = string(raw.get("tool_use_id"), f"{where}.tool_use_id")
        content = raw.get("content", "")
        result: str | list[Part]
        if content is None or isinstance(content, str):
            result = content or ""
        else:
            result = [p for j, b in enumerate(arr(content, f"{where}.content"))
                      if (p := parse_block(b, f"{where}.content[{j}]", "user", notes)) is not None]
            if any(isinstance(p, ToolCallPart | ToolResultPart) for p in result):
                raise InvalidRequest(f"{where}.content may hold text, image and document blocks only.",
                                     param=f"{where}.content")
        return ToolResultPart(content=result, tool_call_id=call_id,
                              is_error=bool(boolean(raw.get("is_error"), f"{where}.is_error", default=False)))
    if kind == "thinking":
        return ThinkingPart(string(raw.get("thinking"), f"{where}.thinking") or "")
    if kind == "redacted_thinking":
        return ThinkingPart(string(raw.get("data"), f"{where}.data") or "", redacted=True)
    if kind == "fallback":  # marks a fallback hop in a replayed turn; the API does not render it
        return None
    server = parse_server_block(raw, kind, where, role, notes)
    if server is not None:
        return server
    raise InvalidRequest(
        f"{where}.type {kind!r} is not supported (text, image, document, tool_use, tool_result, thinking, "
        f"redacted_thinking, fallback, {', '.join(SERVER_BLOCKS)}).", param=f"{where}.type")


#: blocks the Messages API takes back when a conversation with its server tools (web search, code execution, ...)
#: is replayed; their content is counted as its JSON text (an estimate: how Claude renders them is not public)
SERVER_RESULTS = ("web_search_tool_result", "web_fetch_tool_result", "code_execution_tool_result",
                  "bash_code_execution_tool_result", "text_editor_code_execution_tool_result",
                  "tool_search_tool_result", "mcp_tool_result", "advisor_tool_result")
#: replayed blocks of newer API versions (beta) counted as the JSON text of what they carry, for the same reason:
#: a browser toolset's state (in a tool result), a mid-conversation tool change, an MCP server's tool listing
JSON_BLOCKS = {"browser_state": ("tabs", "state_changes"), "tool_addition": ("tool",), "tool_removal": ("tool",),
               "mcp_tool_listing": ("mcp_server_name", "tools")}
SERVER_BLOCKS = ("search_result", "tool_reference", "container_upload", "server_tool_use", "mcp_tool_use",
                 "compaction", *JSON_BLOCKS, *SERVER_RESULTS)


def parse_server_block(raw: dict[str, Any], kind: Any, where: str, role: str, notes: list[str]) -> Part | None:
    """A server-tool, search-result, container or other replayed block, or ``None`` when ``kind`` is none of them;
    ``notes`` gets a line for each kind counted as its JSON text (how Claude renders it is not public)."""
    if kind == "search_result":
        texts = [string(raw.get("title"), f"{where}.title") or "", string(raw.get("source"), f"{where}.source") or ""]
        for j, b in enumerate(arr(raw.get("content"), f"{where}.content")):
            block = obj(b, f"{where}.content[{j}]")
            texts.append(string(block.get("text"), f"{where}.content[{j}].text") or "")
        return TextPart("\n".join(texts))
    if kind == "tool_reference":
        return TextPart(string(raw.get("tool_name"), f"{where}.tool_name") or "")
    if kind == "container_upload":
        string(raw.get("file_id"), f"{where}.file_id")
        return TextPart("")
    if kind in ("server_tool_use", "mcp_tool_use"):
        if role != "assistant":
            raise InvalidRequest(f"{where}: {kind} blocks belong to assistant messages.", param=f"{where}.type")
        args = raw.get("input", {})
        if not isinstance(args, dict):
            raise InvalidRequest(f"{where}.input must be an object, got {type_name(args)}.", param=f"{where}.input")
        return ToolCallPart(name=string(raw.get("name"), f"{where}.name") or "", arguments=args,
                            id=string(raw.get("id"), f"{where}.id", optional=True))
    if kind in SERVER_RESULTS:
        notes.append(f"{kind} blocks counted as the JSON text of their content")
        content = raw.get("content")
        return TextPart(content if isinstance(content, str) else json.dumps(content, ensure_ascii=False))
    if kind in JSON_BLOCKS:
        notes.append(f"{kind} blocks counted as the JSON text of what they carry")
        carried = {key: raw[key] for key in JSON_BLOCKS[kind] if raw.get(key) is not None}
        return TextPart(json.dumps(carried, ensure_ascii=False))
    if kind == "compaction":  # the summary that stands for the compacted turns (null: a failed compaction)
        notes.append("compaction blocks counted as their summary text")
        return TextPart(string(raw.get("content"), f"{where}.content", optional=True) or "")
    return None


def parse_image(raw: dict[str, Any], where: str) -> ImagePart:
    source = obj(raw.get("source"), f"{where}.source")
    kind = source.get("type")
    if kind == "base64":
        media = string(source.get("media_type"), f"{where}.source.media_type")
        data = string(source.get("data"), f"{where}.source.data")
        return ImagePart(url=f"data:{media};base64,{data}")
    if kind == "url":
        return ImagePart(url=string(source.get("url"), f"{where}.source.url") or "")
    if kind == "file":
        return ImagePart(url=f"file_id:{string(source.get('file_id'), f'{where}.source.file_id')}")
    raise InvalidRequest(f"{where}.source.type must be base64, url or file; got {kind!r}.",
                         param=f"{where}.source.type")


def parse_document(raw: dict[str, Any], where: str, notes: list[str]) -> DocumentPart:
    source = obj(raw.get("source"), f"{where}.source")
    kind = source.get("type")
    title = string(raw.get("title"), f"{where}.title", optional=True)  # forwarded upstream; no framing counts it
    if kind == "text":
        text = string(source.get("data"), f"{where}.source.data")
        return DocumentPart(source=None, media_type=source.get("media_type") or "text/plain", text=text, title=title)
    if kind == "base64":
        media = string(source.get("media_type"), f"{where}.source.media_type")
        data = string(source.get("data"), f"{where}.source.data")
        return DocumentPart(source=f"data:{media};base64,{data}", media_type=media, title=title)
    if kind == "url":
        return DocumentPart(source=string(source.get("url"), f"{where}.source.url"), title=title)
    if kind == "file":
        return DocumentPart(source=f"file_id:{string(source.get('file_id'), f'{where}.source.file_id')}",
                            title=title)
    if kind == "content":
        content = source.get("content")
        if isinstance(content, str):  # the SDK's ContentBlockSourceParam: a string or content blocks
            return DocumentPart(source=None, media_type="text/plain", text=content, title=title)
        blocks = arr(content, f"{where}.source.content")
        texts = []
        for j, b in enumerate(blocks):
            part = parse_block(b, f"{where}.source.content[{j}]", "user", notes)
            if isinstance(part, TextPart):
                texts.append(part.text)
        return DocumentPart(source=None, media_type="text/plain", text="\n".join(texts), title=title)
    raise InvalidRequest(f"{where}.source.type must be text, base64, url, file or content; got {kind!r}.",
                         param=f"{where}.source.type")


def parse_tools(raw: Any, notes: list[str]) -> list[Tool]:
    if raw is None:
        return []
    tools: list[Tool] = []
    for i, t in enumerate(arr(raw, "tools")):
        where = f"tools[{i}]"
        t = obj(t, where)
        kind = string(t.get("type"), f"{where}.type", optional=True)
        if kind == "mcp_toolset":
            tools.extend(_mcp_toolset(t, where, notes))
            continue
        family, toolset, _ = (kind or "").partition("_toolset_")
        if toolset and t.get("name") is None:
            # a toolset entry carries no name: the family's tool (browser, computer), its schema Anthropic's own
            notes.append(f"{kind}: counted as a tool named {family!r} (its definition is Anthropic's own)")
            tools.append(Tool(name=family))
            continue
        name = string(t.get("name"), f"{where}.name") or ""
        if not name:
            raise InvalidRequest(f"{where}.name must not be empty.", param=f"{where}.name")
        schema = t.get("input_schema", t.get("inputSchema"))
        if schema is None and kind in (None, "custom"):
            raise InvalidRequest(f"{where}.input_schema is required.", param=f"{where}.input_schema")
        if schema is not None and not isinstance(schema, dict):
            raise InvalidRequest(f"{where}.input_schema must be an object, got {type_name(schema)}.",
                                 param=f"{where}.input_schema")
        description = string(t.get("description"), f"{where}.description", optional=True)
        tools.append(Tool(name=name, description=description, parameters=schema))
    return tools


def _mcp_toolset(t: dict[str, Any], where: str, notes: list[str]) -> list[Tool]:
    """An MCP server's tools: the listing pinned in the entry (``tools``), else unknown here (the server is not
    asked) and left out of the count, which says so."""
    server = string(t.get("mcp_server_name"), f"{where}.mcp_server_name") or ""
    if t.get("tools") is None:
        notes.append(f"mcp_toolset {server!r}: its tools come from the MCP server and are not in the count")
        return []
    tools = []
    for j, m in enumerate(arr(t["tools"], f"{where}.tools")):
        mwhere = f"{where}.tools[{j}]"
        m = obj(m, mwhere)
        schema = m.get("input_schema")
        if schema is not None and not isinstance(schema, dict):
            raise InvalidRequest(f"{mwhere}.input_schema must be an object, got {type_name(schema)}.",
                                 param=f"{mwhere}.input_schema")
        tools.append(Tool(name=string(m.get("name"), f"{mwhere}.name") or "",
                          description=string(m.get("description"), f"{mwhere}.description", optional=True),
                          parameters=schema))
    return tools


def parse_tool_choice(raw: Any) -> ToolChoice | None:
    if raw is None:
        return None
    raw = obj(raw, "tool_choice")
    kind = raw.get("type")
    # checked, not kept: whether the model may call tools in parallel does not change the prompt's tokens
    boolean(raw.get("disable_parallel_tool_use"), "tool_choice.disable_parallel_tool_use", default=False)
    if kind in ("auto", "none"):
        return ToolChoice(mode=kind)
    if kind == "any":
        return ToolChoice(mode="required")
    if kind == "tool":
        name = string(raw.get("name"), "tool_choice.name")
        return ToolChoice(mode="tool", name=name)
    raise InvalidRequest(f"tool_choice.type must be auto, any, tool or none; got {kind!r}.", param="tool_choice.type")


def thinking_kind(raw: Any) -> str | None:
    """``"enabled"`` or ``"adaptive"`` (Claude bills them differently), once :func:`parse_thinking` accepted it."""
    kind = raw.get("type") if isinstance(raw, dict) else None
    return kind if kind in ("enabled", "adaptive") else None


def parse_thinking(raw: Any) -> bool | None:
    if raw is None:
        return None
    raw = obj(raw, "thinking")
    if "enabled" in raw:
        return boolean(raw.get("enabled"), "thinking.enabled")
    kind = raw.get("type")
    if kind == "between_tools":  # thinking only between tool calls: on
        return True
    if kind in ("enabled", "adaptive"):
        budget = raw.get("budget_tokens")
        if budget is not None and (not isinstance(budget, int) or isinstance(budget, bool)):
            raise InvalidRequest("thinking.budget_tokens must be an integer.", param="thinking.budget_tokens")
        return True
    if kind == "disabled":
        return False
    raise InvalidRequest(f"thinking.type must be enabled, adaptive, between_tools or disabled; got {kind!r}.",
                         param="thinking.type")


DIALECT = Dialect(NAME, error, key_header="x-api-key", doc=__doc__ or "", error_prefixes=("/v1/messages",),
                  native=Native("anthropic", ("messages", "system", "tools", "tool_choice", "thinking",
                                              "output_config")),
                  routes=(
    Route("/v1/messages/count_tokens", "Anthropic-style count tokens in a Message", parse, format,
          example={"model": "default", "system": "You are a tokenizer.",
                   "messages": [{"role": "user", "content": "Count tokens for this input."}]}),
))
