"""vLLM ``POST /tokenize`` and ``POST /detokenize``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from . import RouteSchema
from ._common import LOOSE, ChatMessage, ChatTool, FunctionDef, OpenAIError, ToolChoice


class Tokenize(BaseModel):
    """Exactly one of ``prompt`` (a raw string) or ``messages`` (a chat, rendered with the model's template)."""

    model_config = LOOSE
    model: str | None = Field(None, description="the default model when missing", examples=["qwen3.5"])
    prompt: str | None = None
    messages: list[ChatMessage] | None = Field(None, min_length=1)
    add_generation_prompt: bool | None = Field(None, description="true when missing, as in vLLM")
    continue_final_message: bool | None = None
    return_token_strs: bool | None = None
    tools: list[ChatTool] | None = None
    functions: list[FunctionDef] | None = None
    tool_choice: ToolChoice | None = None
    chat_template_kwargs: dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None


class Tokens(BaseModel):
    count: int = Field(ge=0)
    max_model_len: int | None = Field(description="the model's context window")
    tokens: list[int]
    token_strs: list[str] | None = None


class Detokenize(BaseModel):
    model_config = LOOSE
    model: str | None = None
    tokens: list[int]  # non-negative ids (checked by the parser, which names the bad index)


class Prompt(BaseModel):
    prompt: str


ROUTES = {
    "/tokenize": RouteSchema(Tokenize, Tokens, OpenAIError),
    "/detokenize": RouteSchema(Detokenize, Prompt, OpenAIError),
}
