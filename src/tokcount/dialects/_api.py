"""What every dialect shares: the job handed to the engine, and the declaration that makes a module a dialect.

A dialect module defines ``DIALECT = Dialect(...)``: its CLI name, how it answers errors (``error(exc) ->
(status, body)`` from any :class:`~tokcount.errors.TokcountError`: the one error tree, mapped to the provider's
shape here at the boundary), the provider's own API-key header, and its routes. Each :class:`Route` says its
path, how to parse a body into a :class:`Job` (path parameters such as Gemini's model come as keywords), how to
format the engine's :class:`Outcome`, extra response headers and the example body for the docs. The server mounts
every route of every dialect and the CLI offers every dialect by name, so neither lists them, and a dialect never
sees HTTP and never counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import TokcountError
from ..request import Request
from ..token_count import Count


@dataclass
class Job:
    """One engine call: count a chat request, count a raw text, or decode ids, for the first usable model."""

    #: model names to try in order (Bifrost ``fallbacks`` make it longer than one)
    models: list[str]
    op: Literal["count", "text", "decode"] = "count"
    request: Request | None = None
    text: str | None = None
    ids: list[int] | None = None
    return_tokens: bool = False
    #: attribute the count to system / tools / messages (only the library's own shape shows it)
    breakdown: bool = False
    #: the answer is the token ids themselves (vLLM ``/tokenize``, the CLI's ``--tokens``), which only a local
    #: count has; an upstream passthrough, whose answer is a number, is not asked
    ids_required: bool = False
    #: dialect-specific values the formatter needs (the requested model name, flags, ...)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    """A job's outcome: what the engine produced for it, and which of the job's models produced it."""

    model: str
    count: Count | None = None
    text: str | None = None
    latency_ms: float = 0.0


@dataclass
class Conversation:
    """The message list of a body in a dialect's shape, and how to write a shorter list back into that body (what
    :mod:`tokcount.fit` trims). ``rebuild`` returns a new body; the original is never changed."""

    items: list[Any]
    rebuild: Callable[[list[Any]], Any]


@dataclass(frozen=True)
class Native:
    """The dialect's body is already a provider's own count-endpoint body: ``provider`` (the passthrough's
    ``[upstream.<provider>]``) and the body fields that endpoint counts (the rest is never forwarded)."""

    provider: str
    fields: tuple[str, ...]


Parse = Callable[..., Job]  # (body, settings, **path_params) -> Job
Format = Callable[[Job, Outcome], dict[str, Any]]
Headers = Callable[[Job, Outcome], dict[str, str]]
ErrorShape = Callable[[TokcountError], tuple[int, dict[str, Any]]]
ErrorHeaders = Callable[[TokcountError], dict[str, str]]


@dataclass(frozen=True)
class Route:
    """One POST endpoint of a dialect. ``path`` None: no HTTP route (the library's own shape, CLI only)."""

    path: str | None
    summary: str
    parse: Parse
    format: Format
    #: a request body for the OpenAPI docs (``/docs``)
    example: dict[str, Any] = field(default_factory=dict)
    #: names of the path's ``{parameters}``, passed to ``parse`` as keywords (Gemini's ``model``). The model's is
    #: ``model``: what counts a body without a URL (the CLI, ``/v1/fit``, batch, the playground) passes only that
    #: one, so ``parse`` gives any other (Vertex's ``project``, ``location``) a default
    path_params: tuple[str, ...] = ()
    headers: Headers | None = None
    #: ``format`` shows the request's own latency (Bifrost's ``latency``): the server's memo keeps the job and
    #: result and formats each hit again, where it otherwise keeps and resends the answer's bytes
    timed: bool = False


@dataclass(frozen=True)
class Dialect:
    """A provider's API shape as one unit; the first route is the one ``tokcount count --dialect NAME`` runs."""

    name: str
    error: ErrorShape
    routes: tuple[Route, ...]
    #: the provider's own API-key header, accepted besides ``Authorization: Bearer`` (``x-api-key``)
    key_header: str | None = None
    doc: str = ""
    #: headers every error answer carries besides its body: AWS SDKs read an error's type from
    #: ``x-amzn-ErrorType``, not from the body (Bedrock)
    error_headers: ErrorHeaders | None = None
    #: path prefixes under which what no route answers (404, 405, a 500 escaping a route) is in this shape
    #: (``/model/`` for Bedrock): its clients parse nothing else there. An entry with ``*`` is a glob over the
    #: whole path (Gemini's ``/v1/models/*:countTokens``)
    error_prefixes: tuple[str, ...] = ()
    #: its SDK signs every request with AWS Signature V4 (boto3): with auth on, a signature made with a tokcount
    #: API key as the secret access key is accepted as that key (:mod:`tokcount.sigv4`)
    sigv4: bool = False
    #: where the message list lives in this dialect's bodies, tried in order (``("generateContentRequest",
    #: "contents")`` is a nested key path); :mod:`tokcount.fit` trims that list
    conversation: tuple[tuple[str, ...], ...] = (("messages",),)
    #: a body whose message list is not at a key path (Bedrock's ``invokeModel`` JSON text): tried first; None
    #: when the body has no such list
    conversation_view: Callable[[dict[str, Any]], Conversation | None] | None = None
    #: the provider whose count endpoint takes this dialect's body as sent (the passthrough forwards it), if any
    native: Native | None = None
    #: offered in the playground's dialect list (the cloud platforms' shapes are Gemini's and Anthropic's)
    playground: bool = True
    #: the shape of errors on a path no dialect claims (one dialect says so)
    fallback_errors: bool = False

    def failure(self, err: TokcountError) -> tuple[int, dict[str, Any], dict[str, str]]:
        """(status, body, headers) of the answer to ``err``: :attr:`error` and :attr:`error_headers` in one."""
        status, body = self.error(err)
        return status, body, self.error_headers(err) if self.error_headers is not None else {}


def openai_style(err: TokcountError, types: dict[str, str], default_type: str = "invalid_request_error",
                 codes: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """``{"error": {"message", "type", "param", "code"}}``, the shape OpenAI, Moonshot, StepFun and vLLM share."""
    code = (codes or {}).get(err.kind, err.kind)
    body: dict[str, Any] = {"message": err.message, "type": types.get(err.kind, default_type), "param": err.param,
                            "code": code}
    return err.status, {"error": body}
