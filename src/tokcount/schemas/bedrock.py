"""Amazon Bedrock ``POST /model/{model}/count-tokens`` (CountTokens): a Converse request or an InvokeModel body."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from . import RouteSchema
from ._common import LOOSE


class S3Location(BaseModel):
    model_config = LOOSE
    uri: str
    bucketOwner: str | None = None


class MediaSource(BaseModel):
    """``bytes`` (base64), ``s3Location``, or for a document its ``text`` or ``content`` blocks."""

    model_config = LOOSE
    bytes: str | None = Field(None, description="base64")
    s3Location: S3Location | None = None
    text: str | None = None
    content: list[dict[str, Any]] | None = None


class Image(BaseModel):
    model_config = LOOSE
    format: str
    source: MediaSource


class Document(BaseModel):
    model_config = LOOSE
    format: str | None = Field(None, description="pdf, csv, doc, docx, xls, xlsx, html, txt or md")
    name: str | None = None
    source: MediaSource


class ToolUse(BaseModel):
    model_config = LOOSE
    toolUseId: str
    name: str
    input: dict[str, Any] | None = None


class ToolResultItem(BaseModel):
    """One of ``json``, ``text``, ``image``, ``document``, ``searchResult``."""

    model_config = LOOSE
    json_: Any = Field(None, alias="json")
    text: str | None = None
    image: Image | None = None
    document: Document | None = None
    searchResult: dict[str, Any] | None = None


class ToolResult(BaseModel):
    model_config = LOOSE
    toolUseId: str
    content: list[ToolResultItem]
    status: str | None = Field(None, description="success or error")


class ReasoningText(BaseModel):
    model_config = LOOSE
    text: str
    signature: str | None = None


class Reasoning(BaseModel):
    model_config = LOOSE
    reasoningText: ReasoningText | None = None
    redactedContent: str | None = None


class GuardText(BaseModel):
    model_config = LOOSE
    text: str


class Guard(BaseModel):
    model_config = LOOSE
    text: GuardText | None = None
    image: Image | None = None


class SearchResult(BaseModel):
    model_config = LOOSE
    source: str
    title: str
    content: list[dict[str, Any]]


class Citations(BaseModel):
    model_config = LOOSE
    content: list[dict[str, Any]] | None = None


class ContentBlock(BaseModel):
    """Exactly one of its fields (Bedrock's ``ContentBlock`` union); ``video`` and ``audio`` are refused (400)."""

    model_config = LOOSE
    text: str | None = None
    image: Image | None = None
    document: Document | None = None
    toolUse: ToolUse | None = None
    toolResult: ToolResult | None = None
    reasoningContent: Reasoning | None = None
    guardContent: Guard | None = None
    citationsContent: Citations | None = None
    searchResult: SearchResult | None = None
    cachePoint: dict[str, Any] | None = None


class Message(BaseModel):
    model_config = LOOSE
    role: str = Field(description="user or assistant")
    content: list[ContentBlock]


class SystemBlock(BaseModel):
    model_config = LOOSE
    text: str | None = None
    guardContent: Guard | None = None
    cachePoint: dict[str, Any] | None = None


class InputSchema(BaseModel):
    model_config = LOOSE
    json_: dict[str, Any] = Field(alias="json")


class ToolSpec(BaseModel):
    model_config = LOOSE
    name: str
    description: str | None = None
    inputSchema: InputSchema


class SystemTool(BaseModel):
    model_config = LOOSE
    name: str


class Tool(BaseModel):
    model_config = LOOSE
    toolSpec: ToolSpec | None = None
    systemTool: SystemTool | None = None
    cachePoint: dict[str, Any] | None = None


class ToolChoiceName(BaseModel):
    model_config = LOOSE
    name: str


class ToolChoice(BaseModel):
    """One of ``auto``, ``any``, ``tool``."""

    model_config = LOOSE
    auto: dict[str, Any] | None = None
    any: dict[str, Any] | None = None
    tool: ToolChoiceName | None = None


class ToolConfig(BaseModel):
    model_config = LOOSE
    tools: list[Tool]
    toolChoice: ToolChoice | None = None


class Converse(BaseModel):
    model_config = LOOSE
    messages: list[Message]
    system: list[SystemBlock] | None = None
    toolConfig: ToolConfig | None = None
    additionalModelRequestFields: dict[str, Any] | None = Field(
        None, description="`thinking` (Anthropic's) switches Claude's thinking; other fields change no count")


class InvokeModel(BaseModel):
    model_config = LOOSE
    body: str = Field(description="the model's InvokeModel body (for Claude an Anthropic Messages body): base64 of "
                                  "its JSON, as boto3 sends a blob, or the JSON text itself")


class CountTokensInput(BaseModel):
    """Exactly one of ``converse`` and ``invokeModel``."""

    model_config = LOOSE
    converse: Converse | None = None
    invokeModel: InvokeModel | None = None


class CountTokensRequest(BaseModel):
    model_config = LOOSE
    input: CountTokensInput


class CountTokensResponse(BaseModel):
    inputTokens: int = Field(ge=0)


class BedrockError(BaseModel):
    """``{"message": ...}``; the error's type (``ValidationException``, ...) is the ``x-amzn-ErrorType`` header."""

    message: str


#: AWS answers an unauthenticated request 403, never 401
ROUTES = {"/model/{model}/count-tokens": RouteSchema(CountTokensRequest, CountTokensResponse, BedrockError,
                                                     errors=(400, 403, 404, 413, 500), error_headers=(
    ("x-amzn-ErrorType", "the AWS error type: ValidationException, UnrecognizedClientException, "
                         "AccessDeniedException, ResourceNotFoundException, ..."),))}
