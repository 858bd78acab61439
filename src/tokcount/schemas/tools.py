"""``POST /v1/fit`` (trim any dialect's body to a budget) and ``POST /v1/playground/count`` (several models at once).

Both take bodies of whatever dialect the caller names, so their request models are open objects; the answers are
described field by field (:mod:`tokcount.fit`, :mod:`tokcount.fit_route`, :mod:`tokcount.playground.routes`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from . import RouteSchema
from ._common import LOOSE, OpenAIError


class AnyBody(BaseModel):
    """A request body in the shape of the dialect named by ``?dialect=`` (default ``openai-chat``)."""

    model_config = LOOSE
    model: str | None = Field(default=None, examples=["qwen3.5"])


class Truncated(BaseModel):
    index: int
    chars_removed: int
    chars_kept: int


class FitAnswer(BaseModel):
    """The trimmed body (same dialect as sent) and what it costs."""

    object: str = Field(examples=["fit"])
    dialect: str
    budget: int
    tokens_before: int
    tokens_after: int
    minimum_tokens: int = Field(description="what can never be dropped: system prompt, tools, the last user turn")
    dropped: list[int] = Field(description="indices of the dropped messages in the original list, oldest first")
    next_tokens: int | None = Field(description="the count with the newest dropped turn added back (> budget)")
    truncated: Truncated | None
    request: Any


class PlaygroundRequest(BaseModel):
    model_config = LOOSE
    dialect: str = Field(default="openai-chat", description='"text" or any `tokcount count --dialect` name')
    models: list[str] = Field(min_length=1, examples=[["qwen3.5", "gpt-4o"]])
    request: Any = Field(description="the body in that dialect (a string for text)")


class PlaygroundResult(BaseModel):
    model_config = LOOSE
    model: str
    status: int


class PlaygroundAnswer(BaseModel):
    object: str = Field(examples=["playground.counts"])
    dialect: str
    results: list[PlaygroundResult]


ROUTES = {
    "/v1/fit": RouteSchema(AnyBody, FitAnswer, OpenAIError, errors=(400, 401, 403, 404, 408, 413, 500, 503)),
    "/v1/playground/count": RouteSchema(PlaygroundRequest, PlaygroundAnswer, OpenAIError),
}
