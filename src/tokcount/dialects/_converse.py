"""Amazon Bedrock's Converse shape (``messages``, ``system``, ``toolConfig``, ``additionalModelRequestFields``) →
the canonical request, as Bedrock hands a Converse call to Claude: the same request an Anthropic Messages body with
the same content makes, so a conversation counts the same in either of the CountTokens inputs.

- ``system`` blocks (``text``, ``guardContent``) become one system message, texts joined with ``"\\n"`` as the
  Anthropic dialect joins its system blocks; ``cachePoint`` blocks (here and everywhere) change no count;
- content blocks map one to one: ``text``; ``image`` (``bytes`` base64 → a data URL, ``s3Location`` → its URI,
  whose size cannot be read); ``document`` (``text`` / ``content`` sources and text formats given as ``bytes``
  are its text, PDFs and office files their bytes); ``toolUse`` → a tool call (assistant turns only);
  ``toolResult`` → a tool result (user turns only) whose ``json`` items are their JSON text; ``reasoningContent``
  → reasoning (``redactedContent`` → redacted); ``guardContent`` → its text or image; ``citationsContent`` → the
  generated texts; ``searchResult`` → title, source and texts, as Anthropic's ``search_result``;
- ``video`` and ``audio`` are refused (Claude takes neither; Bedrock refuses them for Claude models), and so are
  ``toolAddition`` / ``toolRemoval``, whose rendering is not known;
- ``toolConfig.tools``: ``toolSpec`` (``inputSchema.json``) and ``systemTool`` (a name only, as Anthropic's
  server tools); ``toolChoice`` ``auto`` / ``any`` / ``tool``; ``additionalModelRequestFields.thinking`` is
  Anthropic's ``thinking`` switch.

Every field is named from the body's root (``input.converse.messages[1].content[0].toolUse.input``).
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import InvalidRequest
from ..media import b64
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
from ._fields import arr, obj, string, type_name
from .anthropic import parse_thinking, thinking_kind

ROLES = ("user", "assistant", "system")
#: Converse document formats → media types; the text formats' bytes are read as their text
DOCUMENT_TYPES = {"pdf": "application/pdf", "csv": "text/csv", "html": "text/html", "txt": "text/plain",
                  "md": "text/markdown", "doc": "application/msword",
                  "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                  "xls": "application/vnd.ms-excel",
                  "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
BLOCKS = ("text", "image", "document", "toolUse", "toolResult", "reasoningContent", "guardContent",
          "citationsContent", "searchResult", "cachePoint")
REFUSED = {"video": "Claude models take no video", "audio": "Claude models take no audio",
           "toolAddition": "toolAddition blocks are not supported here", "toolRemoval": "toolRemoval blocks are "
           "not supported here"}


def parse(raw: Any, where: str) -> Request:
    """The canonical request of a ``ConverseTokensRequest`` found at ``where``."""
    body = obj(raw, where)
    messages: list[Message] = []
    system = _system(body.get("system"), f"{where}.system")
    if system is not None:
        messages.append(system)
    for i, m in enumerate(arr(body.get("messages") or [], f"{where}.messages")):
        messages.append(_message(m, f"{where}.messages[{i}]"))
    if not any(m.role != "system" for m in messages):
        raise InvalidRequest(f"{where}.messages must not be empty.", param=f"{where}.messages")
    tools, choice = _tool_config(body.get("toolConfig"), f"{where}.toolConfig")
    extra = body.get("additionalModelRequestFields")
    thinking = obj(extra, f"{where}.additionalModelRequestFields").get("thinking") if extra is not None else None
    return Request(messages=messages, tools=tools, tool_choice=choice, thinking=parse_thinking(thinking),
                   thinking_kind=thinking_kind(thinking))


def _system(raw: Any, where: str) -> Message | None:
    if raw is None:
        return None
    texts: list[str] = []
    for i, block in enumerate(arr(raw, where)):
        bwhere = f"{where}[{i}]"
        block = obj(block, bwhere)
        if "text" in block:
            texts.append(string(block["text"], f"{bwhere}.text") or "")
        elif "guardContent" in block:
            part = _guard(block["guardContent"], f"{bwhere}.guardContent")
            if not isinstance(part, TextPart):
                raise InvalidRequest(f"{bwhere}.guardContent must hold text in a system block.",
                                     param=f"{bwhere}.guardContent")
            texts.append(part.text)
        elif "cachePoint" not in block:
            raise InvalidRequest(f"{bwhere} must have one of text, guardContent, cachePoint.", param=bwhere)
    return Message(role="system", parts=[TextPart("\n".join(t for t in texts if t))]) if texts else None


def _message(raw: Any, where: str) -> Message:
    raw = obj(raw, where)
    role = raw.get("role")
    if role not in ROLES:
        raise InvalidRequest(f"{where}.role must be 'user' or 'assistant'; got {role!r}.", param=f"{where}.role")
    parts: list[Part] = []
    for i, block in enumerate(arr(raw.get("content"), f"{where}.content")):
        part = _block(block, f"{where}.content[{i}]", role)
        if part is not None:
            parts.append(part)
    if role == "system":
        return Message(role="system", parts=[TextPart("\n".join(p.text for p in parts if isinstance(p, TextPart)))])
    return Message(role=role, parts=parts, content_is_list=True)


def _block(raw: Any, where: str, role: str) -> Part | None:
    """One content block (a union: the key it has says what it is); ``None`` for a cache point."""
    raw = obj(raw, where)
    if "text" in raw:
        return TextPart(string(raw["text"], f"{where}.text") or "")
    if "image" in raw:
        return _image(raw["image"], f"{where}.image")
    if "document" in raw:
        return _document(raw["document"], f"{where}.document")
    if "toolUse" in raw:
        if role != "assistant":
            raise InvalidRequest(f"{where}: toolUse blocks belong to assistant messages.", param=f"{where}.toolUse")
        use = obj(raw["toolUse"], f"{where}.toolUse")
        args = use.get("input", {})
        if not isinstance(args, dict):
            raise InvalidRequest(f"{where}.toolUse.input must be an object, got {type_name(args)}.",
                                 param=f"{where}.toolUse.input")
        return ToolCallPart(name=string(use.get("name"), f"{where}.toolUse.name") or "", arguments=args,
                            id=string(use.get("toolUseId"), f"{where}.toolUse.toolUseId"))
    if "toolResult" in raw:
        if role != "user":
            raise InvalidRequest(f"{where}: toolResult blocks belong to user messages.",
                                 param=f"{where}.toolResult")
        return _tool_result(raw["toolResult"], f"{where}.toolResult")
    if "reasoningContent" in raw:
        return _reasoning(raw["reasoningContent"], f"{where}.reasoningContent")
    if "guardContent" in raw:
        return _guard(raw["guardContent"], f"{where}.guardContent")
    if "citationsContent" in raw:
        cited = obj(raw["citationsContent"], f"{where}.citationsContent")
        texts = [string(obj(c, f"{where}.citationsContent.content[{j}]").get("text"),
                        f"{where}.citationsContent.content[{j}].text") or ""
                 for j, c in enumerate(arr(cited.get("content") or [], f"{where}.citationsContent.content"))]
        return TextPart("".join(texts))
    if "searchResult" in raw:
        return _search_result(raw["searchResult"], f"{where}.searchResult")
    if "cachePoint" in raw:
        obj(raw["cachePoint"], f"{where}.cachePoint")
        return None
    for key, why in REFUSED.items():
        if key in raw:
            raise InvalidRequest(f"{where}.{key}: {why}.", param=f"{where}.{key}")
    raise InvalidRequest(f"{where} must have one of {', '.join(BLOCKS)}.", param=where)


def _bytes(source: dict[str, Any], where: str) -> str | None:
    """A source's ``bytes`` (base64 in the JSON, as boto3 sends a blob), checked; None when it has none."""
    data = source.get("bytes")
    if data is None:
        return None
    data = string(data, f"{where}.bytes") or ""
    if not data or not b64.valid_prefix(data):
        raise InvalidRequest(f"{where}.bytes must be base64.", param=f"{where}.bytes")
    return data


def _s3(source: dict[str, Any], where: str) -> str | None:
    location = source.get("s3Location")
    if location is None:
        return None
    return string(obj(location, f"{where}.s3Location").get("uri"), f"{where}.s3Location.uri")


def _image(raw: Any, where: str) -> ImagePart:
    image = obj(raw, where)
    fmt = string(image.get("format"), f"{where}.format") or ""
    source = obj(image.get("source"), f"{where}.source")
    data = _bytes(source, f"{where}.source")
    if data is not None:
        return ImagePart(url=f"data:image/{fmt};base64,{data}")
    uri = _s3(source, f"{where}.source")
    if uri is None:
        raise InvalidRequest(f"{where}.source must have bytes or s3Location.", param=f"{where}.source")
    return ImagePart(url=uri)  # a bucket tokcount cannot read: the framing counts a fallback size and says so


def _document(raw: Any, where: str) -> DocumentPart:
    doc = obj(raw, where)
    name = string(doc.get("name"), f"{where}.name", optional=True)
    fmt = string(doc.get("format"), f"{where}.format", optional=True) or "txt"
    media = DOCUMENT_TYPES.get(fmt)
    if media is None:
        raise InvalidRequest(f"{where}.format must be one of {', '.join(DOCUMENT_TYPES)}; got {fmt!r}.",
                             param=f"{where}.format")
    source = obj(doc.get("source"), f"{where}.source")
    if "text" in source:
        return DocumentPart(media_type="text/plain", text=string(source["text"], f"{where}.source.text"), title=name)
    if "content" in source:
        texts = [string(obj(c, f"{where}.source.content[{j}]").get("text"), f"{where}.source.content[{j}].text")
                 or "" for j, c in enumerate(arr(source["content"], f"{where}.source.content"))]
        return DocumentPart(media_type="text/plain", text="\n".join(texts), title=name)
    data = _bytes(source, f"{where}.source")
    if data is not None:
        if media.startswith("text/"):
            try:
                text = b64.decode(data).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                raise InvalidRequest(f"{where}.source.bytes must be base64 of UTF-8 text for format {fmt!r}.",
                                     param=f"{where}.source.bytes") from None
            return DocumentPart(media_type="text/plain", text=text, title=name)
        return DocumentPart(source=f"data:{media};base64,{data}", media_type=media, title=name)
    uri = _s3(source, f"{where}.source")
    if uri is None:
        raise InvalidRequest(f"{where}.source must have one of bytes, s3Location, text, content.",
                             param=f"{where}.source")
    return DocumentPart(source=uri, media_type=media, title=name)


def _tool_result(raw: Any, where: str) -> ToolResultPart:
    result = obj(raw, where)
    call_id = string(result.get("toolUseId"), f"{where}.toolUseId")
    parts: list[Part] = []
    for j, item in enumerate(arr(result.get("content"), f"{where}.content")):
        iwhere = f"{where}.content[{j}]"
        item = obj(item, iwhere)
        if "json" in item:  # any JSON value, counted as its text (how Bedrock hands it to Claude is not public)
            parts.append(TextPart(json.dumps(item["json"], ensure_ascii=False)))
        elif "text" in item:
            parts.append(TextPart(string(item["text"], f"{iwhere}.text") or ""))
        elif "image" in item:
            parts.append(_image(item["image"], f"{iwhere}.image"))
        elif "document" in item:
            parts.append(_document(item["document"], f"{iwhere}.document"))
        elif "searchResult" in item:
            parts.append(_search_result(item["searchResult"], f"{iwhere}.searchResult"))
        elif "video" in item:
            raise InvalidRequest(f"{iwhere}.video: {REFUSED['video']}.", param=f"{iwhere}.video")
        else:
            raise InvalidRequest(f"{iwhere} must have one of json, text, image, document, searchResult.",
                                 param=iwhere)
    status = result.get("status")
    if status not in (None, "success", "error"):
        raise InvalidRequest(f"{where}.status must be 'success' or 'error'; got {status!r}.", param=f"{where}.status")
    return ToolResultPart(content=parts, tool_call_id=call_id, is_error=status == "error")


def _reasoning(raw: Any, where: str) -> ThinkingPart:
    reasoning = obj(raw, where)
    if "reasoningText" in reasoning:
        text = obj(reasoning["reasoningText"], f"{where}.reasoningText")
        string(text.get("signature"), f"{where}.reasoningText.signature", optional=True)
        return ThinkingPart(string(text.get("text"), f"{where}.reasoningText.text") or "")
    if "redactedContent" in reasoning:
        return ThinkingPart(string(reasoning["redactedContent"], f"{where}.redactedContent") or "", redacted=True)
    raise InvalidRequest(f"{where} must have reasoningText or redactedContent.", param=where)


def _guard(raw: Any, where: str) -> Part:
    guard = obj(raw, where)
    if "text" in guard:
        return TextPart(string(obj(guard["text"], f"{where}.text").get("text"), f"{where}.text.text") or "")
    if "image" in guard:
        return _image(guard["image"], f"{where}.image")
    raise InvalidRequest(f"{where} must have text or image.", param=where)


def _search_result(raw: Any, where: str) -> TextPart:
    found = obj(raw, where)
    texts = [string(found.get("title"), f"{where}.title") or "", string(found.get("source"), f"{where}.source") or ""]
    for j, b in enumerate(arr(found.get("content"), f"{where}.content")):
        texts.append(string(obj(b, f"{where}.content[{j}]").get("text"), f"{where}.content[{j}].text") or "")
    return TextPart("\n".join(texts))


def _tool_config(raw: Any, where: str) -> tuple[list[Tool], ToolChoice | None]:
    if raw is None:
        return [], None
    config = obj(raw, where)
    tools: list[Tool] = []
    for i, t in enumerate(arr(config.get("tools"), f"{where}.tools")):
        twhere = f"{where}.tools[{i}]"
        t = obj(t, twhere)
        if "toolSpec" in t:
            spec = obj(t["toolSpec"], f"{twhere}.toolSpec")
            name = string(spec.get("name"), f"{twhere}.toolSpec.name") or ""
            schema = obj(spec.get("inputSchema"), f"{twhere}.toolSpec.inputSchema").get("json")
            if not isinstance(schema, dict):
                raise InvalidRequest(f"{twhere}.toolSpec.inputSchema.json must be an object, got "
                                     f"{type_name(schema)}.", param=f"{twhere}.toolSpec.inputSchema.json")
            description = string(spec.get("description"), f"{twhere}.toolSpec.description", optional=True)
            tools.append(Tool(name=name, description=description, parameters=schema))
        elif "systemTool" in t:  # a tool Bedrock runs itself: its name only, as Anthropic's server tools
            tools.append(Tool(name=string(obj(t["systemTool"], f"{twhere}.systemTool").get("name"),
                                          f"{twhere}.systemTool.name") or ""))
        elif "cachePoint" not in t:
            raise InvalidRequest(f"{twhere} must have one of toolSpec, systemTool, cachePoint.", param=twhere)
    return tools, _tool_choice(config.get("toolChoice"), f"{where}.toolChoice")


def _tool_choice(raw: Any, where: str) -> ToolChoice | None:
    if raw is None:
        return None
    choice = obj(raw, where)
    if "auto" in choice:
        return ToolChoice(mode="auto")
    if "any" in choice:
        return ToolChoice(mode="required")
    if "tool" in choice:
        return ToolChoice(mode="tool", name=string(obj(choice["tool"], f"{where}.tool").get("name"),
                                                   f"{where}.tool.name"))
    raise InvalidRequest(f"{where} must have one of auto, any, tool.", param=where)
