"""Vertex AI ``POST /v1/projects/{project}/locations/{location}/publishers/google/models/{model}:countTokens``
(also under ``/v1beta1/``, and the project-less ``/v1beta1/publishers/google/models/{model}:countTokens`` that
google-genai posts to in Vertex's express mode, with an API key) → ``{"totalTokens", "promptTokensDetails"}``.

The body is Gemini's countTokens body as Vertex documents it: ``contents`` with ``systemInstruction``, ``tools``
and ``generationConfig`` beside it at the top level (what google-genai sends with ``vertexai=True``); the Developer
API's ``generateContentRequest`` wrapping is taken too. It is read by the Gemini dialect's parser, so every part
type, camelCase or snake_case, reads as there. What differs is the count: Vertex frames the same request
differently (no per-Content token), so the request is marked ``api="vertex"`` and the Gemini framing takes the
``[vertex]`` table of ``renderers/gemini/gemini_platforms.toml`` on top of the model's own rules; counts through
this route are labelled estimates (two recorded Vertex counts, both reproduced, are too few to call them exact).

``project`` and ``location`` name the caller's Google Cloud project and region: they change no count and are not
checked. Errors: Google's ``{"error": {"code", "message", "status"}}``, as the Gemini route answers them. Auth:
``Authorization: Bearer KEY`` (what google-genai sends from ``credentials`` whose token is a tokcount key) or
``x-goog-api-key`` (express mode's ``api_key``).
"""

from __future__ import annotations

from typing import Any

from ._api import Dialect, Job, Route
from ._fields import default_or
from .gemini import CONVERSATION, error, format, parse_count_tokens

NAME = "vertex"
#: the serving platform the Gemini framing's rules are looked up under (``Request.api``)
PLATFORM = "vertex"
EXAMPLE = {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
           "systemInstruction": {"parts": [{"text": "Answer in one word."}]}}


def model_name(path_model: str) -> str:
    """``publishers/google/models/gemini-2.5-flash``, ``models/gemini-2.5-flash`` or ``gemini-2.5-flash`` →
    ``gemini-2.5-flash`` (the route's ``{model}`` is the last segment; a full resource name is taken too)."""
    name = path_model.strip()
    return name.rsplit("models/", 1)[1] if "models/" in name else name


def parse(body: Any, settings: Any, model: str, project: str = "", location: str = "") -> Job:
    """The job for the route (``model`` from the path; ``project`` and ``location`` change no count)."""
    request = parse_count_tokens(body)
    request.api = PLATFORM
    return Job(models=[default_or(model_name(model), settings.default_model)], request=request)


_PROJECT = "projects/{project}/locations/{location}/publishers/google/models/{model}:countTokens"
_EXPRESS = "publishers/google/models/{model}:countTokens"

DIALECT = Dialect(NAME, error, key_header="x-goog-api-key", doc=__doc__ or "", conversation=CONVERSATION,
                  playground=False,
                  error_prefixes=("/v1beta1/", "/v1/projects/", "/v1/publishers/"), routes=(
    Route(f"/v1/{_PROJECT}", "Vertex AI count tokens", parse, format,
          path_params=("project", "location", "model"), example=EXAMPLE),
    # google-genai with vertexai=True posts here (api_version v1beta1 by default)
    Route(f"/v1beta1/{_PROJECT}", "Vertex AI count tokens (v1beta1)", parse, format,
          path_params=("project", "location", "model"), example=EXAMPLE),
    # Vertex AI express mode (an API key, no project): google-genai's vertexai=True with api_key
    Route(f"/v1/{_EXPRESS}", "Vertex AI count tokens (express mode)", parse, format,
          path_params=("model",), example=EXAMPLE),
    Route(f"/v1beta1/{_EXPRESS}", "Vertex AI count tokens (express mode, v1beta1)", parse, format,
          path_params=("model",), example=EXAMPLE),
))
