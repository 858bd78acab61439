"""StepFun ``POST /v1/token/count``."""

from __future__ import annotations

from pydantic import BaseModel, Field

from . import RouteSchema
from ._common import LOOSE, ChatMessage, ChatTool, DataTotal, OpenAIError


class StepFunCount(BaseModel):
    """A chat-completion body; fields other than these are ignored (they cannot change an input count)."""

    model_config = LOOSE
    model: str = Field(min_length=1, examples=["qwen3.5"],
                       description='a catalog model, a Hub repo the operator allows, or "default"')
    messages: list[ChatMessage] = Field(min_length=1)
    tools: list[ChatTool] | None = None


ROUTES = {"/v1/token/count": RouteSchema(StepFunCount, DataTotal, OpenAIError)}
