"""The HTTP service: every provider's count-tokens API shape in front of one engine.

A count request goes one way down (docs/architecture.md, "The request path"): the route's handler here →
:mod:`tokcount.admission` (key or signature → tenant, the body size-capped and deadline-bound, one JSON parse) →
:mod:`tokcount.memo` (:class:`~tokcount.memo.Answers`: the key computed once; a hit is the answer) →
:mod:`tokcount.scheduling` (inline on the event loop, or a counting pool; image-size fetch rounds; the slow pool) →
:meth:`Service.count` → :func:`tokcount.jobs.answer` under the server's :class:`~tokcount.jobs.Policy` → the
returned :class:`~tokcount.jobs.Answer` (its model and tokens go to the access log and metrics) → the response.
The routes are those every dialect module declares (:func:`tokcount.dialects.dialects`); none is listed here.
This module wires the parts from the settings, mounts the routes, and answers health, readiness and the model list.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import threading
import time
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi import Request as HttpRequest
from fastapi.responses import PlainTextResponse, Response
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool

from . import assets, fastpath, fit_route, jobs, loader, metrics, observe, routing
from .admission import Admission, read_body
from .dialects import dialects
from .dialects._api import Dialect, Route
from .dialects._fields import default_or
from .errors import TokcountError, public_text
from .httpguard import DocsAuth, install_log_redaction
from .media.sources import policy_from
from .memo import AnswerMemo, Answers, today
from .models.catalog import ModelSpec, RepoPolicy, default_catalog
from .passthrough import Passthrough
from .playground import routes as playground_routes
from .renderers.jinja import render_pool
from .scheduling import Scheduler
from .schemas import openapi as schemas_openapi
from .settings import Settings
from .settings_in_force import configure as install_settings
from .tenancy import ANONYMOUS

log = logging.getLogger("tokcount.server")


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    resp = Response(content=orjson.dumps(body), status_code=status, media_type="application/json")
    if headers:
        resp.headers.update(headers)
    return resp


def _respond(out: jobs.Answer) -> Response:
    """The HTTP answer: the body as it was serialized where it was counted (a memo hit's as it was kept)."""
    resp = Response(content=out.raw if out.raw is not None else orjson.dumps(out.body), status_code=out.status,
                    media_type="application/json")
    if out.headers:
        resp.headers.update(out.headers)
    return resp


class Service:
    """One server's parts, wired from its settings: admission (keys, body), scheduling (pools, render budgets), the
    memo of answers and the counting :class:`~tokcount.jobs.Policy` handed down to every job. No HTTP in here."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.admission = Admission(settings)
        self.ready = threading.Event()
        self.preload_errors: dict[str, str] = {}
        #: the upstream passthrough (None: off); never asked on the event loop (Scheduler.models_loaded)
        self.upstream = Passthrough(settings.upstreams, on_call=metrics.upstream) if settings.upstreams else None
        loader.configure(max_models=settings.max_loaded_models, memory_mb=settings.model_memory_mb,
                         miss_ttl=settings.miss_ttl_s, on_load=metrics.model_load)
        assets.configure(miss_ttl=settings.miss_ttl_s, hub_timeout=settings.hub_timeout_s)
        #: handed down to every job: the request limits; which Hub repos outside the catalog clients may name (the
        #: operator's allow_hub_repos, none by default, and the repos the operator preloads); the upstream; the
        #: media policy built once from the settings (the library default reads the settings in force)
        self.policy = jobs.Policy(limits=settings, repos=RepoPolicy((*settings.allow_hub_repos, *settings.preload)),
                                  upstream=self.upstream, media=policy_from(settings))
        self.scheduler = Scheduler(settings, self.policy)
        self.answers = Answers(AnswerMemo(max_bytes=int(settings.answer_memo_mb * 1_000_000)), self.policy)
        #: the process serves this app alone (``tokcount serve``, its workers): the heap is frozen once the models
        #: are loaded (:func:`settle_heap`); an app made inside another program (tests, embedding) leaves its GC be
        self.owns_process = False

    @property
    def memo(self) -> AnswerMemo:
        return self.answers.memo

    async def run(self, dialect: Dialect, route: Route, raw: bytes, params: dict[str, str],
                  tenant: bytes = ANONYMOUS) -> jobs.Answer:
        """The answer to an admitted body: the memoized one for a byte-identical body the same ``tenant``
        (:mod:`tokcount.tenancy`) sent, else counted where :class:`~tokcount.scheduling.Scheduler` puts it, and
        kept. The memo key is computed once, here."""
        started = time.perf_counter()
        key = self.answers.key(dialect.name, route, params, raw, tenant)
        date = ""
        if key is not None:
            hit = self.answers.replay(key, route, started)
            metrics.memo(hit is not None)
            if hit is not None:
                return hit
            date = today()  # taken before counting: an answer that straddles midnight is never served the next day
        return await self.scheduler.run(raw, route, params, partial(self.answers.count, key, date, dialect, route,
                                                                    raw, params, self.settings),
                                        partial(jobs.error_answer, dialect))

    # ------------------------------------------------------------------ preload
    def preload(self) -> None:
        """Load the preload models; any failure (a corrupt file is not always a TokcountError) is logged in full
        and named in ``/readyz``'s ``preload_errors``, and readiness is decided in every case: never "loading"
        forever."""
        try:
            for name in self.settings.preload:
                try:
                    model = loader.load(self.policy.resolve(name))
                    model.template()
                except TokcountError as exc:
                    self.preload_errors[name] = exc.message
                    log.error("preload of %r failed: %s", name, getattr(exc, "detail", exc.message))
                except Exception as exc:  # whatever it is, readyz must say so
                    self.preload_errors[name] = f"{type(exc).__name__}: {public_text(str(exc))}"
                    log.exception("preload of %r failed", name)
        finally:
            if self.owns_process:
                settle_heap()
            self.ready.set()


def settle_heap() -> None:
    """Move everything alive once the models are loaded (modules, vocabularies, compiled templates) out of the
    cyclic GC's reach (``gc.freeze``): a full collection otherwise walks all of it again and again while requests
    run, and each one paused every request in flight (measured in process on the 1k-token StepFun body: 38-50 ms
    pauses, p99.9 1.4 ms; frozen: the longest call 5.8 ms). What is frozen is never freed, which is what the
    service wants of its loaded models; a model loaded later is collected as usual."""
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None, *, owns_process: bool = False) -> FastAPI:
    """The ASGI app for ``settings`` (default: read from the environment and ``TOKCOUNT_CONFIG``);
    ``owns_process``: the process runs nothing else (see :attr:`Service.owns_process`)."""
    settings = settings or Settings.load()
    service = Service(settings)
    service.owns_process = owns_process

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        install_log_redaction()  # after the ASGI server configured its loggers
        if service.scheduler.limits.isolated:  # the render processes start now, not on the first requests
            await asyncio.get_running_loop().run_in_executor(None, service.scheduler.warm)
        if settings.preload:
            threading.Thread(target=service.preload, name="tokcount-preload", daemon=True).start()
        else:
            if service.owns_process:
                settle_heap()
            service.ready.set()
        yield
        if service.upstream is not None:
            service.upstream.close()
        render_pool.shutdown()

    # Swagger UI and ReDoc from the assets fastapi-offline ships (served under /static-offline-docs): no CDN
    app = FastAPIOffline(title="tokcount", version="0.1.0", lifespan=lifespan,
                         description="Exact input-token counts behind the request shapes of providers' count-tokens "
                                     "APIs.")
    app.state.service = service
    #: the count routes with a fixed path, answered past FastAPI's per-request layers (tokcount.fastpath)
    direct: dict[str, tuple[Any, fastpath.Handler]] = {}
    app.add_middleware(fastpath.CountRoutes, routes=direct)  # innermost: inside the docs guard and Observe
    if settings.auth_enabled and not settings.public_docs:  # the docs list every route: behind the same keys
        app.add_middleware(DocsAuth, authorized=service.admission.authorized,
                           denied=lambda err: routing.dialect_error(dialects()["openai-responses"], err))
    app.add_middleware(routing.LastLine)  # an exception escaping any route: a JSON 500 in its shape
    app.add_middleware(observe.Observe, json_log=settings.access_log == "json")  # outermost: sees every answer

    def mount(dialect: Dialect, route: Route) -> None:
        path = route.path
        assert path is not None

        async def handler(request: HttpRequest) -> Response:
            try:
                raw, tenant = await service.admission.admit(dialect, request)
            except TokcountError as err:
                return routing.dialect_error(dialect, err)  # a 408 closes the connection
            params = {k: request.path_params[k] for k in route.path_params}  # e.g. Gemini's model, in the URL
            out = await service.run(dialect, route, raw, params, tenant)
            observe.note(request.scope, out.model, out.tokens)
            return _respond(out)

        name = path.strip("/").replace("/", "_").replace("-", "_").replace("{", "").replace("}", "").replace(":", "_")
        handler.__name__ = f"{dialect.name.replace('-', '_')}_{name}"
        extra = {"requestBody": {"required": True, "content": {"application/json": {
            "schema": {"type": "object"}, "example": route.example}}}}
        app.add_api_route(path, handler, methods=["POST"], summary=route.summary, openapi_extra=extra,
                          description=dialect.doc.strip())
        if fastpath.fixed(path):
            direct.setdefault(path, (app.router.routes[-1], handler))

    for dialect in dialects().values():
        for r in dialect.routes:
            if r.path is not None:  # the library's own shape (openai-chat) has no HTTP route
                mount(dialect, r)

    fit_route.mount(app, service, read_body)  # /v1/fit
    playground_routes.mount(app, service, read_body)  # /playground, /v1/playground/count

    @app.get("/healthz", summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: preloaded models are loaded")
    async def readyz() -> Response:
        status = "loading" if not service.ready.is_set() else "failed" if service.preload_errors else "ready"
        body = {"status": status, "default_model": settings.default_model,
                "preload": list(settings.preload), "preload_errors": service.preload_errors}
        ok = service.ready.is_set() and not service.preload_errors
        return _json(200 if ok else 503, body)

    @app.get("/v1/models", summary="The model catalog, with whether each model's files are here")
    async def models(request: HttpRequest) -> Response:
        denied = service.admission.authorized(request.headers, key_header="x-api-key")
        if denied is not None:
            return routing.dialect_error(dialects()["openai-responses"], denied)
        return await run_in_threadpool(_models_body, settings)

    @app.get("/metrics", summary="Prometheus metrics (every worker's, under --workers N)",
             response_class=PlainTextResponse)
    async def metrics_route(request: HttpRequest) -> Response:
        if not settings.public_metrics:
            denied = service.admission.authorized(request.headers, key_header="x-api-key")
            if denied is not None:
                return routing.dialect_error(dialects()["openai-responses"], denied)
        body, content_type = await run_in_threadpool(metrics.exposition)  # multi-worker: reads files
        return Response(content=body, media_type=content_type)

    @app.get("/v1/models/{model_id:path}", summary="One model of the catalog (or an allowed Hub repo)")
    async def model(model_id: str, request: HttpRequest) -> Response:
        if model_id.endswith(":countTokens"):  # Gemini's count route answers POST only
            return routing.error_response(request.url.path, routing.MethodNotAllowed(
                f"GET is not allowed on {request.url.path}; use POST."), {"allow": "POST"})
        denied = service.admission.authorized(request.headers, key_header="x-api-key")
        if denied is not None:
            return routing.dialect_error(dialects()["openai-responses"], denied)
        return await run_in_threadpool(_model_body, settings, service.policy.repos, model_id)

    routing.install(app)
    schemas_openapi.install(app)
    return app


def _models_body(settings: Settings) -> Response:
    data = [_model_entry(spec, settings) for spec in default_catalog().models.values()]
    return _json(200, {"object": "list", "data": data})


def _model_entry(spec: ModelSpec, settings: Settings) -> dict[str, Any]:
    from .availability import availability

    return {"id": spec.id, "object": "model", "created": 0, "owned_by": spec.family, "repo": spec.repo,
            "aliases": list(spec.aliases), "context_window": spec.context_window,
            "available": availability(spec), "default": spec.id == _default_id(settings)}


def _model_body(settings: Settings, policy: RepoPolicy, model_id: str) -> Response:
    """``GET /v1/models/{id}``: the list's fields for one model, or a 404 in the OpenAI shape naming the closest
    catalog names (the catalog's own suggestions)."""
    try:
        spec = default_catalog().resolve(default_or(model_id, settings.default_model), allow=policy)
    except TokcountError as exc:
        return routing.dialect_error(dialects()["openai-responses"], exc)
    return _json(200, _model_entry(spec, settings))


def _default_id(settings: Settings) -> str | None:
    try:
        return default_catalog().resolve(settings.default_model).id
    except TokcountError:
        return None


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` and multi-worker serving: settings from the environment (the header
    deadline too: each worker process names the protocol class by import path and gives it the setting here)."""
    from .protocol import HeaderDeadlineProtocol

    settings = install_settings(Settings.load())  # the process-wide parts too (see settings_in_force.py)
    HeaderDeadlineProtocol.timeout = settings.header_timeout
    HeaderDeadlineProtocol.max_header_bytes = settings.max_header_bytes
    HeaderDeadlineProtocol.max_headers = settings.max_headers
    if settings.access_log == "json":  # a spawned worker starts with unconfigured logging
        observe.configure_access_log()
    return create_app(settings, owns_process=True)


def serve(host: str = "127.0.0.1", port: int = 8080, workers: int = 1, config: str | None = None,
          preload: list[str] | None = None) -> None:
    """Run the service with uvicorn; ``workers > 1`` starts that many processes sharing the port."""
    import uvicorn

    if config:
        os.environ["TOKCOUNT_CONFIG"] = str(Path(config).expanduser().resolve())
    if preload:
        os.environ["TOKCOUNT_PRELOAD"] = ",".join(preload)
    settings = install_settings(Settings.load())  # fail fast on a bad config, before any worker starts
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.info("tokcount serving on http://%s:%d (default model %s, auth %s)", host, port, settings.default_model,
             "on" if settings.auth_enabled else "off")
    if settings.asset_dirs:  # the operator's own paths, in the operator's log
        log.info("model files from %s first", os.pathsep.join(settings.asset_dirs))
    if settings.upstreams:  # provider names only: never a key
        log.info("upstream passthrough on for %s", ", ".join(u.provider for u in settings.upstreams))
    # a line per request costs ~10% of a small count's time: off unless TOKCOUNT_ACCESS_LOG is 1 (uvicorn's
    # plain lines) or json (tokcount's JSON lines with request ids, observe.py; uvicorn's then stay off)
    access_log = settings.access_log == "plain"
    if settings.access_log == "json":
        observe.configure_access_log()
    install_log_redaction()
    options = uvicorn_options(settings)
    if workers > 1:  # the config is pickled to the workers: the protocol by import path (app_from_env sets it up)
        options["http"] = "tokcount.protocol:HeaderDeadlineProtocol"
        with metrics.multiprocess_dir():  # the workers' metric files, merged by /metrics
            uvicorn.run("tokcount.server:app_from_env", factory=True, host=host, port=port, workers=workers,
                        access_log=access_log, **options)
    else:
        uvicorn.run(create_app(settings, owns_process=True), host=host, port=port, access_log=access_log, **options)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn settings that bound slow clients and large heads: a protocol that answers 408 and closes a
    connection whose request headers are not complete within ``header_timeout`` (uvicorn has no such limit; its
    keep-alive timer is reset by every byte), 431 past ``max_header_bytes`` / ``max_headers`` (nor these), and the
    keep-alive timeout. The body deadline is enforced by the routes themselves."""
    from .httpguard import timed_protocol

    protocol = timed_protocol(settings.header_timeout, settings.max_header_bytes, settings.max_headers)
    return {"http": protocol, "timeout_keep_alive": settings.keep_alive_timeout}
