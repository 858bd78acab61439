"""Bifrost ``POST /v1/count_tokens``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from . import RouteSchema
from .openai_responses import InputItem, ResponsesInput


class BifrostCount(ResponsesInput):
    """A Responses body with ``model`` as ``provider/model`` and ``fallbacks`` tried in order."""

    model: str = Field(min_length=1, examples=["qwen/qwen3.5"])
    input: str | list[InputItem] = Field(min_length=1)
    fallbacks: list[str] | None = None


class Details(BaseModel):
    text_tokens: int
    image_tokens: int
    audio_tokens: int
    cached_tokens: int


class ExtraFields(BaseModel):
    model_config = {"extra": "allow"}
    provider: str
    request_type: str
    model_requested: str
    latency: int
    context_window: int | None = Field(None, description="the counting model's context window")
    fits: bool | None = Field(None, description="input_tokens <= context_window")
    tokens_complete: bool | None = Field(None, description="tokens lists every id of input_tokens (false for closed "
                                         "models: their text's ids only, or none; see tokens_note)")
    tokens_note: str | None = Field(None, description="what tokens leaves out, when tokens_complete is false")


class BifrostAnswer(BaseModel):
    object: str
    model: str
    input_tokens: int = Field(ge=0)
    input_tokens_details: Details
    tokens: list[int]
    token_strings: list[str]
    output_tokens: Any = None
    total_tokens: int
    extra_fields: ExtraFields


class BifrostErrorBody(BaseModel):
    type: str
    code: str
    message: str
    param: str | None = None


class BifrostErrorExtra(BaseModel):
    request_type: str


class BifrostError(BaseModel):
    is_bifrost_error: bool
    status_code: int
    error: BifrostErrorBody
    extra_fields: BifrostErrorExtra


ROUTES = {"/v1/count_tokens": RouteSchema(BifrostCount, BifrostAnswer, BifrostError)}
