"""tokcount: exact input-token counts for LLM requests, locally.

>>> import tokcount
>>> tokcount.count("Qwen/Qwen3-8B", {"messages": [{"role": "user", "content": "Hi"}]}).input_tokens
"""

from .count import count, count_text, decode
from .errors import (
    InvalidRequest,
    MediaError,
    MissingAssets,
    RequestTooLarge,
    TemplateError,
    TokcountError,
    UnknownModel,
)
from .fit import BudgetTooSmall, Fit, fit
from .request import Request
from .settings_in_force import configure
from .token_count import Count

__all__ = [
    "BudgetTooSmall",
    "Count",
    "Fit",
    "InvalidRequest",
    "MediaError",
    "MissingAssets",
    "Request",
    "RequestTooLarge",
    "TemplateError",
    "TokcountError",
    "UnknownModel",
    "configure",
    "count",
    "count_text",
    "decode",
    "fit",
]
