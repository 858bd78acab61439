"""``GET /v1/models`` and ``GET /v1/models/{model_id}`` (the OpenAI list shape, with tokcount's fields)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from . import RouteSchema
from ._common import OpenAIError


class Model(BaseModel):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    repo: str | None = None
    aliases: list[str]
    context_window: int | None = None
    available: bool
    default: bool


class ModelList(BaseModel):
    object: Literal["list"]
    data: list[Model]


ROUTES = {
    "/v1/models": RouteSchema(None, ModelList, OpenAIError, errors=(401,)),
    "/v1/models/{model_id}": RouteSchema(None, Model, OpenAIError, errors=(401, 404)),
}
