"""Vertex AI ``POST .../publishers/google/models/{model}:countTokens``: Gemini's countTokens body as Vertex documents
it (``contents`` with ``systemInstruction``, ``tools`` and ``generationConfig`` beside it), and Google's answer
and error shapes."""

from __future__ import annotations

from . import RouteSchema
from .gemini import CountTokensRequest, CountTokensResponse, GoogleError

_PROJECT = "projects/{project}/locations/{location}/publishers/google/models/{model}:countTokens"
_EXPRESS = "publishers/google/models/{model}:countTokens"
_SCHEMA = RouteSchema(CountTokensRequest, CountTokensResponse, GoogleError)

ROUTES = {f"/{version}/{path}": _SCHEMA for version in ("v1", "v1beta1") for path in (_PROJECT, _EXPRESS)}
