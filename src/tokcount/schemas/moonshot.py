"""Moonshot (Kimi) ``POST /v1/tokenizers/estimate-token-count``."""

from __future__ import annotations

from pydantic import BaseModel, Field

from . import RouteSchema
from ._common import LOOSE, ChatMessage, ChatTool, DataTotal, OpenAIError


class MoonshotCount(BaseModel):
    """Moonshot's schema: ``content`` must be non-empty unless the message has ``tool_calls``."""

    model_config = LOOSE
    model: str = Field(min_length=1, examples=["qwen3.5"])
    messages: list[ChatMessage] = Field(min_length=1)
    tools: list[ChatTool] | None = None


ROUTES = {"/v1/tokenizers/estimate-token-count": RouteSchema(MoonshotCount, DataTotal, OpenAIError)}
