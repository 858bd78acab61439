"""HTTP routes of the playground: ``GET /playground`` (its static page) and ``POST /v1/playground/count``.

Mounted by ``create_app`` with one call (:func:`mount`). The page is static (no CDN; files shipped beside this
module) and holds no data, so it is served like ``/docs``; its data comes from ``POST /v1/playground/count``, which
is behind the API key like every other data route (the page has a key field), reads the body through the server's
size-capped reader and answers every failure in the library's OpenAI-chat shape, never a 500 for bad input.

The counts run on the server's bounded counting pools (:meth:`~tokcount.scheduling.Scheduler.offload`: also how
their image sizes are read off those threads), never on a thread pool of their own. The playground counts its
request once per model, so it takes at most :data:`MAX_MODELS` models and no more of them than keeps models × body
bytes within the body limit (the work of one largest count); its answer carries token ids, token strings and the
per-message breakdown only for requests up to :data:`DETAIL_BYTES` (and token arrays up to :data:`MAX_VIEW_TOKENS`
long), so an answer is never many times its request (8 models × 3 MB of text answered 95 MB and grew the worker by
1.8 GB).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import cache, partial
from html import escape
from importlib import resources
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi import Request as HttpRequest
from fastapi.responses import Response

from .. import jobs
from ..dialects import dialects
from ..dialects._api import Dialect, Job
from ..errors import InternalError, InvalidRequest, RequestTooLarge, TokcountError
from ..renderers.jinja import limits
from ..routing import dialect_error

log = logging.getLogger("tokcount.tools")
ReadBody = Callable[[HttpRequest, int, float | None], Awaitable[bytes]]
#: the POST route :func:`mount` adds (besides the dialects' own)
POST_PATHS = ("/v1/playground/count",)
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



def _json(status: int, body: Any) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def mount(app: FastAPI, service: Any, read_body: ReadBody) -> None:
    """Add ``/playground`` and ``/v1/playground/count`` to ``app`` (``service``: the server's
    :class:`~tokcount.server.Service`, for settings, auth, JSON parsing, the counting pools and the policy)."""
    settings = service.settings
    fallback = dialects()["openai-chat"]

    def bounded(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn`` under the server's render limits (time, size, loops), as every count route runs."""
        with limits.active(limits.served(settings)):
            return fn(*args, **kwargs)

    @app.post("/v1/playground/count", summary="Counts of one request for several models, with tokens (playground)")
    async def playground_count(request: HttpRequest) -> Response:
        denied = service.admission.authorized(request.headers)
        if denied is not None:
            return dialect_error(fallback, denied)
        try:
            raw = await read_body(request, settings.max_body_bytes, settings.body_timeout)
        except TokcountError as exc:
            return dialect_error(fallback, exc)
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
            return dialect_error(fallback, InternalError("Internal error while counting; see the server log."))

    @app.get("/playground", summary="Playground page", include_in_schema=False)
    async def playground_page() -> Response:
        return _page()

    @app.get("/playground/{name}", include_in_schema=False)
    async def playground_file(name: str) -> Response:
        if name not in STATIC:
            return _json(404, {"error": {"type": "not_found", "message": f"no playground file {name!r}."}})
        return _page() if name == "index.html" else _static(name)


def dialect_options() -> list[str]:
    """The playground's dialect choices: plain text, then every dialect that declares ``playground``."""
    return ["text", *(d.name for d in dialects().values() if d.playground)]


@cache
def _page_bytes() -> bytes:
    html = resources.files(__package__).joinpath("index.html").read_text("utf-8")
    options = "".join(f'<option value="{escape(n)}">{escape(n)}</option>' for n in dialect_options())
    return html.replace("<!-- dialects -->", options).encode("utf-8")


def _page() -> Response:
    """``index.html`` with the dialect selector filled from the dialects (the page lists no names itself)."""
    return Response(_page_bytes(), media_type=STATIC["index.html"], headers={"Cache-Control": "no-cache"})


def _static(name: str) -> Response:
    data = resources.files(__package__).joinpath(name).read_bytes()
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
        return dialect_error(fallback, exc)
    return name, models, body.get("request"), size <= DETAIL_BYTES


def _one(name: str, model: str, request: Any, settings: Any, policy: jobs.Policy,
         detail: bool) -> dict[str, Any]:
    """One model's result; with ``detail``, its token view and breakdown (each bounded) as well."""
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
