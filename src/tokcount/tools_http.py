"""HTTP routes of the tools built on the engine: ``POST /v1/fit``, the playground page and its count call.

Mounted by ``create_app`` with one call (:func:`mount`) so the server module stays about counting. Each route
authenticates like the count routes, reads the body through the server's size-capped reader and answers every
failure in a known shape (the chosen dialect's for ``/v1/fit``), never a 500 for bad input.

- ``POST /v1/fit?dialect=NAME&model=M&budget=N&reserve=N&truncate=true``: the body is that dialect's count body
  (default ``openai-chat``; Gemini's model, in its URL elsewhere, is ``model`` here). The answer is
  ``{"object": "fit", "request": <the same dialect's body, trimmed>, "budget", "tokens_before", "tokens_after",
  "minimum_tokens", "dropped", "next_tokens", "truncated"}`` (:mod:`tokcount.fit`).
- ``GET /playground``: a static page (no CDN; files shipped in ``tokcount/playground``). Its data comes from
  ``POST /v1/playground/count``, which is behind the API key like every other data route (the page has a key
  field); the page itself holds no data and is served like ``/docs``.

Both run on the server's bounded counting pools (:meth:`~tokcount.scheduling.Scheduler.offload`: also how their image
sizes are read off those threads), never on a thread pool of their own. The playground counts its request once per
model, so it takes at most :data:`MAX_MODELS` models and no more of them than keeps models × body bytes within the
body limit (the work of one largest count); its answer carries token ids, token strings and the per-message
breakdown only for requests up to :data:`DETAIL_BYTES` (and token arrays up to :data:`MAX_VIEW_TOKENS` long), so
an answer is never many times its request (8 models × 3 MB of text answered 95 MB and grew the worker by 1.8 GB).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial
from importlib import resources
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi import Request as HttpRequest
from fastapi.responses import Response

from . import jobs
from .dialects import dialects
from .dialects._api import Dialect
from .errors import InternalError, InvalidRequest, RequestTooLarge, TokcountError
from .fit import MAX_TOKENS, fit_answer
from .templates import limits

log = logging.getLogger("tokcount.tools")
ReadBody = Callable[[HttpRequest, int, float | None], Awaitable[bytes]]
#: the POST routes :func:`mount` adds (besides the dialects' own)
POST_PATHS = ("/v1/fit", "/v1/playground/count")
#: the playground compares at most this many models at once (each is a full count)
MAX_MODELS = 8
#: requests up to this size get the token view (ids and strings) and the per-message breakdown (which counts the
#: messages again); larger ones their counts only: a token view of megabytes is no view, and it was ~30x its text
DETAIL_BYTES = 64 * 1024
#: token arrays longer than this are left out of an answer even for a small request (a template that writes far
#: more than it was sent)
MAX_VIEW_TOKENS = 65_536
STATIC = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
          "style.css": "text/css; charset=utf-8"}


def _query(name: str, kind: str, doc: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": {"type": kind}, "description": doc}


#: the query parameters are read by hand (bad values answered in the dialect's shape), so documented here
FIT_DOCS: dict[str, Any] = {
    "parameters": [
        _query("dialect", "string", "the body's shape: any `tokcount count --dialect` name (default openai-chat)"),
        _query("model", "string", "model (overrides the body's; Gemini's model, in its URL elsewhere)"),
        _query("budget", "integer", "token budget (default: the model's context window)"),
        _query("reserve", "integer", "tokens to leave free below the budget"),
        _query("truncate", "boolean", "cut the oldest kept message's text instead of dropping its turn"),
    ],
    "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}, "example": {
        "model": "qwen3.5", "messages": [{"role": "system", "content": "Be brief."},
                                         {"role": "user", "content": "An old question"},
                                         {"role": "assistant", "content": "An old answer"},
                                         {"role": "user", "content": "The new question"}]}}}},
}


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def _error(dialect: Dialect, exc: TokcountError) -> Response:
    out = jobs.error_answer(dialect, exc)
    return _json(out.status, out.body, out.headers)


def _int_param(query: Any, name: str) -> int | None:
    """An integer query parameter within +-MAX_TOKENS (a number past 64 bits could not even be written back)."""
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw) if len(raw) <= 20 else None
    except ValueError:
        value = None
    if value is None or abs(value) > MAX_TOKENS:
        raise InvalidRequest(f"{name} must be an integer between -{MAX_TOKENS} and {MAX_TOKENS}, got "
                             f"{raw[:40]!r}{'...' if len(raw) > 40 else ''}.", param=name)
    return value


def _bool_param(query: Any, name: str) -> bool:
    raw = (query.get(name) or "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise InvalidRequest(f"{name} must be true or false, got {raw!r}.", param=name)
    return raw in ("true", "1")


def mount(app: FastAPI, service: Any, read_body: ReadBody) -> None:
    """Add ``/v1/fit``, ``/playground`` and ``/v1/playground/count`` to ``app`` (``service``: the server's
    :class:`~tokcount.server.Service`, for settings, auth, JSON parsing, limits and model resolution)."""
    settings = service.settings
    fallback = dialects()["openai-chat"]

    async def read_raw(request: HttpRequest) -> bytes:
        return await read_body(request, settings.max_body_bytes, settings.body_timeout)

    def bounded(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn`` under the server's render limits (time, size, loops), as every count route runs."""
        with limits.active(settings.served_render_limits):
            return fn(*args, **kwargs)

    def fit_parsed(dialect: Dialect, raw: bytes, *args: Any, **kwargs: Any) -> jobs.Answer:
        try:
            body = service.admission.parse_json(raw)
        except TokcountError as exc:
            return jobs.error_answer(dialect, exc)
        return fit_answer(dialect.name, body, *args, **kwargs)

    def refused(dialect: Dialect, exc: TokcountError) -> Response:
        resp = _error(dialect, exc)
        if exc.status == 408:  # the rest of the body may never come: do not wait for it
            resp.headers["Connection"] = "close"
        return resp

    @app.post("/v1/fit", summary="Trim a request (any dialect's body) to a token budget, exactly",
              openapi_extra=FIT_DOCS)
    async def fit_route(request: HttpRequest) -> Response:
        name = request.query_params.get("dialect", "openai-chat")
        dialect = dialects().get(name)
        if dialect is None:
            return _error(fallback, InvalidRequest(f"dialect must be one of {', '.join(dialects())}; got {name!r}.",
                                                   param="dialect"))
        denied = service.admission.authorized(request.headers, key_header=dialect.key_header)
        if denied is not None:
            return _error(dialect, denied)
        try:
            q = request.query_params
            budget, reserve = _int_param(q, "budget"), _int_param(q, "reserve") or 0
            truncate = _bool_param(q, "truncate")
            raw = await read_raw(request)
        except TokcountError as exc:
            return refused(dialect, exc)
        try:  # one task on a counting thread: the parse, then every count the fit makes
            out = await service.scheduler.offload(len(raw), partial(
                bounded, fit_parsed, dialect, raw, settings, model=q.get("model") or None, budget=budget,
                reserve=reserve, truncate=truncate, policy=service.policy))
        except Exception:  # a bug: answered in the dialect's shape, logged with its traceback (never the body)
            log.exception("unexpected error in /v1/fit (%s)", name)
            return _error(dialect, InternalError("Internal error while fitting; see the server log."))
        return _json(out.status, out.body, out.headers)

    @app.post("/v1/playground/count", summary="Counts of one request for several models, with tokens (playground)")
    async def playground_count(request: HttpRequest) -> Response:
        denied = service.admission.authorized(request.headers)
        if denied is not None:
            return _error(fallback, denied)
        try:
            raw = await read_raw(request)
        except TokcountError as exc:
            return refused(fallback, exc)
        try:  # the parse, then each model's count, as tasks of their own: other requests' counts go in between
            plan = await service.scheduler.offload(len(raw), partial(_playground_plan, raw, settings,
                                                                     service.admission.parse_json))
            if isinstance(plan, Response):
                return plan
            name, models, body, detail = plan
            known: dict[str, Any] = {}  # image sizes read for the first model serve the others
            results = [await service.scheduler.offload(
                len(raw), partial(bounded, _one, name, model, body, settings, service.policy, detail), known=known)
                for model in models]
            return _json(200, {"object": "playground.counts", "dialect": name, "results": results})
        except Exception:
            log.exception("unexpected error in /v1/playground/count")
            return _error(fallback, InternalError("Internal error while counting; see the server log."))

    @app.get("/playground", summary="Playground page", include_in_schema=False)
    async def playground_page() -> Response:
        return _static("index.html")

    @app.get("/playground/{name}", include_in_schema=False)
    async def playground_file(name: str) -> Response:
        if name not in STATIC:
            return _json(404, {"error": {"type": "not_found", "message": f"no playground file {name!r}."}})
        return _static(name)


def _static(name: str) -> Response:
    data = resources.files("tokcount.playground").joinpath(name).read_bytes()
    return Response(data, media_type=STATIC[name], headers={"Cache-Control": "no-cache"})


def _playground_plan(raw: bytes, settings: Any, parse_json: Callable[[bytes], Any]) -> tuple[str, list[str], Any,
                                                                                             bool] | Response:
    """``(dialect, models, request, detail)`` of a playground body ``{"dialect", "models", "request"}``, or the
    error answer. Its answer is ``{"results": [{model, status, count (the library's Count; breakdown and tokens
    with ``detail``), answer (the dialect route's own answer), omitted (why there is no token view)} | {model,
    status, error}]}``."""
    fallback = dialects()["openai-chat"]
    size = len(raw)
    try:
        body = parse_json(raw)
        if not isinstance(body, dict):
            raise InvalidRequest("body must be an object {dialect, models, request}.", param="body")
        name = body.get("dialect", "openai-chat")
        if not isinstance(name, str):
            raise InvalidRequest("dialect must be a string.", param="dialect")
        models = body.get("models")
        if not isinstance(models, list) or not models or not all(isinstance(m, str) and m for m in models):
            raise InvalidRequest("models must be a non-empty array of model names.", param="models")
        if len(models) > MAX_MODELS:
            raise InvalidRequest(f"at most {MAX_MODELS} models at once.", param="models")
        if len(models) * size > settings.max_body_bytes:
            raise RequestTooLarge(f"the request is counted once per model, and {len(models)} models x {size} bytes "
                                  f"is more than the body limit of {settings.max_body_bytes} bytes: send fewer "
                                  "models or a smaller request.", param="models")
        if name != "text" and name not in dialects():
            raise InvalidRequest(f"dialect must be text or one of {', '.join(dialects())}; got {name!r}.",
                                 param="dialect")
        if name == "text" and not isinstance(body.get("request"), str):
            raise InvalidRequest("request must be a string for dialect text.", param="request")
    except TokcountError as exc:
        return _error(fallback, exc)
    return name, models, body.get("request"), size <= DETAIL_BYTES


def _one(name: str, model: str, request: Any, settings: Any, policy: jobs.Policy,
         detail: bool) -> dict[str, Any]:
    """One model's result; with ``detail``, its token view and breakdown (each bounded) as well."""
    from .dialects._api import Job

    dialect = dialects()["vllm" if name == "text" else name]
    route = dialect.routes[0]
    omitted = None if detail else (f"the request is over {DETAIL_BYTES // 1024} KiB: only the counts are shown "
                                   "(token view and breakdown are for smaller requests)")
    try:
        if name == "text":
            job = Job(models=[model], op="text", text=request, return_tokens=detail, extra={"strs": True})
        else:
            params: dict[str, str] = {}
            if route.path_params:
                params = {"model": model}
            else:
                request = {**request, "model": model} if isinstance(request, dict) else {"messages": request,
                                                                                           "model": model}
            job = jobs.parse_job(route, request, settings, params)
            policy.check(job)
            job.breakdown = job.return_tokens = detail  # some routes' own parse asks for tokens: not here
        result = jobs.execute(job, policy)
        counted = result.count
        assert counted is not None
        if counted.tokens is not None and len(counted.tokens) > MAX_VIEW_TOKENS:
            counted.tokens = counted.token_strings = None
            omitted = f"the prompt has more than {MAX_VIEW_TOKENS:,} tokens: no token view"
        out = {"model": model, "status": 200, "count": counted.to_dict(), "answer": route.format(job, result)}
        if omitted:
            out["omitted"] = omitted
        return out
    except RecursionError:
        return _one_error(dialect, model, InvalidRequest("The request is nested too deeply.", param="body"))
    except TokcountError as exc:
        return _one_error(dialect, model, exc)


def _one_error(dialect: Dialect, model: str, exc: TokcountError) -> dict[str, Any]:
    status, err = dialect.error(exc)
    return {"model": model, "status": status, "error": {"type": exc.kind, "message": exc.message}, "body": err}
