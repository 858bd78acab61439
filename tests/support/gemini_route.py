"""Gemini's ``countTokens`` answered without HTTP, as the server's route answers it (:func:`tokcount.jobs.answer`
over the dialect's route: the dialect module has no second pipeline of its own)."""

from __future__ import annotations

from typing import Any

from tokcount import jobs
from tokcount.dialects import gemini
from tokcount.settings import Settings


def handle_full(model: str, body: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, headers) of ``POST /v1beta/models/{model}:countTokens``."""
    out = jobs.answer(gemini.DIALECT, gemini.DIALECT.routes[0], body, Settings(), path_params={"model": model})
    return out.status, out.body, out.headers


def handle(model: str, body: Any) -> tuple[int, dict[str, Any]]:
    """(status, body) of ``POST /v1beta/models/{model}:countTokens``."""
    return handle_full(model, body)[:2]
