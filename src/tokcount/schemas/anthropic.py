"""Anthropic ``POST /v1/messages/count_tokens``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from . import RouteSchema
from ._common import LOOSE


class Source(BaseModel):
    """An image or document source: ``base64`` (``media_type``, ``data``), ``url``, ``file`` (``file_id``),
    ``text`` or ``content``."""

    model_config = LOOSE
    type: str
    media_type: str | None = None
    data: str | None = None
    url: str | None = None
    file_id: str | None = None
    content: str | list[Any] | None = None


class Block(BaseModel):
    """A content block; which fields matter depends on ``type`` (text, image, document, tool_use, tool_result,
    thinking, redacted_thinking, search_result, server-tool blocks, ...)."""

    model_config = LOOSE
    type: str
    text: str | None = None
    source: Source | None = None
    tool_name: str | None = Field(None, description="a tool_reference block's tool")
    id: str | None = None
    name: str | None = None
    input: dict[str, Any] | None = None
    tool_use_id: str | None = None
    content: str | list[Any] | None = None
    is_error: bool | None = None
    thinking: str | None = None
    data: str | None = None
    title: str | None = None
    cache_control: dict[str, Any] | None = None


class Message(BaseModel):
    model_config = LOOSE
    role: Literal["user", "assistant", "system"]
    content: str | list[Block]


class SystemBlock(BaseModel):
    model_config = LOOSE
    type: Literal["text"] = "text"
    text: str


class Tool(BaseModel):
    model_config = LOOSE
    type: str | None = Field(None, description="missing or custom: a client tool; else a server tool's type "
                             "(a ``*_toolset_*`` entry has no name; ``mcp_toolset`` names its server)")
    name: str | None = None
    mcp_server_name: str | None = Field(None, description="mcp_toolset: the MCP server")
    tools: list[dict[str, Any]] | None = Field(None, description="mcp_toolset: the server's tool listing, pinned")
    description: str | None = None
    input_schema: dict[str, Any] | None = None
    inputSchema: dict[str, Any] | None = Field(None, description="accepted for input_schema")


class ToolChoice(BaseModel):
    model_config = LOOSE
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class Thinking(BaseModel):
    model_config = LOOSE
    type: Literal["enabled", "disabled", "adaptive", "between_tools"] | None = None
    enabled: bool | None = None
    budget_tokens: int | None = None


class CountTokens(BaseModel):
    model_config = LOOSE
    model: str = Field(min_length=1, examples=["claude-sonnet-4-5", "default"])
    messages: list[Message] = Field(min_length=1)
    system: str | list[SystemBlock | str] | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    thinking: Thinking | None = None
    output_config: dict[str, Any] | None = None
    cache_control: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    context_management: dict[str, Any] | None = None


class InputTokens(BaseModel):
    input_tokens: int = Field(ge=0)


class ErrorBody(BaseModel):
    type: str
    message: str


class AnthropicError(BaseModel):
    """``{"type": "error", "error": {"type", "message"}}``; a body that breaks the schema is a 422."""

    type: Literal["error"]
    error: ErrorBody


ROUTES = {"/v1/messages/count_tokens": RouteSchema(CountTokens, InputTokens, AnthropicError,
                                                   errors=(400, 401, 403, 404, 413, 422, 500))}
