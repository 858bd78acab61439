"""Running a dialect's route without HTTP: body → ``route.parse`` → engine → ``route.format``, every failure in the
dialect's own error shape. The server (after reading and size-checking the body) and ``tokcount count --dialect``
both come through here, so a CLI answer is the route's answer by construction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import advice
from .count import count, count_text, decode
from .dialects._api import Dialect, Job, Result, Route
from .dialects._fields import unknown_key
from .errors import InvalidRequest, MissingAssets, SchemaError, TokcountError, UnknownModel
from .media.sources import FetchPolicy
from .models.catalog import ModelSpec, default_catalog
from .passthrough import Origin, Passthrough
from .result import Count
from .settings import Settings
from .window import headers as window_headers

log = logging.getLogger("tokcount.jobs")


@dataclass
class Answer:
    """A route's reply: status, JSON body and extra headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    #: the model that answered and the tokens it counted (for the server's metrics and access log)
    model: str | None = None
    tokens: int | None = None


def parse_job(route: Route, body: Any, settings: Settings, path_params: dict[str, str] | None = None) -> Job:
    """``route.parse``; what it refuses is a schema error (Anthropic answers those 422), naming a misspelt key
    where the refused field is absent beside a near spelling of it (``_fields.unknown_key``)."""
    try:
        return route.parse(body, settings, **(path_params or {}))
    except InvalidRequest as exc:
        raise SchemaError.of(unknown_key(body, exc)) from None


Resolve = Callable[[str], ModelSpec]


def execute(job: Job, *, media_policy: FetchPolicy | None = None, resolve: Resolve | None = None,
            upstream: Passthrough | None = None, origin: Origin | None = None) -> Result:
    """Run ``job`` on the first of its models that is known and has its files (Bifrost fallbacks).
    ``resolve`` turns a requested name into a catalog entry (default: the catalog's own rule); the server passes
    its own, where a policy for untrusted callers belongs. ``upstream``, when given, is asked first for counts of
    the models whose provider it is configured for (``origin``, the body as it came, lets it forward the
    caller's own shape when that is the provider's); it falls back to the local count itself."""
    resolve = resolve or default_catalog().resolve
    started = time.perf_counter()
    for i, name in enumerate(job.models):
        spec: ModelSpec | None = None
        try:
            spec = resolve(name)
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
                result = Result(model=name, count=counted)
            elif job.op == "text":
                assert job.text is not None
                result = Result(model=name, count=count_text(spec, job.text, return_tokens=job.return_tokens))
            else:
                result = Result(model=name, text=decode(spec, job.ids or []))
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
        return result
    raise InvalidRequest("no model given.", param="model")  # pragma: no cover - parse guarantees one


def answer(dialect: Dialect, route: Route, body: Any, settings: Settings, *,
           path_params: dict[str, str] | None = None, media_policy: FetchPolicy | None = None,
           check: Callable[[Job], None] | None = None, return_tokens: bool = False,
           resolve: Resolve | None = None, upstream: Passthrough | None = None,
           keep: Callable[[Job, Result, Answer], None] | None = None) -> Answer:
    """The route's answer to an already-decoded JSON ``body``; never raises a :class:`TokcountError`.
    ``check`` runs on the parsed job before it is counted (the server's message/part/tool limits);
    ``return_tokens`` asks for token ids where the dialect's answer can show them (the CLI's ``--tokens``);
    ``upstream`` is the configured passthrough, if any; ``keep`` is given each successful job and result (the
    server's memo of answers, :mod:`tokcount.memo`), with the answer made of them. Every count's answer carries
    ``x-tokcount-method`` and ``x-tokcount-exact`` headers (the bodies keep the providers' exact shapes), and
    ``x-tokcount-upstream-error`` when a configured upstream was not used."""
    try:
        try:
            job = parse_job(route, body, settings, path_params)
            job.return_tokens = job.return_tokens or return_tokens
            job.ids_required = job.ids_required or return_tokens
            if check is not None:
                check(job)
            result = execute(job, media_policy=media_policy, resolve=resolve, upstream=upstream,
                             origin=Origin(dialect.name, body))
        except RecursionError:
            raise InvalidRequest("The request is nested too deeply.", param="body") from None
        out = formatted(route, job, result)
        if keep is not None:
            keep(job, result, out)
        return out
    except TokcountError as exc:
        return error_answer(dialect, exc)


def count_headers(result: Result) -> dict[str, str]:
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


def formatted(route: Route, job: Job, result: Result) -> Answer:
    """The route's 200 answer for a counted job (also how a memoized result is answered again)."""
    headers = count_headers(result)
    if route.headers is not None:
        headers.update(route.headers(job, result))
    headers.update(window_headers(result.count))  # every count says its context window and if it fits
    tokens = result.count.input_tokens if result.count is not None else None
    return Answer(200, route.format(job, result), headers, model=result.model, tokens=tokens)


def error_answer(dialect: Dialect, exc: TokcountError) -> Answer:
    status, body, headers = dialect.failure(exc)
    return Answer(status, body, {**headers, "WWW-Authenticate": "Bearer"} if status == 401 else headers)
