"""Moonshot (Kimi) ``POST /v1/tokenizers/estimate-token-count`` → ``{"data": {"total_tokens": N}}``.

Its OpenAPI schema: ``model``, ``messages`` with role system / user / assistant, ``content`` a non-empty string or
a non-empty list of ``text`` / ``image_url`` / ``video_url`` parts, ``name``, and ``partial`` on the last assistant
message. ``partial: true`` is Kimi's prefill mode: the reply continues that message, so no new assistant turn is
opened; without it a trailing assistant message is a finished turn and the count includes the prompt for the next
one, as a chat completion would.
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidRequest, TokcountError
from ..settings import Settings
from ._api import Dialect, Job, Native, Outcome, Route, openai_style
from ._chatlike import chat_messages, chat_request, model_of
from ._fields import boolean, obj

NAME = "moonshot"
ROLES = ("system", "user", "assistant", "tool")
TYPES = {
    "authentication": "invalid_authentication_error",
    "unknown_model": "resource_not_found_error",
    "missing_assets": "resource_not_found_error",
    "model_not_allowed": "permission_denied_error",
    "request_too_large": "invalid_request_error",
    "internal": "server_error",
}


def parse(body: Any, settings: Settings) -> Job:
    body = obj(body, "body")
    model = model_of(body, settings.default_model)
    messages = chat_messages(body, roles=ROLES, non_empty_content=True)
    raw = body["messages"]
    partial = False
    for i, m in enumerate(raw):
        flag = boolean(m.get("partial"), f"messages[{i}].partial", default=False)
        if flag and (i != len(raw) - 1 or m.get("role") != "assistant"):
            raise InvalidRequest(f"messages[{i}].partial is only allowed on the last message, an assistant one.",
                                 param=f"messages[{i}].partial")
        partial = partial or bool(flag)
    request = chat_request(body, messages)
    if messages[-1].role == "assistant":
        request.add_generation_prompt = not partial
    return Job(models=[model], request=request)


def format(job: Job, result: Outcome) -> dict[str, Any]:
    assert result.count is not None
    return {"data": {"total_tokens": result.count.input_tokens}}


def error(err: TokcountError) -> tuple[int, dict[str, Any]]:
    return openai_style(err, TYPES)


DIALECT = Dialect(NAME, error, doc=__doc__ or "", native=Native("moonshot", ("messages", "tools")), routes=(
    Route("/v1/tokenizers/estimate-token-count", "Moonshot (Kimi) estimate token count", parse, format,
          example={"model": "qwen3.5", "messages": [{"role": "user", "content": "Hi"}]}),
))
