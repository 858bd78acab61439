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


class FunctionResponse(BaseModel):
    model_config = LOOSE
    name: str | None = None
    response: dict[str, Any] | None = None
    id: str | None = None


class Part(BaseModel):
    """Exactly one of text, inlineData, fileData, functionCall, functionResponse."""

    model_config = LOOSE
    text: str | None = None
    thought: bool | None = None
    thoughtSignature: str | None = None
    inlineData: Blob | None = None
    fileData: FileData | None = None
    functionCall: FunctionCall | None = None
    functionResponse: FunctionResponse | None = None


class Content(BaseModel):
    model_config = LOOSE
    role: str | None = Field(None, description="user (the default) or model")
    parts: list[Part] | None = None


class FunctionDeclaration(BaseModel):
    model_config = LOOSE
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    parametersJsonSchema: dict[str, Any] | None = None


class Tool(BaseModel):
    model_config = LOOSE
    functionDeclarations: list[FunctionDeclaration] | None = None


class GenerationConfig(BaseModel):
    model_config = LOOSE
    responseMimeType: str | None = None
    responseSchema: dict[str, Any] | None = None
    responseJsonSchema: Any = None


class GenerateContentRequest(BaseModel):
    model_config = LOOSE
    model: str | None = None
    contents: list[Content] | None = None
    systemInstruction: Content | None = None
    tools: list[Tool] | None = None
    generationConfig: GenerationConfig | None = None


class CountTokensRequest(BaseModel):
    """Exactly one of ``contents`` or ``generateContentRequest``."""

    model_config = LOOSE
    contents: list[Content] | None = None
    generateContentRequest: GenerateContentRequest | None = None
    systemInstruction: Content | None = None
    tools: list[Tool] | None = None
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
