"""Whether a count fits its model's context window, said on every count answer.

A request far over the window (4.98 M tokens against 262,144) used to be answered 200 without a word. Shapes with
room for extra fields say it in the body (Bifrost ``extra_fields``, vLLM ``max_model_len``); every count answer
also carries ``x-tokcount-context-window`` and ``x-tokcount-fits`` headers, so shapes without room say it too.
"""

from __future__ import annotations

from .token_count import Count

CONTEXT_HEADER = "x-tokcount-context-window"
FITS_HEADER = "x-tokcount-fits"


def fits(count: Count) -> bool | None:
    """True when the input fits the model's context window; None when the window is unknown."""
    if count.context_window is None:
        return None
    return count.input_tokens <= count.context_window


def headers(count: Count | None) -> dict[str, str]:
    """The two headers for a count (none for a decode, or a model whose window the catalog does not give)."""
    if count is None or count.context_window is None:
        return {}
    return {CONTEXT_HEADER: str(count.context_window), FITS_HEADER: "true" if fits(count) else "false"}
