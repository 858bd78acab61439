"""Bifrost ``POST /v1/count_tokens``: a Responses-API body with ``model`` as ``provider/model`` and ``fallbacks``.

The input is read as the OpenAI Responses dialect reads it (``input`` items, ``instructions``, ``tools``,
``tool_choice``, ``reasoning``). ``fallbacks`` are tried in order when a model is unknown or its files are missing.
Every other field of the Bifrost page (``stream``, ``temperature``, ``store``, ...) is accepted and cannot change
an input count. The answer carries the real token ids and strings of the rendered prompt; where they are not
the whole prompt (closed models: their text's ids only, or none), ``extra_fields.tokens_complete`` is false and
``extra_fields.tokens_note`` says what is left out.
"""

from __future__ import annotations

from typing import Any

from ..errors import TokcountError
from ..settings import Settings
from ..window import fits
from ._api import Dialect, Job, Outcome, Route
from ._fields import arr, default_or, model_name, obj, string
from .openai_responses import parse_request

NAME = "bifrost"
TYPES = {
    "authentication": "authentication_error",
    "unknown_model": "not_found_error",
    "missing_assets": "not_found_error",
    "model_not_allowed": "permission_error",
    "request_too_large": "request_too_large",
    "internal": "api_error",
}


def parse(body: Any, settings: Settings) -> Job:
    body = obj(body, "body")
    model_name(body.get("model"), settings.default_model, required=True)
    model: str = body["model"]
    fallbacks = [string(f, f"fallbacks[{i}]") or "" for i, f in enumerate(arr(body.get("fallbacks") or [],
                                                                              "fallbacks"))]
    if isinstance(body.get("input"), list):
        arr(body["input"], "input", non_empty=True)
    request = parse_request(body, input_required=True)
    models = [default_or(m, settings.default_model) for m in [model, *fallbacks] if m.strip()]
    return Job(models=models, request=request, return_tokens=True, extra={"requested": model, "names": [model,
                                                                                                        *fallbacks]})


def _split(name: str) -> tuple[str, str]:
    provider, sep, rest = name.partition("/")
    return (provider, rest) if sep else ("", name)


def format(job: Job, result: Outcome) -> dict[str, Any]:
    count = result.count
    assert count is not None
    provider, model = _split(result.model)
    modalities = count.modality_split()  # what the renderer says the images (and audio) took
    image, audio = modalities.get("image", 0), modalities.get("audio", 0)
    return {
        "object": "response.input_tokens",
        "model": model,
        "input_tokens": count.input_tokens,
        "input_tokens_details": {
            "text_tokens": count.input_tokens - image - audio,
            "image_tokens": image,
            "audio_tokens": audio,
            "cached_tokens": 0,
        },
        "tokens": count.tokens or [],
        "token_strings": count.token_strings or [],
        "output_tokens": None,
        "total_tokens": count.input_tokens,
        "extra_fields": {
            "provider": provider or "tokcount",
            "request_type": "count_tokens",
            "model_requested": job.extra.get("requested", result.model),
            "latency": round(result.latency_ms),
            "context_window": count.context_window,
            "fits": fits(count),
            # a closed model's ids are its text's only (gpt-4o: 11 ids of 49 tokens; Claude: none): said here
            "tokens_complete": count.tokens_partial is None,
            **({"tokens_note": count.tokens_partial} if count.tokens_partial else {}),
            **({"estimate_error": count.estimate_error.as_dict()} if count.estimate_error else {}),
        },
    }


def error(err: TokcountError) -> tuple[int, dict[str, Any]]:
    body = {
        "is_bifrost_error": True,
        "status_code": err.status,
        "error": {"type": TYPES.get(err.kind, "invalid_request_error"), "code": err.kind, "message": err.message,
                  "param": err.param},
        "extra_fields": {"request_type": "count_tokens"},
    }
    return err.status, body


DIALECT = Dialect(NAME, error, doc=__doc__ or "", conversation=(("input",),), routes=(
    Route("/v1/count_tokens", "Bifrost count tokens", parse, format,
          example={"model": "qwen/qwen3.5", "input": [{"role": "user", "content": "Hi"}]}, timed=True),
))
