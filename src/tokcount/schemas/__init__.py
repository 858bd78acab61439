"""Pydantic models of what every route accepts and answers, for the OpenAPI document only.

Parsing stays hand-written in :mod:`tokcount.dialects` (one pass, exact error messages naming the field); these
models *describe* the accepted bodies so code generators, gateways that import OpenAPI and schema fuzzers get real
types. ``tests/dialects/test_schemas.py`` keeps the two in agreement: every seed and docs example validates against its
request model, every field a parser reads is a property here, and every 200 answer validates against its
response model. One module per dialect; each defines ``ROUTES``: route path → :class:`RouteSchema`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache

from pydantic import BaseModel

#: the modules that describe a dialect's routes (one per dialect with HTTP routes)
MODULES = ("stepfun", "moonshot", "anthropic", "openai_responses", "bifrost", "gemini", "vllm", "models", "tools",
           "vertex", "bedrock")


@dataclass(frozen=True)
class RouteSchema:
    """A route's request body, its 200 answer, and the dialect's error body (every 4xx/5xx)."""

    request: type[BaseModel] | None
    response: type[BaseModel]
    error: type[BaseModel]
    #: the error statuses this route can answer (each documented with ``error``)
    errors: tuple[int, ...] = (400, 401, 403, 404, 413, 500)
    #: headers every error answer carries: name → description (Bedrock's ``x-amzn-ErrorType``)
    error_headers: tuple[tuple[str, str], ...] = ()


@cache
def routes() -> dict[str, RouteSchema]:
    """Every described route, by path (as the dialects declare it)."""
    out: dict[str, RouteSchema] = {}
    for name in MODULES:
        out.update(importlib.import_module(f"{__name__}.{name}").ROUTES)
    return out


def for_path(path: str) -> RouteSchema | None:
    """The models of the route at ``path`` (an OpenAPI path template). A route served under a second prefix shares
    its twin's models: ``/v1/tokenize`` is ``/tokenize``, ``/v1/models/{model}:countTokens`` the ``/v1beta`` one."""
    described = routes()
    for candidate in (path, path.removeprefix("/v1"), path.replace("/v1/", "/v1beta/", 1)):
        if candidate in described:
            return described[candidate]
    return None
