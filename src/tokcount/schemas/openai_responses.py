"""OpenAI Responses ``POST /v1/responses/input_tokens`` (the input part Bifrost shares)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from . import RouteSchema
from ._common import LOOSE, ContentPart, OpenAIError, ToolChoice


class InputItem(BaseModel):
    """An ``input`` item: a message (``type`` missing or ``message``), a function or custom tool call or its output,
    reasoning, ``additional_tools``, ``item_reference`` (also an item with only an ``id``), or a hosted tool's item
    (``web_search_call``, ``mcp_call``, ...: accepted and left out of the count, which says so)."""

    model_config = LOOSE
    type: str | None = None
    id: str | None = None
    role: str | None = None
    content: str | list[ContentPart | dict[str, Any]] | None = None
    name: str | None = None
    arguments: str | dict[str, Any] | None = None
    input: str | None = Field(None, description="a custom_tool_call's free-form input")
    tools: list[dict[str, Any]] | None = Field(None, description="additional_tools: tools made available")
    call_id: str | None = None
    output: str | list[Any] | None = None
    summary: list[Any] | None = None
    text: str | None = None


class FunctionTool(BaseModel):
    model_config = LOOSE
    type: str | None = Field(None, description="function (missing means function), custom, namespace, or a hosted "
                             "tool (web_search, file_search, mcp, ...: accepted, not counted, said in the notes)")
    name: str | None = None
    description: str | None = None
    parameters: dict[str, Any] | None = None
    function: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = Field(None, description="a namespace's function and custom tools")
    format: dict[str, Any] | None = Field(None, description="a custom tool's input format")


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
    tool_choice: ToolChoice | None = None
    reasoning: Reasoning | None = None
    text: TextConfig | None = None


class InputTokens(BaseModel):
    object: Literal["response.input_tokens"]
    input_tokens: int = Field(ge=0)


ROUTES = {"/v1/responses/input_tokens": RouteSchema(ResponsesInput, InputTokens, OpenAIError)}
