"""The OpenAPI document from the route models: request bodies, 200 answers, every error status in the
dialect's own error shape, the answer headers, and declared path parameters.

The routes read their bodies by hand (see :mod:`tokcount.server`), so FastAPI knows nothing of their types; this
patches the document FastAPI generates, once, with the models of :mod:`tokcount.schemas`.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from . import RouteSchema, for_path, routes

REF = "#/components/schemas/{model}"
_PARAM = re.compile(r"{([^}]+)}")
REASONS = {400: "Bad request (malformed JSON, a field that breaks the schema, a template refusal)",
           401: "Missing or invalid API key", 403: "Model not allowed by the operator's policy",
           404: "Unknown model, missing model files, or no such route", 408: "Body not received in time",
           405: "Method not allowed", 413: "Body or request over the server's limits",
           422: "A field breaks the schema", 500: "Internal error (see the server log)"}
#: path parameters: (description, example)
PARAMS = {"model": ("the model name (models/NAME or NAME; a Bedrock model id on /model/...)", "gemini-2.5-flash"),
          "project": ("the Google Cloud project (changes no count)", "my-project"),
          "location": ("the Google Cloud region (changes no count)", "us-central1")}
HEADERS = {
    "x-tokcount-exact": ("true when the count is exact (an open model's own tokenizer), false for an estimate",
                         {"type": "string", "enum": ["true", "false"]}),
    "x-tokcount-method": ("how the count was made", {"type": "string"}),
    "x-tokcount-context-window": ("the counting model's context window in tokens (absent when unknown)",
                                  {"type": "string", "pattern": "^[0-9]+$"}),
    "x-tokcount-fits": ("whether the counted input fits the context window", {"type": "string",
                                                                             "enum": ["true", "false"]}),
    "x-tokcount-estimate-error": ("on a closed model's estimate: the relative error measured on held-out recordings "
                                  "of its slice (p90, median, share within 10 %, n, slice)", {"type": "string"}),
    "x-tokcount-resolved-as": ("present when the model name is not in the catalog but its family is: the entry whose "
                               "rules counted it (the count is then an estimate)", {"type": "string"}),
}


def _definitions() -> tuple[dict[Any, Any], dict[str, Any]]:
    models: set[type[BaseModel]] = set()
    for r in routes().values():
        models.update(m for m in (r.request, r.response, r.error) if m is not None)
    keys, top = models_json_schema([(m, "validation") for m in sorted(models, key=lambda m: m.__qualname__)],
                                   ref_template=REF)
    return keys, top.get("$defs", {})


def _ref(keys: dict[tuple[type[BaseModel], str], Any], model: type[BaseModel]) -> dict[str, Any]:
    return keys[(model, "validation")]


def _patch(op: dict[str, Any], path: str, r: RouteSchema, keys: dict[Any, Any]) -> None:
    if r.request is not None:
        content = op.setdefault("requestBody", {"required": True, "content": {}})["content"]
        media = content.setdefault("application/json", {})
        media["schema"] = _ref(keys, r.request)
    responses: dict[str, Any] = {"200": {"description": "The count, in the provider's shape",
                                         "content": {"application/json": {"schema": _ref(keys, r.response)}},
                                         "headers": {k: {"description": d, "schema": s}
                                                     for k, (d, s) in HEADERS.items()}}}
    if r.request is None:
        responses["200"]["description"] = "OK"
        del responses["200"]["headers"]
    for status in sorted({*r.errors, 405} | ({408} if r.request is not None else set())):
        responses[str(status)] = {"description": REASONS.get(status, "Error"),
                                  "content": {"application/json": {"schema": _ref(keys, r.error)}}}
        if r.error_headers:
            responses[str(status)]["headers"] = {k: {"description": d, "schema": {"type": "string"}}
                                                 for k, d in r.error_headers}
    op["responses"] = responses
    names = _PARAM.findall(path)
    if names:
        op["parameters"] = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"},
                             "description": PARAMS.get(n, PARAMS["model"])[0],
                             "example": PARAMS.get(n, PARAMS["model"])[1]} for n in names]


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the document with the route models in it (built once, on first call)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        keys, defs = _definitions()
        doc.setdefault("components", {}).setdefault("schemas", {}).update(defs)
        for path, ops in doc.get("paths", {}).items():
            r = for_path(path)
            if r is None:
                continue
            for op in ops.values():
                _patch(op, path, r, keys)
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
