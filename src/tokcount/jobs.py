"""Running a dialect's route without HTTP: body → ``route.parse`` → engine → ``route.format``, every failure in the
dialect's own error shape. The server (after reading and size-checking the body) and ``tokcount count --dialect``
both come through here, so a CLI answer is the route's answer by construction.

What a deployment allows (request limits, which Hub repos may be named, the upstream passthrough, how images are
fetched) comes down as one :class:`Policy` value; what was counted goes back up as the :class:`Answer` (its model
and tokens, the job and result the server's memo keeps). Nothing here calls back into its caller.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from . import advice, loader
from .count import count, count_text, decode
from .dialects._api import Dialect, Job, Outcome, Route
from .dialects._fields import check_depth, unknown_key
from .errors import (
    InternalError,
    InvalidRequest,
    MalformedJson,
    MissingAssets,
    RequestTooLarge,
    SchemaError,
    TokcountError,
    TokenizerFailure,
    UnknownModel,
)
from .media.sources import FetchPolicy, NeedsFetch
from .models.catalog import OPEN, ModelSpec, RepoPolicy, default_catalog
from .passthrough import Origin, Passthrough
from .renderers.jinja import kwargs as template_kwargs
from .renderers.jinja import limits
from .request import Request, ToolResultPart
from .settings import Settings
from .token_count import Count
from .window import headers as window_headers

log = logging.getLogger("tokcount.jobs")
#: what :func:`served` logs is the server's (operators filter on this name)
server_log = logging.getLogger("tokcount.server")


@dataclass
class Answer:
    """A route's reply: status, JSON body and extra headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    #: the model that answered and the tokens it counted (for the server's metrics and access log)
    model: str | None = None
    tokens: int | None = None
    #: what made a 200 answer (the server's memo keeps them); None for an error
    job: Job | None = field(default=None, repr=False, compare=False)
    result: Outcome | None = field(default=None, repr=False, compare=False)
    #: the body already serialized (a memoized answer is sent as it was made), else None
    raw: bytes | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Policy:
    """What a deployment allows and how it counts, handed down to every job instead of hooks into its caller.
    The default is a library or CLI call's: any model name the catalog's own rule resolves, no request limits (the
    user chose the body), no upstream, the process's media policy. The server builds one from its settings."""

    #: the request limits (messages, parts, tools, template kwargs) of these settings; None: none checked
    limits: Settings | None = None
    #: which Hub repos outside the catalog may be named (the server's: the operator's allow list and preloads)
    repos: RepoPolicy = OPEN
    #: asked first for the models whose provider it is configured for (None: every count is local)
    upstream: Passthrough | None = None
    #: how images given by URL or path are read (None: the process's settings)
    media: FetchPolicy | None = None

    def resolve(self, name: str) -> ModelSpec:
        """The catalog entry ``name`` means; a Hub repo outside the catalog only as :attr:`repos` allows."""
        return default_catalog().resolve(name, allow=self.repos)

    def check(self, job: Job) -> None:
        """Refuse (413) a parsed request over the limits, before anything is rendered."""
        if self.limits is not None and job.request is not None:
            check_limits(job.request, self.limits)


def check_limits(request: Request, s: Settings) -> None:
    """The server's bounds on a canonical request: messages, content parts (a tool result's parts too), tools and
    ``chat_template_kwargs`` values (they reach the template)."""
    if len(request.messages) > s.max_messages:
        raise RequestTooLarge(f"messages has {len(request.messages)} entries; at most {s.max_messages} are "
                              "accepted.", param="messages")
    parts = 0
    for m in request.messages:
        parts += len(m.parts)
        for p in m.parts:
            if isinstance(p, ToolResultPart) and not isinstance(p.content, str):
                parts += len(p.content)
    if parts > s.max_parts:
        raise RequestTooLarge(f"the messages hold {parts} content parts; at most {s.max_parts} are accepted.",
                              param="messages")
    if len(request.tools) > s.max_tools:
        raise RequestTooLarge(f"tools has {len(request.tools)} entries; at most {s.max_tools} are accepted.",
                              param="tools")
    if request.template_kwargs and (held := template_kwargs.size(request.template_kwargs)) > s.max_parts:
        raise RequestTooLarge(f"chat_template_kwargs holds {held} values; at most {s.max_parts} (max_parts) are "
                              "accepted.", param="chat_template_kwargs")


def parse_body(raw: bytes, max_depth: int) -> Any:
    """A request body's one JSON parse (orjson), its nesting bounded by ``max_depth`` (``max_json_depth``)."""
    if not raw.strip():
        raise MalformedJson("The request body is empty; a JSON object is expected.", param="body")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedJson(f"The request body is not valid JSON: {exc}.", param="body") from None
    if raw.count(b"{") + raw.count(b"[") > max_depth:  # every level opens a bracket: else too few to nest that deep
        check_depth(body, max_depth)
    return body


def parse_job(route: Route, body: Any, settings: Settings, path_params: dict[str, str] | None = None) -> Job:
    """``route.parse``; what it refuses is a schema error (Anthropic answers those 422), naming a misspelt key
    where the refused field is absent beside a near spelling of it (``_fields.unknown_key``)."""
    try:
        return route.parse(body, settings, **(path_params or {}))
    except InvalidRequest as exc:
        raise SchemaError.of(unknown_key(body, exc)) from None


def execute(job: Job, policy: Policy | None = None, *, origin: Origin | None = None) -> Outcome:
    """Run ``job`` on the first of its models that is known and has its files (Bifrost fallbacks), under
    ``policy`` (default: a library call's). Its upstream, when configured, is asked first for counts of the models
    whose provider it is configured for (``origin``, the body as it came, lets it forward the caller's own shape
    when that is the provider's); it falls back to the local count itself. The model that counted is marked warm
    (:func:`tokcount.loader.mark_warm`: the server then counts it on the event loop)."""
    policy = policy or Policy()
    media_policy, upstream = policy.media, policy.upstream
    started = time.perf_counter()
    for i, name in enumerate(job.models):
        spec: ModelSpec | None = None
        try:
            spec = policy.resolve(name)
            if job.op == "count":
                assert job.request is not None
                request = job.request

                def local(spec: ModelSpec = spec, request: Any = request) -> Count:
                    return count(spec, request, breakdown=job.breakdown, return_tokens=job.return_tokens,
                                 media_policy=media_policy)

                if upstream and not job.ids_required:
                    counted = upstream.count(spec, request, local, requested=name, origin=origin)
                else:
                    counted = local()
                result = Outcome(model=name, count=counted)
            elif job.op == "text":
                assert job.text is not None
                result = Outcome(model=name, count=count_text(spec, job.text, return_tokens=job.return_tokens))
            else:
                result = Outcome(model=name, text=decode(spec, job.ids or []))
        except (UnknownModel, MissingAssets) as exc:
            if i + 1 < len(job.models):
                log.info("model %r not usable (%s); trying fallback %r", name, exc.kind, job.models[i + 1])
                continue
            if isinstance(exc, UnknownModel):  # suggest what can be counted here (issue 26)
                exc = advice.unknown(exc)
            elif spec is not None:  # how to get the files: the provider's passthrough too
                advice.missing(exc, spec, upstream)
            if i > 0:
                exc.message = f"{exc.message} (after trying {', '.join(map(repr, job.models[:i]))})"
            raise exc from None
        result.latency_ms = (time.perf_counter() - started) * 1000
        loader.mark_warm(spec)
        return result
    raise InvalidRequest("no model given.", param="model")  # pragma: no cover - parse guarantees one


def answer(dialect: Dialect, route: Route, body: Any, settings: Settings, *,
           path_params: dict[str, str] | None = None, policy: Policy | None = None,
           return_tokens: bool = False) -> Answer:
    """The route's answer to an already-decoded JSON ``body``, under ``policy`` (:class:`Policy`: the server's
    limits, repo policy, upstream and media policy); never raises a :class:`TokcountError`.
    ``return_tokens`` asks for token ids where the dialect's answer can show them (the CLI's ``--tokens``).
    A 200 answer carries the job and result it was made of (the server's memo keeps them). Every count's answer
    carries ``x-tokcount-method`` and ``x-tokcount-exact`` headers (the bodies keep the providers' exact shapes),
    and ``x-tokcount-upstream-error`` when a configured upstream was not used."""
    policy = policy or Policy()
    try:
        try:
            job = parse_job(route, body, settings, path_params)
            job.return_tokens = job.return_tokens or return_tokens
            job.ids_required = job.ids_required or return_tokens
            policy.check(job)
            result = execute(job, policy, origin=Origin(dialect.name, body))
        except RecursionError:
            raise InvalidRequest("The request is nested too deeply.", param="body") from None
        return formatted(route, job, result)
    except TokcountError as exc:
        return error_answer(dialect, exc)


def served(dialect: Dialect, route: Route, raw: bytes, settings: Settings, policy: Policy, *,
           path_params: dict[str, str] | None = None, body: Any = None) -> Answer:
    """The server's answer to a request body ``raw`` (``body``: its JSON, when already parsed), serialized
    (:attr:`Answer.raw`) on the thread that counted it. Never raises, but for what asks the server's scheduler
    to move the count or read image sizes first (``OffLoop``, ``SlowRender``, ``NeedsFetch``): a bug is a 500
    and a tokenizer's panic a 500 ``tokenizer_error``, both in the route's shape."""
    try:
        if body is None:
            body = parse_body(raw, settings.max_json_depth)
        out = answer(dialect, route, body, settings, path_params=path_params, policy=policy)
    except TokcountError as exc:
        out = error_answer(dialect, exc)
    except RecursionError:
        out = error_answer(dialect, InvalidRequest("The request is nested too deeply.", param="body"))
    except (limits.OffLoop, limits.SlowRender, NeedsFetch):
        raise
    except Exception:  # a bug: answered in the route's shape, logged with its traceback (never the body)
        server_log.exception("unexpected error in %s", dialect.name)
        out = error_answer(dialect, InternalError("Internal error while counting; see the server log."))
    except BaseException as exc:  # a Rust panic in a tokenizer arrives as pyo3's PanicException
        if type(exc).__name__ != "PanicException":
            raise
        server_log.warning("a tokenizer panicked in %s: %s", dialect.name, str(exc)[:200])
        out = error_answer(dialect, TokenizerFailure("The model's tokenizer crashed on this text."))
    out.raw = orjson.dumps(out.body)
    return out


def count_headers(result: Outcome) -> dict[str, str]:
    """``x-tokcount-exact`` / ``x-tokcount-method`` for every route's answer, so a gateway that relays only the
    number (or a provider's exact body shape, as Gemini's) can still tell an estimate from an exact count, plus
    ``x-tokcount-upstream-error`` after an upstream fallback (ASCII by construction), and
    ``x-tokcount-resolved-as`` when a name the catalog does not list was counted with its family's newest
    entry. A decode is exact by nature."""
    counted = result.count
    if counted is None:
        return {"x-tokcount-exact": "true", "x-tokcount-method": "decode"}
    headers = {"x-tokcount-method": counted.method, "x-tokcount-exact": "true" if counted.exact else "false"}
    if counted.estimate_error is not None and not counted.exact:  # its slice's held-out error (issue 23)
        headers["x-tokcount-estimate-error"] = counted.estimate_error.header()
    if counted.resolved_as is not None:  # an unlisted name counted with its family's newest rules
        headers["x-tokcount-resolved-as"] = counted.resolved_as
    if counted.upstream_error:
        headers["x-tokcount-upstream-error"] = counted.upstream_error.encode("ascii", "replace").decode()
    return headers


def formatted(route: Route, job: Job, result: Outcome) -> Answer:
    """The route's 200 answer for a counted job (also how a memoized result is answered again)."""
    headers = count_headers(result)
    if route.headers is not None:
        headers.update(route.headers(job, result))
    headers.update(window_headers(result.count))  # every count says its context window and if it fits
    tokens = result.count.input_tokens if result.count is not None else None
    return Answer(200, route.format(job, result), headers, model=result.model, tokens=tokens, job=job,
                  result=result)


def error_answer(dialect: Dialect, exc: TokcountError) -> Answer:
    status, body, headers = dialect.failure(exc)
    return Answer(status, body, {**headers, "WWW-Authenticate": "Bearer"} if status == 401 else headers)
