"""The Gemini countTokens route's answer without HTTP, for tests that read its body and headers: the route the
server mounts, run by :func:`tokcount.jobs.answer` as the server and the CLI run it (the dialect module once had a
second pipeline of its own for this, ``handle`` / ``handle_full``, that nothing but tests used)."""

from __future__ import annotations

from typing import Any

from tokcount import config, jobs
from tokcount.dialects import gemini


def handle_full(model: str, body: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, headers) of ``POST /v1beta/models/{model}:countTokens`` with ``body``."""
    dialect = gemini.DIALECT
    out = jobs.answer(dialect, dialect.routes[0], body, config.current(), path_params={"model": model})
    return out.status, out.body, out.headers


def handle(model: str, body: Any) -> tuple[int, dict[str, Any]]:
    """(status, body) of the route."""
    status, out, _ = handle_full(model, body)
    return status, out
