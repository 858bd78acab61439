"""Google Gemini ``POST /v1beta/models/{model}:countTokens`` shape ↔ canonical request (also served under ``/v1/``,
where google-genai posts with ``api_version="v1"``).

Request: ``{"contents": [...]}`` or ``{"generateContentRequest": {"model", "contents", "systemInstruction",
"tools", ...}}`` (mutually exclusive, as Google documents). Both camelCase (REST) and snake_case (proto JSON)
field names are accepted, and every repeated field also as one object on its own (``"parts": {"text": "Hi"}``), as
Google's JSON parser reads it (docs/accepted-bodies.md). Response: ``{"totalTokens", "promptTokensDetails":
[{"modality", "tokenCount"}]}``.
Errors: Google's ``{"error": {"code", "message", "status"}}``.

The server mounts it like every dialect (:func:`parse` takes the model from the URL path); like every route's
answer (:func:`tokcount.jobs.count_headers`) it carries tokcount's ``exact``/``method`` as response headers, which
matters most here because the body keeps Google's exact shape (the google-genai SDK validates it strictly).
Without HTTP it is answered like every dialect, by :func:`tokcount.jobs.answer`.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import InvalidRequest, TokcountError
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
    ToolResultPart,
    VideoPart,
)
from ._api import Dialect, Job, Native, Outcome, Route
from ._fields import default_or, obj, repeated, string

NAME = "gemini"

GOOGLE_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                 413: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
MODALITIES = ("TEXT", "IMAGE", "VIDEO", "AUDIO", "DOCUMENT")


def _get(d: dict[str, Any], camel: str) -> Any:
    """A field under its camelCase or snake_case name."""
    if camel in d:
        return d[camel]
    snake = "".join("_" + c.lower() if c.isupper() else c for c in camel)
    return d.get(snake)


def model_name(path_model: str) -> str:
    """``models/gemini-2.5-flash`` or ``gemini-2.5-flash`` → ``gemini-2.5-flash``."""
    name = path_model.strip()
    return name.split("/", 1)[1] if name.startswith("models/") else name


def parse_count_tokens(body: Any) -> Request:
    body = obj(body, "body")
    contents = _get(body, "contents")
    wrapped = _get(body, "generateContentRequest")
    if contents is not None and wrapped is not None:
        raise InvalidRequest("contents and generateContentRequest are mutually exclusive.", param="contents")
    if wrapped is not None:
        return parse_generate_content(obj(wrapped, "generateContentRequest"), "generateContentRequest.")
    if contents is None:
        raise InvalidRequest("either contents or generateContentRequest must be set.", param="contents")
    return parse_generate_content(body, "")


def parse_generate_content(body: dict[str, Any], where: str) -> Request:
    """Every repeated field (``contents``, ``parts``, ``tools``, ``functionDeclarations``) is read as Google's
    JSON parser reads it (:func:`~tokcount.dialects._fields.repeated`): one object stands for a list of one."""
    messages: list[Message] = []
    notes: list[str] = []
    system = _get(body, "systemInstruction")
    if system is not None:
        sys_msg = _content(system, f"{where}systemInstruction", default_role="system", notes=notes)
        messages.append(Message(role="system", parts=sys_msg.parts))
    raw_contents = _get(body, "contents")
    contents = [raw_contents] if isinstance(raw_contents, str) else repeated(raw_contents, f"{where}contents")
    if not contents:  # countTokens counts a conversation: Google refuses one without (null and [] are unset)
        raise InvalidRequest(f"{where}contents must not be empty.", param=f"{where}contents")
    for i, c in enumerate(contents):
        messages.append(_content(c, f"{where}contents[{i}]", default_role="user", notes=notes))
    tools: list[Tool] = []
    for i, t in enumerate(repeated(_get(body, "tools"), f"{where}tools")):
        t = obj(t, f"{where}tools[{i}]")
        declarations = repeated(_get(t, "functionDeclarations"), f"{where}tools[{i}].functionDeclarations")
        for j, f in enumerate(declarations):
            f = obj(f, f"{where}tools[{i}].functionDeclarations[{j}]")
            name = string(f.get("name"), f"{where}tools[{i}].functionDeclarations[{j}].name") or ""
            params = _get(f, "parameters")
            if params is None:
                params = _get(f, "parametersJsonSchema")
            tools.append(Tool(name=name, description=f.get("description"),
                              parameters=params if isinstance(params, dict) else None))
    _media_resolution(messages, _get(body, "generationConfig"), f"{where}generationConfig")
    return Request(messages=messages, tools=tools, add_generation_prompt=True,
                   response_format=_structured_output(_get(body, "generationConfig")),
                   notes=list(dict.fromkeys(notes)))


def _media_resolution(messages: list[Message], config: Any, where: str) -> None:
    """``generationConfig.mediaResolution`` is the level of every image without its own (a part's
    ``mediaResolution``, Gemini 3): kept as the image's ``detail``, which the model's media rule prices."""
    level = _get(config, "mediaResolution") if isinstance(config, dict) else None
    if level is None:
        return
    level = string(level, f"{where}.mediaResolution")
    for m in messages:
        for part in m.parts:
            if isinstance(part, ImagePart) and part.detail is None:
                part.detail = level


def _part_resolution(raw: dict[str, Any], where: str) -> str | None:
    """A part's own ``mediaResolution``: ``{"level": "MEDIA_RESOLUTION_LOW"}`` (or the bare level)."""
    res = _get(raw, "mediaResolution")
    if isinstance(res, dict):
        res = res.get("level")
    return string(res, f"{where}.mediaResolution", optional=True) if res is not None else None


def _structured_output(config: Any) -> dict[str, Any] | None:
    """``generationConfig`` asking for JSON (a response schema or the JSON MIME type), as a response format."""
    if not isinstance(config, dict):
        return None
    schema = _get(config, "responseSchema")
    if schema is None:
        schema = _get(config, "responseJsonSchema")
    if schema is not None:
        return {"type": "json_schema", "schema": schema}
    if _get(config, "responseMimeType") in ("application/json", "text/x.enum"):
        return {"type": "json_object"}
    return None


def _content(raw: Any, where: str, *, default_role: str, notes: list[str]) -> Message:
    if isinstance(raw, str):
        return Message(role="user", parts=[TextPart(raw)])
    raw = obj(raw, where)
    role = raw.get("role") or default_role
    if role not in ("user", "model", "system", "function", "tool"):
        raise InvalidRequest(f"{where}.role must be 'user' or 'model'; got {role!r}.", param=f"{where}.role")
    canonical = {"model": "assistant", "function": "tool"}.get(role, role)
    parts: list[Part] = []
    for i, p in enumerate(repeated(raw.get("parts"), f"{where}.parts")):
        p = obj(p, f"{where}.parts[{i}]")
        signature = _get(p, "thoughtSignature")
        if signature:  # the encrypted thought that came with this part: the API counts it, so keep it
            parts.append(ThinkingPart(string(signature, f"{where}.parts[{i}].thoughtSignature") or "",
                                      redacted=True))
        parts.extend(_part(p, f"{where}.parts[{i}]", notes))
    return Message(role=canonical, parts=parts, content_is_list=True)  # type: ignore[arg-type]


#: a Part's data fields (its ``data`` oneof), in the order they are looked for; a null one is unset (proto3 JSON)
PART_FIELDS = ("text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode",
               "codeExecutionResult", "toolCall", "toolResponse")
NOTE_CODE = "executableCode / codeExecutionResult parts counted as their code and output text"
NOTE_SERVER_TOOL = "toolCall / toolResponse parts (server-side tools) counted as a function call and its response"


def _part(raw: dict[str, Any], where: str, notes: list[str]) -> list[Part]:
    """One Part → its canonical parts (a function response with media parts is the response, then the media)."""
    text = _get(raw, "text")
    if text is not None:
        text = string(text, f"{where}.text") or ""
        return [ThinkingPart(text) if raw.get("thought") is True else TextPart(text)]
    media = _blob(raw, where)
    if media is not None:
        if isinstance(media, ImagePart):
            media.detail = _part_resolution(raw, where)
        return [media]
    call = _get(raw, "functionCall")
    if call is not None:
        call = obj(call, f"{where}.functionCall")
        args = call.get("args") or {}
        return [ToolCallPart(name=string(call.get("name"), f"{where}.functionCall.name") or "",
                             arguments=args if isinstance(args, dict) else {"value": args},
                             id=_id(call, f"{where}.functionCall"))]
    resp = _get(raw, "functionResponse")
    if resp is not None:
        resp = obj(resp, f"{where}.functionResponse")
        out: list[Part] = [ToolResultPart(content=json.dumps(resp.get("response") or {}, ensure_ascii=False),
                                          name=string(resp.get("name"), f"{where}.functionResponse.name",
                                                      optional=True),
                                          tool_call_id=_id(resp, f"{where}.functionResponse"))]
        for j, q in enumerate(repeated(resp.get("parts"), f"{where}.functionResponse.parts")):
            qwhere = f"{where}.functionResponse.parts[{j}]"
            blob = _blob(obj(q, qwhere), qwhere)
            if blob is None:
                raise InvalidRequest(f"{qwhere} must have one of inlineData, fileData.", param=qwhere)
            out.append(blob)
        return out
    code = _get(raw, "executableCode")
    if code is not None:
        notes.append(NOTE_CODE)
        code = obj(code, f"{where}.executableCode")
        return [TextPart(string(code.get("code"), f"{where}.executableCode.code", optional=True) or "")]
    result = _get(raw, "codeExecutionResult")
    if result is not None:
        notes.append(NOTE_CODE)
        result = obj(result, f"{where}.codeExecutionResult")
        return [TextPart(string(result.get("output"), f"{where}.codeExecutionResult.output", optional=True) or "")]
    server_call = _get(raw, "toolCall")
    if server_call is not None:
        notes.append(NOTE_SERVER_TOOL)
        server_call = obj(server_call, f"{where}.toolCall")
        args = server_call.get("args") or {}
        kind = string(_get(server_call, "toolType"), f"{where}.toolCall.toolType", optional=True) or "tool"
        return [ToolCallPart(name=kind.lower(), arguments=obj(args, f"{where}.toolCall.args"),
                             id=_id(server_call, f"{where}.toolCall"))]
    server_resp = _get(raw, "toolResponse")
    if server_resp is not None:
        notes.append(NOTE_SERVER_TOOL)
        server_resp = obj(server_resp, f"{where}.toolResponse")
        kind = string(_get(server_resp, "toolType"), f"{where}.toolResponse.toolType", optional=True) or "tool"
        return [ToolResultPart(content=json.dumps(server_resp.get("response") or {}, ensure_ascii=False),
                               name=kind.lower(), tool_call_id=_id(server_resp, f"{where}.toolResponse"))]
    raise InvalidRequest(f"{where} must have one of {', '.join(PART_FIELDS)}.", param=where)


def _id(raw: dict[str, Any], where: str) -> str | None:
    """A call's or response's ``id``: renderers pair calls with responses by it, so it must be a string."""
    return string(raw.get("id"), f"{where}.id", optional=True)


def _blob(raw: dict[str, Any], where: str) -> Part | None:
    """An ``inlineData`` or ``fileData`` part (also a function response's media part), else None."""
    inline = _get(raw, "inlineData")
    if inline is not None:
        inline = obj(inline, f"{where}.inlineData")
        mime = string(_get(inline, "mimeType"), f"{where}.inlineData.mimeType") or ""
        data = string(inline.get("data"), f"{where}.inlineData.data") or ""
        return _media(mime, f"data:{mime};base64,{data}", data, where)
    file = _get(raw, "fileData")
    if file is not None:
        file = obj(file, f"{where}.fileData")
        mime = string(_get(file, "mimeType"), f"{where}.fileData.mimeType", optional=True) or ""
        uri = string(_get(file, "fileUri"), f"{where}.fileData.fileUri") or ""
        return _media(mime, uri, None, where)
    return None


def _media(mime: str, url: str, data: str | None, where: str) -> Part:
    if mime.startswith("image/"):
        if data is not None and not b64.valid_prefix(data):
            raise InvalidRequest(f"{where}.inlineData.data must be base64 (standard or URL-safe).",
                                 param=f"{where}.inlineData.data")
        return ImagePart(url=url)
    if mime.startswith(("video/", "audio/")):
        return VideoPart(url=url)
    return DocumentPart(source=data if data is not None else url, media_type=mime or None)


def format_count(count: Any) -> dict[str, Any]:
    """Google's CountTokensResponse from a :class:`~tokcount.count.Count`."""
    modalities = {k.upper(): v for k, v in count.modality_split().items()}  # Count.modalities, Google's names
    details = [{"modality": m, "tokenCount": modalities[m]} for m in MODALITIES if m in modalities]
    return {"totalTokens": count.input_tokens, "promptTokensDetails": details}


#: the serving platform this route is (``Request.api``): a model Google hosts there is counted as that API counts it
PLATFORM = "gemini"


def parse(body: Any, settings: Any, model: str) -> Job:
    """The job for ``POST /v1beta/models/{model}:countTokens`` (``model`` from the path)."""
    request = parse_count_tokens(body)
    request.api = PLATFORM
    return Job(models=[default_or(model_name(model), settings.default_model)], request=request)


def format(job: Job, result: Outcome) -> dict[str, Any]:
    assert result.count is not None
    return format_count(result.count)


def error(err: TokcountError) -> tuple[int, dict[str, Any]]:
    """Google's error shape: ``{"error": {"code", "message", "status"}}``."""
    return err.status, {"error": {"code": err.status, "message": err.message,
                                  "status": GOOGLE_STATUS.get(err.status, "INVALID_ARGUMENT")}}


#: where a countTokens body keeps its turns (also Vertex AI's)
CONVERSATION = (("contents",), ("generateContentRequest", "contents"), ("generate_content_request", "contents"))

DIALECT = Dialect(NAME, error, key_header="x-goog-api-key", doc=__doc__ or "", conversation=CONVERSATION,
                  error_prefixes=("/v1beta/", "/v1/models/*:countTokens"),
                  native=Native("gemini", ("contents", "generateContentRequest", "generate_content_request")),
                  routes=(
    Route("/v1beta/models/{model}:countTokens", "Gemini count tokens", parse, format,
          path_params=("model",), example={"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}),
    # google-genai with http_options api_version="v1" posts here
    Route("/v1/models/{model}:countTokens", "Gemini count tokens (v1)", parse, format,
          path_params=("model",), example={"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}),
))
