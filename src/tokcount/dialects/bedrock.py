"""Amazon Bedrock CountTokens ``POST /model/{modelId}/count-tokens`` → ``{"inputTokens": N}``.

Request: ``{"input": {"converse": {...}}}`` (a Converse request's ``messages``, ``system``, ``toolConfig``,
``additionalModelRequestFields``: :mod:`._converse`) or ``{"input": {"invokeModel": {"body": ...}}}``, whose body
is the JSON an InvokeModel call of the model takes: for Claude an Anthropic Messages body
(``anthropic_version``, ``max_tokens``, ``messages``, ``system``, ``tools``, ``thinking``, ...), read by the
Anthropic dialect's parser. The body is a blob: boto3 sends it base64-encoded, as AWS documents; a JSON text
(starting with ``{``, which base64 never does) is taken as well.

The model is the path's ``modelId``: a Bedrock model id (``anthropic.claude-sonnet-4-5-20250929-v1:0``), a
cross-region inference profile (``us.``/``eu.``/``apac.``/``global.anthropic.claude-...``) or any name tokcount
knows; Bedrock's ids resolve to the catalog's Claude entries by the ``[[rename]]`` rule of
``models/catalog.toml`` (data, not code here). Counted as the Anthropic route counts the same request.

Errors: ``{"message": ...}`` with the error's type in the ``x-amzn-ErrorType`` header, where botocore reads it
(``ValidationException`` 400, ``ResourceNotFoundException`` 404, ``AccessDeniedException`` 403, ...); a missing
or wrong key is AWS's 403 ``UnrecognizedClientException``. Auth: ``Authorization: Bearer KEY`` (boto3 sends a
Bedrock API key so, from ``AWS_BEARER_TOKEN_BEDROCK``) or an AWS Signature V4 made with a tokcount key as the
secret access key (:mod:`tokcount.sigv4`).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from ..errors import InvalidRequest, TokcountError
from ..media import b64
from ..request import Request
from ..settings import Settings
from . import _converse
from ._api import Conversation, Dialect, Job, Outcome, Route
from ._fields import check_depth, default_or, obj, string
from .anthropic import parse as parse_anthropic

NAME = "bedrock"
#: AWS's error types by tokcount's error kind, then by status (botocore raises ``ClientError`` with this code)
TYPES = {"authentication": "UnrecognizedClientException", "model_not_allowed": "AccessDeniedException"}
TYPES_BY_STATUS = {403: "AccessDeniedException", 404: "ResourceNotFoundException", 408: "ModelTimeoutException",
                   429: "ThrottlingException", 500: "InternalServerException", 503: "ServiceUnavailableException"}
#: AWS answers a request it cannot authenticate 403, never 401
AUTH_STATUS = 403
#: the depth the ``invokeModel`` body's JSON sits at in the request (body, input, invokeModel, body)
INNER_DEPTH = 4


def parse(body: Any, settings: Settings, model: str) -> Job:
    """The job for ``POST /model/{modelId}/count-tokens`` (``model``: the path's ``modelId``)."""
    name = default_or(model, settings.default_model)
    source = obj(obj(body, "body").get("input"), "input")
    converse, invoke = source.get("converse"), source.get("invokeModel")
    if (converse is None) == (invoke is None):
        raise InvalidRequest("input must have exactly one of converse and invokeModel.", param="input")
    if converse is not None:
        request = _converse.parse(converse, "input.converse")
    else:
        request = _invoke_model(obj(invoke, "input.invokeModel").get("body"), name, settings)
    return Job(models=[name], request=request, extra={"requested": model})


def _invoke_model(raw: Any, model: str, settings: Settings) -> Request:
    """The Anthropic Messages body an InvokeModel call would carry, read by the Anthropic dialect's parser."""
    where = "input.invokeModel.body"
    text = string(raw, where) or ""
    if not text.lstrip().startswith("{"):  # base64 (what boto3 sends for a blob): its alphabet has no "{"
        try:
            text = b64.decode(text).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise InvalidRequest(f"{where} must be a JSON object, as text or base64.", param=where) from None
    try:
        inner = json.loads(text)
    except ValueError as exc:
        raise InvalidRequest(f"{where} is not valid JSON: {exc}.", param=where) from None
    inner = obj(inner, where)
    check_depth(inner, settings.max_json_depth, start=INNER_DEPTH, where=where)  # as if it were written inline
    try:
        return parse_anthropic({**inner, "model": model}, settings).request or Request(messages=[])
    except InvalidRequest as exc:  # named from the root of the CountTokens body
        param = f"{where}.{exc.param}" if exc.param and exc.param != "body" else where
        raise InvalidRequest(f"{where}: {exc.message}", param=param) from None


def format(job: Job, result: Outcome) -> dict[str, Any]:
    assert result.count is not None
    return {"inputTokens": result.count.input_tokens}


def error_type(err: TokcountError) -> str:
    """The AWS error type of ``err`` (what ``x-amzn-ErrorType`` says and botocore's ``ClientError`` codes)."""
    return TYPES.get(err.kind) or TYPES_BY_STATUS.get(err.status, "ValidationException")


def error(err: TokcountError) -> tuple[int, dict[str, Any]]:
    """``{"message": ...}``; the type goes in a header (:func:`error_headers`)."""
    status = AUTH_STATUS if err.kind == "authentication" else err.status
    return status, {"message": err.message}


def error_headers(err: TokcountError) -> dict[str, str]:
    return {"x-amzn-ErrorType": error_type(err)}


EXAMPLE = {"input": {"converse": {"system": [{"text": "Answer in one word."}],
                                  "messages": [{"role": "user", "content": [{"text": "Hi"}]}]}}}

def invoke_model_conversation(body: dict[str, Any]) -> Conversation | None:
    """Bedrock's ``{"input": {"invokeModel": {"body": "<JSON text or its base64>"}}}``: the Messages body inside,
    trimmed (by :mod:`tokcount.fit`) and written back as it came (JSON text, or base64 of it); None when there is
    no such body (or it does not decode: the count then says why)."""
    source = body.get("input")
    if not isinstance(source, dict) or not isinstance(source.get("invokeModel"), dict):
        return None
    outer: dict[str, Any] = source
    invoke: dict[str, Any] = source["invokeModel"]
    raw = invoke.get("body")
    if not isinstance(raw, str):
        return None
    encoded = not raw.lstrip().startswith("{")
    try:
        inner = json.loads(b64.decode(raw) if encoded else raw)
    except ValueError:
        return None
    if not isinstance(inner, dict) or not isinstance(inner.get("messages"), list):
        return None

    def rebuild(items: list[Any]) -> dict[str, Any]:
        text = json.dumps({**inner, "messages": items}, ensure_ascii=False)
        value = base64.b64encode(text.encode("utf-8")).decode("ascii") if encoded else text
        return {**body, "input": {**outer, "invokeModel": {**invoke, "body": value}}}

    return Conversation(list(inner["messages"]), rebuild)


DIALECT = Dialect(NAME, error, error_headers=error_headers, error_prefixes=("/model/",), sigv4=True,
                  conversation=(("input", "converse", "messages"),), conversation_view=invoke_model_conversation,
                  playground=False, doc=__doc__ or "", routes=(
    Route("/model/{model}/count-tokens", "Amazon Bedrock count tokens", parse, format, path_params=("model",),
          example=EXAMPLE),
))
