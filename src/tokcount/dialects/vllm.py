"""vLLM's ``POST /tokenize`` and ``POST /detokenize``.

``/tokenize`` takes ``prompt`` (a raw string: special-token strings in it are recognised, nothing is added) or
``messages`` (a chat, rendered with the model's template; ``add_generation_prompt`` defaults to true as in vLLM,
``continue_final_message`` continues the last assistant message, ``tools`` and ``chat_template_kwargs`` as in the
chat API, a kwarg naming what the renderer passes or a sandbox global refused: :mod:`tokcount.renderers.jinja.kwargs`)
and answers ``{count, max_model_len, tokens, token_strs}`` (``token_strs`` only with
``return_token_strs: true``). ``/detokenize`` takes ``tokens`` and answers ``{"prompt": text}``.
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidRequest, TokcountError
from ..settings import Settings
from ._api import Dialect, Job, Outcome, Route, openai_style
from ._fields import arr, boolean, model_name, obj, string
from .openai_chat import parse_request

NAME = "vllm"
TYPES = {
    "unknown_model": "NotFoundError",
    "missing_assets": "NotFoundError",
    "model_not_allowed": "PermissionDeniedError",
    "authentication": "Unauthorized",
    "request_too_large": "BadRequestError",
    "internal": "InternalServerError",
}


def _model(body: dict[str, Any], settings: Settings) -> str:
    return model_name(body.get("model"), settings.default_model, required=False)


def parse(body: Any, settings: Settings) -> Job:
    body = obj(body, "body")
    model = _model(body, settings)
    strs = bool(boolean(body.get("return_token_strs"), "return_token_strs", default=False))
    has_prompt, has_messages = body.get("prompt") is not None, body.get("messages") is not None
    if has_prompt == has_messages:
        raise InvalidRequest("give exactly one of prompt or messages.", param="prompt" if has_prompt else "messages")
    if has_prompt:
        return Job(models=[model], op="text", text=string(body["prompt"], "prompt"), return_tokens=True,
                   extra={"strs": strs})
    arr(body["messages"], "messages", non_empty=True)
    request = parse_request(body)
    add_gen = boolean(body.get("add_generation_prompt"), "add_generation_prompt", default=True)
    cont = boolean(body.get("continue_final_message"), "continue_final_message", default=False)
    if add_gen and cont:
        raise InvalidRequest("add_generation_prompt and continue_final_message cannot both be true.",
                             param="continue_final_message")
    if cont and request.messages[-1].role != "assistant":
        raise InvalidRequest("continue_final_message needs a final assistant message.",
                             param="continue_final_message")
    request.add_generation_prompt = bool(add_gen)
    return Job(models=[model], request=request, return_tokens=True, ids_required=True, extra={"strs": strs})


def parse_detokenize(body: Any, settings: Settings) -> Job:
    body = obj(body, "body")
    max_ids = settings.max_token_ids
    tokens = arr(body.get("tokens"), "tokens")
    if len(tokens) > max_ids:
        raise InvalidRequest(f"tokens has {len(tokens)} ids; at most {max_ids} are accepted.", param="tokens")
    for i, t in enumerate(tokens):
        if not isinstance(t, int) or isinstance(t, bool) or t < 0:
            raise InvalidRequest(f"tokens[{i}] must be a non-negative integer.", param=f"tokens[{i}]")
    return Job(models=[_model(body, settings)], op="decode", ids=tokens)


def format(job: Job, result: Outcome) -> dict[str, Any]:
    count = result.count
    assert count is not None
    return {
        "count": count.input_tokens,
        "max_model_len": count.context_window,
        "tokens": count.tokens,
        "token_strs": count.token_strings if job.extra.get("strs") else None,
    }


def format_detokenize(job: Job, result: Outcome) -> dict[str, Any]:
    return {"prompt": result.text}


def error(err: TokcountError) -> tuple[int, dict[str, Any]]:
    return openai_style(err, TYPES, default_type="BadRequestError")


DIALECT = Dialect(NAME, error, doc=__doc__ or "", routes=(
    Route("/tokenize", "vLLM-style tokenize", parse, format,
          example={"model": "qwen3.5", "prompt": "Hello world", "return_token_strs": True}),
    Route("/detokenize", "vLLM-style detokenize", parse_detokenize, format_detokenize,
          example={"model": "qwen3.5", "tokens": [9419, 1879]}),
    # the same under /v1: LiteLLM's vLLM passthrough calls {api_base}/tokenize with a /v1 api_base
    Route("/v1/tokenize", "vLLM-style tokenize (under /v1)", parse, format,
          example={"model": "qwen3.5", "prompt": "Hello world", "return_token_strs": True}),
    Route("/v1/detokenize", "vLLM-style detokenize (under /v1)", parse_detokenize, format_detokenize,
          example={"model": "qwen3.5", "tokens": [9419, 1879]}),
))
