"""What every HTTP dialect shares: the parsed job handed to the engine, and the error every failure becomes.

A dialect module exposes ``parse(body, settings) -> Job``, ``format(job, result) -> dict`` and
``error(err: ApiError) -> (status, dict)``. The server does the rest (auth, body limits, JSON, running the
engine), so a dialect never sees HTTP and never counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..count import Count
from ..errors import TokcountError
from ..request import Request


@dataclass
class Job:
    """One engine call: count a chat request, count a raw text, or decode ids, for the first usable model."""

    #: model names to try in order (Bifrost ``fallbacks`` make it longer than one)
    models: list[str]
    op: Literal["count", "text", "decode"] = "count"
    request: Request | None = None
    text: str | None = None
    ids: list[int] | None = None
    return_tokens: bool = False
    #: dialect-specific values the formatter needs (the requested model name, flags, ...)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Result:
    """What the engine produced for a job, and which of the job's models produced it."""

    model: str
    count: Count | None = None
    text: str | None = None
    latency_ms: float = 0.0


#: kinds that are the caller's fault with the request's content, and their default status
KIND_STATUS = {
    "invalid_json": 400,
    "invalid_request": 400,
    "template_error": 400,
    "render_limit": 400,
    "media_error": 400,
    "unknown_model": 404,
    "missing_assets": 404,
    "request_too_large": 413,
    "authentication": 401,
    "render_timeout": 503,
    "internal": 500,
}


@dataclass
class ApiError(Exception):
    """A failure on its way to a dialect's error body. ``schema`` = raised while reading the body's fields."""

    status: int
    kind: str
    message: str
    param: str | None = None
    schema: bool = False

    @classmethod
    def of(cls, exc: TokcountError, *, schema: bool = False) -> ApiError:
        return cls(status=exc.status, kind=exc.kind, message=exc.message, param=exc.param, schema=schema)


def openai_style(err: ApiError, types: dict[str, str], default_type: str = "invalid_request_error",
                 codes: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """``{"error": {"message", "type", "param", "code"}}``, the shape OpenAI, Moonshot, StepFun and vLLM share."""
    code = (codes or {}).get(err.kind, err.kind)
    body: dict[str, Any] = {"message": err.message, "type": types.get(err.kind, default_type), "param": err.param,
                            "code": code}
    return err.status, {"error": body}
