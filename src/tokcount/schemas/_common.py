"""Pieces shared by the OpenAI-like shapes: chat messages and parts, tools, and the ``{"error": {...}}`` body."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: request bodies take (and ignore) fields that cannot change an input count (temperature, stream, ...)
LOOSE = ConfigDict(extra="allow")
#: a chat message takes only its known keys: a typo such as ``contnet`` is a 400 naming it (docs/api.md)
STRICT = ConfigDict(extra="forbid")


class ImageUrl(BaseModel):
    model_config = LOOSE
    url: str
    detail: str | None = None


class FileRef(BaseModel):
    model_config = LOOSE
    file_data: str | None = None
    file_url: str | None = None
    file_id: str | None = None
    filename: str | None = None


class ContentPart(BaseModel):
    """One part of a message's content list; which fields matter depends on ``type``."""

    model_config = LOOSE
    type: Literal["text", "input_text", "output_text", "image_url", "input_image", "image", "video_url", "video",
                  "file", "input_file", "document", "thinking", "reasoning", "refusal"]
    text: str | None = None
    image_url: ImageUrl | str | None = None
    image: ImageUrl | str | None = None
    detail: str | None = None
    video_url: ImageUrl | str | None = None
    video: ImageUrl | str | None = None
    file: FileRef | None = None
    file_data: str | None = None
    file_url: str | None = None
    file_id: str | None = None
    filename: str | None = None
    thinking: str | None = None
    refusal: str | None = Field(None, description="a refusal part's text (an assistant turn sent back)")


class FunctionCall(BaseModel):
    model_config = LOOSE
    name: str
    arguments: str | dict[str, Any] | None = Field(None, description="a JSON string (OpenAI) or an object")
    input: dict[str, Any] | None = None


class CustomCall(BaseModel):
    model_config = LOOSE
    name: str
    input: str = Field(description="a custom tool's free-form text input")


class ToolCall(BaseModel):
    model_config = LOOSE
    id: str | None = None
    type: str | None = Field(None, description="function (the default) or custom")
    function: FunctionCall | None = None
    custom: CustomCall | None = None


class ChatMessage(BaseModel):
    """An OpenAI chat message. Unknown keys are refused (400 naming the key) on every OpenAI-chat-like route."""

    model_config = STRICT
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart | str] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    function_call: FunctionCall | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    thinking: str | None = None
    partial: bool | None = Field(None, description="Moonshot prefill mode: only on the last, assistant, message")
    refusal: str | None = Field(None, description="accepted (an assistant turn echoed back), not counted")
    audio: dict[str, Any] | None = Field(None, description="accepted (an assistant turn echoed back), not counted")
    annotations: list[Any] | None = Field(None, description="accepted (an assistant turn echoed back), not counted")


class FunctionDef(BaseModel):
    model_config = LOOSE
    name: str = Field(min_length=1)
    description: str | None = None
    parameters: dict[str, Any] | None = None


class ChatTool(BaseModel):
    """``{"type": "function", "function": {...}}`` (or the function's fields at the top level)."""

    model_config = LOOSE
    type: str | None = Field(None, description="function (the default) or custom")
    function: FunctionDef | None = None
    custom: dict[str, Any] | None = Field(None, description="a custom tool: name, description, format")
    name: str | None = None
    description: str | None = None
    parameters: dict[str, Any] | None = None
    format: dict[str, Any] | None = Field(None, description="a custom tool's input format (text or a grammar)")


class NamedFunction(BaseModel):
    model_config = LOOSE
    name: str


class ToolChoiceObject(BaseModel):
    model_config = LOOSE
    type: str | None = None
    function: NamedFunction | None = None
    custom: NamedFunction | None = None
    name: str | None = None
    allowed_tools: dict[str, Any] | None = Field(None, description="Chat: {mode, tools}")
    mode: str | None = Field(None, description="Responses allowed_tools: auto or required")


ToolChoice = Literal["auto", "none", "required", "any"] | ToolChoiceObject


class OpenAIErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIError(BaseModel):
    """``{"error": {"message", "type", "param", "code"}}``: OpenAI, Moonshot, StepFun and vLLM."""

    error: OpenAIErrorBody


class TotalTokens(BaseModel):
    total_tokens: int = Field(ge=0)


class DataTotal(BaseModel):
    """``{"data": {"total_tokens": N}}`` (StepFun, Moonshot)."""

    data: TotalTokens
