"""StepFun ``POST /v1/token/count``: a chat-completion body → ``{"data": {"total_tokens": N}}``.

Accepts ``model`` and ``messages`` (system / user / assistant, plus tool messages as in the chat API; user content a
string or ``text`` / ``image_url`` parts), and ``tools`` in the chat-completions shape. Other fields are ignored.
"""

from __future__ import annotations

from typing import Any

from ..errors import TokcountError
from ..settings import Settings
from ._api import Dialect, Job, Native, Outcome, Route, openai_style
from ._chatlike import chat_messages, chat_request, model_of
from ._fields import obj

NAME = "stepfun"
TYPES = {
    "authentication": "authentication_error",
    "unknown_model": "invalid_request_error",
    "missing_assets": "invalid_request_error",
    "model_not_allowed": "permission_error",
    "request_too_large": "invalid_request_error",
    "internal": "server_error",
}
CODES = {"unknown_model": "model_not_found", "missing_assets": "model_not_available",
         "authentication": "invalid_api_key"}


def parse(body: Any, settings: Settings) -> Job:
    body = obj(body, "body")
    model = model_of(body, settings.default_model)
    return Job(models=[model], request=chat_request(body, chat_messages(body)))


def format(job: Job, result: Outcome) -> dict[str, Any]:
    assert result.count is not None
    return {"data": {"total_tokens": result.count.input_tokens}}


def error(err: TokcountError) -> tuple[int, dict[str, Any]]:
    return openai_style(err, TYPES, codes=CODES)


DIALECT = Dialect(NAME, error, doc=__doc__ or "", native=Native("stepfun", ("messages", "tools")), routes=(
    Route("/v1/token/count", "StepFun token count", parse, format,
          example={"model": "qwen3.5", "messages": [{"role": "user", "content": "Hi"}]}),
))
