"""OpenAI Responses ``POST /v1/responses/input_tokens`` (the input part Bifrost shares)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from . import RouteSchema
from ._common import LOOSE, ContentPart, OpenAIError


class InputItem(BaseModel):
    """An ``input`` item: a message (``type`` missing or ``message``), a function call or its output, reasoning."""

    model_config = LOOSE
    type: Literal["message", "function_call", "function_call_output", "reasoning"] | None = None
    role: str | None = None
    content: str | list[ContentPart | dict[str, Any]] | None = None
    name: str | None = None
    arguments: str | dict[str, Any] | None = None
    call_id: str | None = None
    output: str | list[Any] | None = None
    summary: list[Any] | None = None
    text: str | None = None


class FunctionTool(BaseModel):
    model_config = LOOSE
    type: str | None = Field(None, description="function (missing means function)")
    name: str | None = None
    description: str | None = None
    parameters: dict[str, Any] | None = None
    function: dict[str, Any] | None = None


class Reasoning(BaseModel):
    model_config = LOOSE
    effort: str | None = Field(None, description='"none" turns a hybrid model\'s thinking off, any other value on')


class TextConfig(BaseModel):
    model_config = LOOSE
    format: dict[str, Any] | None = None


class ResponsesInput(BaseModel):
    """The fields that shape the input; every other Responses field is ignored."""

    model_config = LOOSE
    model: str | None = Field(None, description="the default model when missing", examples=["gpt-4o"])
    input: str | list[InputItem] | None = None
    instructions: str | None = None
    tools: list[FunctionTool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    reasoning: Reasoning | None = None
    text: TextConfig | None = None


class InputTokens(BaseModel):
    object: Literal["response.input_tokens"]
    input_tokens: int = Field(ge=0)


ROUTES = {"/v1/responses/input_tokens": RouteSchema(ResponsesInput, InputTokens, OpenAIError)}
