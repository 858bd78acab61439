"""Gemini ``POST /v1beta/models/{model}:countTokens`` (fields also under their snake_case names)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from . import RouteSchema
from ._common import LOOSE


class Blob(BaseModel):
    model_config = LOOSE
    mimeType: str
    data: str = Field(description="base64, standard or URL-safe")


class FileData(BaseModel):
    model_config = LOOSE
    mimeType: str | None = None
    fileUri: str


class FunctionCall(BaseModel):
    model_config = LOOSE
    name: str
    args: dict[str, Any] | None = None
    id: str | None = None


class MediaPart(BaseModel):
    """A function response's media: one of inlineData, fileData."""

    model_config = LOOSE
    inlineData: Blob | None = None
    fileData: FileData | None = None


class FunctionResponse(BaseModel):
    model_config = LOOSE
    name: str | None = None
    response: dict[str, Any] | None = None
    id: str | None = None
    parts: list[MediaPart] | MediaPart | None = None


class ExecutableCode(BaseModel):
    model_config = LOOSE
    language: str | None = None
    code: str | None = None


class CodeExecutionResult(BaseModel):
    model_config = LOOSE
    outcome: str | None = None
    output: str | None = None


class ServerToolCall(BaseModel):
    """``toolCall`` / ``toolResponse``: a server-side tool's call and result, sent back in a later turn."""

    model_config = LOOSE
    id: str | None = None
    toolType: str | None = None
    args: dict[str, Any] | None = None
    response: dict[str, Any] | None = None


class PartMediaResolution(BaseModel):
    """A part's own media resolution (Gemini 3): the level its image is priced at."""

    model_config = LOOSE
    level: str | None = Field(None, description="MEDIA_RESOLUTION_LOW, _MEDIUM or _HIGH")


class Part(BaseModel):
    """Exactly one of text, inlineData, fileData, functionCall, functionResponse, executableCode,
    codeExecutionResult, toolCall, toolResponse (a null field is unset)."""

    model_config = LOOSE
    text: str | None = None
    thought: bool | None = None
    thoughtSignature: str | None = None
    inlineData: Blob | None = None
    fileData: FileData | None = None
    functionCall: FunctionCall | None = None
    functionResponse: FunctionResponse | None = None
    executableCode: ExecutableCode | None = None
    codeExecutionResult: CodeExecutionResult | None = None
    toolCall: ServerToolCall | None = None
    toolResponse: ServerToolCall | None = None
    mediaResolution: PartMediaResolution | str | None = None


class Content(BaseModel):
    """Every repeated field here and below also takes one object on its own (Google's JSON parser does)."""

    model_config = LOOSE
    role: str | None = Field(None, description="user (the default) or model")
    parts: list[Part] | Part | None = None


class FunctionDeclaration(BaseModel):
    model_config = LOOSE
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    parametersJsonSchema: dict[str, Any] | None = None


class Tool(BaseModel):
    model_config = LOOSE
    functionDeclarations: list[FunctionDeclaration] | FunctionDeclaration | None = None


class GenerationConfig(BaseModel):
    model_config = LOOSE
    responseMimeType: str | None = None
    responseSchema: dict[str, Any] | None = None
    responseJsonSchema: Any = None
    mediaResolution: str | None = Field(None, description="the level of every image without its own")


class GenerateContentRequest(BaseModel):
    model_config = LOOSE
    model: str | None = None
    contents: list[Content] | Content | None = None
    systemInstruction: Content | None = None
    tools: list[Tool] | Tool | None = None
    generationConfig: GenerationConfig | None = None


class CountTokensRequest(BaseModel):
    """Exactly one of ``contents`` or ``generateContentRequest``."""

    model_config = LOOSE
    contents: list[Content] | Content | str | None = None
    generateContentRequest: GenerateContentRequest | None = None
    systemInstruction: Content | None = None
    tools: list[Tool] | Tool | None = None
    generationConfig: GenerationConfig | None = None


class ModalityTokenCount(BaseModel):
    modality: Literal["TEXT", "IMAGE", "VIDEO", "AUDIO", "DOCUMENT"]
    tokenCount: int = Field(ge=0)


class CountTokensResponse(BaseModel):
    totalTokens: int = Field(ge=0)
    promptTokensDetails: list[ModalityTokenCount]


class Status(BaseModel):
    code: int
    message: str
    status: str


class GoogleError(BaseModel):
    """``{"error": {"code", "message", "status"}}``."""

    error: Status


ROUTES = {"/v1beta/models/{model}:countTokens": RouteSchema(CountTokensRequest, CountTokensResponse, GoogleError)}
