"""The HTTP service: every provider's count-tokens API shape in front of one engine.

Each POST route is ``auth → read the body (size-capped) → one JSON parse → route.parse → engine →
route.format`` (:mod:`tokcount.jobs`), and every failure on the way becomes the route's own error shape. The
routes are those every dialect module declares (:func:`tokcount.dialects.dialects`); none is listed here.
Bodies are read by hand rather than by FastAPI's validation, so the size limit is enforced before anything is
parsed (chunked bodies included), the JSON is parsed exactly once (orjson), and each dialect reports errors
naming the exact field. Counting is CPU-bound: small bodies (no URL in them) are counted on the event loop,
which is quicker than handing them to a thread, and everything else on two small thread pools (one for large
bodies), so the event loop keeps accepting and answering (health checks included) while big requests are counted.
Counting threads never wait on the network: a count that needs remote image sizes stops, the sizes are read on the
shared fetch threads while the event loop waits for them, and the count runs again (:meth:`Service.offload`).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import orjson
from fastapi import FastAPI
from fastapi import Request as HttpRequest
from fastapi.responses import PlainTextResponse, Response
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool

from . import assets, fastpath, jobs, loader, metrics, observe, routing, sigv4, tools_http
from .config import configure as install_config
from .dialects import dialects
from .dialects._api import Dialect, Job, Result, Route
from .dialects._fields import check_depth, default_or
from .errors import (
    AuthenticationError,
    InternalError,
    InvalidRequest,
    MalformedJson,
    RequestTooLarge,
    TokcountError,
    TokenizerFailure,
    public_text,
)
from .httpguard import DocsAuth, body_deadline, install_log_redaction
from .media.sources import ImageInfo, MediaError, NeedsFetch, deferred, fetch_sizes, policy_from, source_key
from .memo import AnswerMemo, clock_dependence, replayed, template_source_of, today
from .models.catalog import ModelSpec, RepoPolicy, default_catalog
from .passthrough import Passthrough
from .renderers.jinja import kwargs as template_kwargs
from .renderers.jinja import limits, render_pool
from .request import Request, ToolResultPart
from .schemas import openapi as schemas_openapi
from .settings import Settings
from .tenancy import ANONYMOUS, Keys

log = logging.getLogger("tokcount.server")
T = TypeVar("T")

#: after an oversized body, keep reading (and dropping) up to this much more so the client gets the 413 instead
#: of a reset connection while it is still sending; beyond it the connection is simply closed after the answer
DRAIN_BYTES = 64 * 1024 * 1024
#: bodies at least this large are counted on their own pool, so a few huge requests never queue the small ones
LARGE_BODY = 256 * 1024
#: counting threads per pool: CPU-bound work under one GIL gains nothing from more, and a short FIFO queue gives
#: lower tail latency than dozens of threads time-slicing (wrk, 2 workers, 64 connections, ~1k-token body, this
#: machine: anyio's 40 threads 3,843 req/s p99 66 ms; 2 threads 5,818 req/s p99 45 ms)
COUNT_THREADS = 2
#: bodies smaller than this (~5k tokens at most: well under 2 ms to count) and holding no URL (an image fetch could
#: take seconds) are counted on the event loop itself: the thread hand-off and GIL ping-pong cost more than the
#: count (same wrk setup at 16 connections: p99 32 -> 13 ms, 5,413 -> 6,437 req/s)
INLINE_BODY = 16 * 1024
#: the event loop's render budget: a render still running after this long (or a prompt growing past
#: INLINE_PROMPT_CHARS) is abandoned and the job re-run on a counting thread under the full budget, so a hostile
#: template in a small body never holds the loop (a normal small render takes ~0.03-0.3 ms)
INLINE_RENDER_S = 0.02
INLINE_PROMPT_CHARS = 256 * 1024


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    resp = Response(content=orjson.dumps(body), status_code=status, media_type="application/json")
    if headers:
        resp.headers.update(headers)
    return resp


def _error_response(dialect: Dialect, err: TokcountError) -> Response:
    out = jobs.error_answer(dialect, err)
    return _json(out.status, out.body, out.headers)


class Service:
    """The engine side of the server: settings, limits and running a parsed job. No HTTP in here."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._keys = Keys(settings.api_keys)
        self.ready = threading.Event()
        self.preload_errors: dict[str, str] = {}
        #: the upstream passthrough (None: off). A forwarded count waits on the network, so it never runs on the
        #: event loop (models_loaded) and each pool gets a thread per call that may be in flight
        self.upstream = Passthrough(settings.upstreams) if settings.upstreams else None
        threads = COUNT_THREADS + (self.upstream.max_in_flight if self.upstream else 0)
        self._small = ThreadPoolExecutor(threads, thread_name_prefix="tokcount-count")
        self._large = ThreadPoolExecutor(threads, thread_name_prefix="tokcount-count-large")
        #: jobs whose render (or isolated tokenizer call) turned slow on the pools above finish here, adopting the
        #: render in flight (limits.SlowRender), so slow templates never hold the threads ordinary counts need
        self._slow = ThreadPoolExecutor(threads, thread_name_prefix="tokcount-count-slow",
                                        initializer=_mark_slow_thread)
        #: which Hub repos outside the catalog clients may name: the operator's allow_hub_repos (none by default),
        #: and the repos the operator preloads
        self.policy = RepoPolicy((*settings.allow_hub_repos, *settings.preload))
        loader.configure(max_models=settings.max_loaded_models, memory_mb=settings.model_memory_mb,
                         miss_ttl=settings.miss_ttl_s)
        assets.configure(miss_ttl=settings.miss_ttl_s, hub_timeout=settings.hub_timeout_s)
        #: counting threads hand slow isolated renders off to the slow pool; its own threads wait them out
        self._limits = replace(settings.served_render_limits, hand_off=settings.served_render_limits.isolated)
        self._slow_limits = settings.served_render_limits
        #: built once from the settings and handed to every job (the library default reads the process config)
        self.media_policy = policy_from(settings)
        self._inline_limits = self._limits.inline(INLINE_RENDER_S, INLINE_PROMPT_CHARS)
        self.memo = AnswerMemo(max_bytes=int(settings.answer_memo_mb * 1_000_000))
        self._clocks: dict[str, str] = {}
        #: the process serves this app alone (``tokcount serve``, its workers): the heap is frozen once the models
        #: are loaded (:func:`settle_heap`); an app made inside another program (tests, embedding) leaves its GC be
        self.owns_process = False

    async def run(self, dialect: Dialect, route: Route, raw: bytes, params: dict[str, str],
                  tenant: bytes = ANONYMOUS) -> Response:
        """A memoized answer for a byte-identical body the same ``tenant`` (:mod:`tokcount.tenancy`) sent; else
        :meth:`process` inline for a small body, else on the counting pool that fits the body's size.

        Inline (small, no URL to fetch, its models already loaded, none forwarded upstream), renders get the event
        loop's tiny budget; one that spends it (a slow or huge template) is re-run on the small pool with the full
        budget (the few ms already spent are lost; normal bodies never hit it)."""
        memoized = self.replay(dialect, route, raw, params, tenant)
        #: one render budget per request from its first render, across the threads the job may move to
        clock = limits.RequestClock()
        if memoized is not None:
            return memoized
        body: Any = None  # not parsed yet (a JSON null body is just parsed again where it is counted)
        if len(raw) < INLINE_BODY and b"://" not in raw:
            try:  # parsed once: models_loaded and the count read the same object
                body = self.parse_json(raw)
            except TokcountError as exc:
                return _error_response(dialect, exc)
            if self.models_loaded(route, body, params):
                try:  # a URL spelt with JSON escapes (http:\/\/) is found here: never fetched on the loop
                    with limits.active(self._inline_limits), limits.request_clock(clock), deferred({}):
                        return self.process(dialect, route, raw, params, body, tenant)
                except (limits.OffLoop, NeedsFetch):
                    pass
        return await self.offload(len(raw), self._process_bounded, dialect, route, raw, params, body, tenant,
                                  clock)

    async def offload(self, size: int, work: Callable[..., T], *args: Any,
                      known: dict[str, ImageInfo | MediaError] | None = None) -> T:
        """``work(*args)`` on the counting pool for a body of ``size`` bytes, never waiting on the network there:
        it runs with no remote fetch allowed (:func:`~tokcount.media.sources.deferred`), and when it needs image
        sizes not read yet (:class:`~tokcount.media.sources.NeedsFetch`, raised before any render) they are read
        on the shared fetch threads while this coroutine awaits them, under the per-request cap and deadline (one
        deadline for all rounds), and ``work`` runs again with them. So slow image hosts hold fetch threads
        (bounded per process and per request) and never the threads that count everyone else's requests.
        ``known``: sizes already read for this request (the playground's per-model tasks share them), added to."""
        loop = asyncio.get_running_loop()
        pool = self._large if size >= LARGE_BODY else self._small
        known = {} if known is None else known
        deadline: float | None = None
        while True:
            try:
                return await loop.run_in_executor(pool, _without_fetches, known, work, *args)
            except limits.SlowRender:  # its render turned slow: finished on the slow pool, which adopts it
                pool = self._slow
            except NeedsFetch as need:
                missing = [(where, source) for where, source in need.sources if source_key(source) not in known]
                if not missing:  # every round reads what it names: a repeat would loop forever
                    raise RuntimeError("a count asked again for image sizes it was given") from None
                if deadline is None:
                    deadline = loop.time() + self.media_policy.request_deadline
                known.update(await fetch_sizes(missing, self.media_policy, deadline - loop.time()))

    def _process_bounded(self, dialect: Dialect, route: Route, raw: bytes, params: dict[str, str],
                         body: Any = None, tenant: bytes = ANONYMOUS,
                         clock: limits.RequestClock | None = None) -> Response:
        with limits.active(self._slow_limits if getattr(_THREAD, "slow", False) else self._limits), \
                limits.request_clock(clock):
            return self.process(dialect, route, raw, params, body, tenant)

    # ------------------------------------------------------------------ auth
    def authorized(self, headers: Any, *, key_header: str | None = None) -> TokcountError | None:
        """None when the request may pass; keys are compared in constant time and never logged or echoed.
        ``key_header`` is the provider's own key header (``x-api-key``, ``x-goog-api-key``), taken besides Bearer."""
        return self.authenticate(headers, key_header=key_header)[0]

    def authenticate(self, headers: Any, *, key_header: str | None = None) -> tuple[TokcountError | None, bytes]:
        """(None, the caller's tenant tag) when the request may pass, else (the error, ``ANONYMOUS``); with auth
        off every caller is the one anonymous tenant."""
        if not self._keys:
            return None, ANONYMOUS
        presented: list[str] = []
        auth = headers.get("authorization")
        if auth:
            scheme, _, token = auth.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                presented.append(token.strip())
        if key_header and headers.get(key_header):
            presented.append(headers[key_header].strip())
        if not presented:
            where = "an Authorization: Bearer header" + (f" or an {key_header} header" if key_header else "")
            return AuthenticationError(f"Missing API key: send {where}."), ANONYMOUS
        tenant = self._keys.tenant(presented)
        return (None, tenant) if tenant is not None else (AuthenticationError("Invalid API key."), ANONYMOUS)

    def signed_claims(self, dialect: Dialect, headers: Any) -> sigv4.Signed | TokcountError | None:
        """For a dialect whose SDK signs requests (Bedrock's boto3), with auth on: the claims of a SigV4
        ``Authorization`` header, read and checked (form, time) before the body is; an error when they do not hold;
        None when the request is not signed (then the usual key headers decide)."""
        if not self._keys or not dialect.sigv4 or not sigv4.is_signed(headers):
            return None
        try:
            return sigv4.claims(headers)
        except AuthenticationError as exc:
            return exc

    def authenticate_signed(self, signed: sigv4.Signed, scope: Mapping[str, Any], headers: Any,
                            body: bytes) -> tuple[TokcountError | None, bytes]:
        """(None, the tenant) when a configured key, as the secret access key, made the request's signature."""
        try:
            to_sign = sigv4.string_to_sign(signed, scope["method"], scope.get("raw_path") or scope["path"].encode(),
                                           scope.get("query_string", b""), headers, body)
        except AuthenticationError as exc:
            return exc, ANONYMOUS
        tenant = self._keys.tenant_proved(lambda key: sigv4.proves(signed, to_sign, key))
        if tenant is None:
            return AuthenticationError("The request signature does not match: sign with a tokcount API key as the "
                                       "secret access key."), ANONYMOUS
        return None, tenant

    # ------------------------------------------------------------------ body
    def parse_json(self, raw: bytes) -> Any:
        if not raw.strip():
            raise MalformedJson("The request body is empty; a JSON object is expected.", param="body")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise MalformedJson(f"The request body is not valid JSON: {exc}.", param="body") from None
        self._check_depth(body, raw)
        return body

    def _check_depth(self, body: Any, raw: bytes = b"") -> None:
        limit = self.settings.max_json_depth
        if raw and raw.count(b"{") + raw.count(b"[") <= limit:
            return  # every level opens a bracket: too few of them to nest that deep (a small body: no walk)
        check_depth(body, limit)

    def check_limits(self, request: Request) -> None:
        s = self.settings
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
                                  "accepted.", param="chat_template_kwargs")  # they reach the template too

    # ------------------------------------------------------------------ engine
    def resolve(self, name: str) -> ModelSpec:
        """The catalog entry a request's model name means (run by :func:`tokcount.jobs.execute` per model tried):
        a Hub repo outside the catalog only as the operator's policy allows (else a 403 ``model_not_allowed``)."""
        spec = default_catalog().resolve(name, allow=self.policy)
        loader.mark_tried(spec)
        return spec

    def models_loaded(self, route: Route, raw: bytes | Any, params: dict[str, str]) -> bool:
        """True unless a model the (small) body names would have to be loaded first: a load reads and parses
        files, maybe downloads them, for up to seconds, and must never run on the event loop. Names that resolve
        to nothing, and bodies that do not parse, are refused without reading a file, so they count as loaded.
        The names are read straight from the body where every dialect takes them as sent (``model``,
        ``fallbacks``; ``"default"`` the default model): 4-9 us here, where the dialect's full parse costs
        20-50 us (a 3.8 kB StepFun body, whose whole process() takes 360-530 us)."""
        if isinstance(raw, bytes):  # else the body run() already parsed
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:  # refused the same way, as quickly, by process()
                return True
        else:
            body = raw
        names = None if params else _named_models(body, self.settings.default_model)
        if names is None:  # not plainly in the body (Gemini's is in the URL): as the dialect reads it
            try:
                names = jobs.parse_job(route, body, self.settings, params).models
            except Exception:
                return True
        catalog = default_catalog()
        for name in names:
            try:
                spec = catalog.resolve(name, allow=self.policy)
            except TokcountError:
                continue
            if not loader.is_loaded(spec):
                return False
            if self.upstream is not None and self.upstream.upstream_for(spec) is not None:
                return False  # a forwarded count waits on the network: never on the event loop either
        return True

    def replay(self, dialect: Dialect, route: Route, raw: bytes, params: dict[str, str],
               tenant: bytes = ANONYMOUS) -> Response | None:
        """The answer to a body ``tenant`` had answered before (:mod:`tokcount.memo`); None if not memoized."""
        started = time.perf_counter()
        key = self.memo.key(dialect.name, route.path or "", params, raw, tenant)
        if key is None:
            return None
        hit = self.memo.get(key, today)
        metrics.memo(hit is not None)
        if hit is None:
            return None
        if hit.reply is not None:  # the same bytes whatever the latency: sent as they were made
            status, body, headers, model, tokens = hit.reply
            resp = Response(content=body, status_code=status, media_type="application/json", headers=dict(headers))
        else:
            assert hit.job is not None and hit.result is not None  # kept whenever there is no reply
            out = jobs.formatted(route, hit.job, replayed(hit.result, (time.perf_counter() - started) * 1000))
            resp = _json(out.status, out.body, out.headers)
            model, tokens = out.model, out.tokens
        resp.usage = (model, tokens)  # type: ignore[attr-defined]  # read by the route's handler
        return resp

    def _keeper(self, dialect: Dialect, route: Route, raw: bytes, params: dict[str, str],
                tenant: bytes) -> Callable[[Job, Result, jobs.Answer], None] | None:
        key = self.memo.key(dialect.name, route.path or "", params, raw, tenant)
        if key is None:
            return None
        date = today()  # taken before counting: an answer that straddles midnight is never served the next day

        def keep(job: Job, result: Result, one: jobs.Answer) -> None:
            if result.count is not None and result.count.upstream_error:  # a fallback: ask the provider next time
                return
            try:
                clock = self._clock(result.model)
            except TokcountError:  # e.g. a count forwarded upstream for a model whose files are not here
                return
            # the answer formatted again at another latency: one that does not show it (all but Bifrost's) is kept
            # serialized
            two = jobs.formatted(route, job, replayed(result, result.latency_ms + 1.0))
            reply = None
            if one.body == two.body and one.headers == two.headers:
                # atoms and tuples of atoms only: the collector stops tracking such a tuple
                reply = (one.status, orjson.dumps(one.body), tuple(one.headers.items()), one.model, one.tokens)
            self.memo.put(key, job, result, clock, date, reply)

        return keep

    def _clock(self, model: str) -> str:
        """Whether ``model``'s template reads the clock (:func:`tokcount.memo.clock_dependence`), once per model."""
        found = self._clocks.get(model)
        if found is None:
            found = self._clocks[model] = clock_dependence(template_source_of(self.resolve(model)))
        return found

    def process(self, dialect: Dialect, route: Route, raw: bytes, params: dict[str, str],
                body: Any = None, tenant: bytes = ANONYMOUS) -> Response:
        """Everything after the body is read (``body``: the JSON already parsed from ``raw``, if it was; ``tenant``:
        whose memo entries it may make); never raises."""
        try:
            if body is None:
                body = self.parse_json(raw)
            out = jobs.answer(dialect, route, body, self.settings, path_params=params,
                              check=self._check_job, resolve=self.resolve, upstream=self.upstream,
                              keep=self._keeper(dialect, route, raw, params, tenant),
                              media_policy=self.media_policy)
            loader.settle_tried(out.status == 200)
            resp = _json(out.status, out.body, out.headers)
            resp.usage = (out.model, out.tokens)  # type: ignore[attr-defined]  # read by the route's handler
            return resp
        except TokcountError as exc:
            return _error_response(dialect, exc)
        except RecursionError:
            return _error_response(dialect, InvalidRequest("The request is nested too deeply.", param="body"))
        except (limits.OffLoop, limits.SlowRender, NeedsFetch):  # run()/offload() move the job or read sizes first
            raise
        except Exception:  # a bug: answered in the route's shape, logged with its traceback (never the body)
            log.exception("unexpected error in %s", dialect.name)
            return _error_response(dialect, InternalError("Internal error while counting; see the server log."))
        except BaseException as exc:  # a Rust panic in a tokenizer arrives as pyo3's PanicException
            if type(exc).__name__ != "PanicException":
                raise
            log.warning("a tokenizer panicked in %s: %s", dialect.name, str(exc)[:200])
            return _error_response(dialect, TokenizerFailure("The model's tokenizer crashed on this text."))

    def _check_job(self, job: Job) -> None:
        if job.request is not None:
            self.check_limits(job.request)

    # ------------------------------------------------------------------ preload
    def preload(self) -> None:
        """Load the preload models; any failure (a corrupt file is not always a TokcountError) is logged in full
        and named in ``/readyz``'s ``preload_errors``, and readiness is decided in every case: never "loading"
        forever."""
        try:
            for name in self.settings.preload:
                try:
                    model = loader.load(default_catalog().resolve(name, allow=self.policy))
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


def _without_fetches(known: dict[str, ImageInfo | MediaError], work: Callable[..., T], *args: Any) -> T:
    with deferred(known):
        return work(*args)


_THREAD = threading.local()


def _mark_slow_thread() -> None:
    """The slow pool's threads: renders there are waited out (no hand-off)."""
    _THREAD.slow = True


def settle_heap() -> None:
    """Move everything alive once the models are loaded (modules, vocabularies, compiled templates) out of the
    cyclic GC's reach (``gc.freeze``): a full collection otherwise walks all of it again and again while requests
    run, and each one paused every request in flight (measured in process on the 1k-token StepFun body: 38-50 ms
    pauses, p99.9 1.4 ms; frozen: the longest call 5.8 ms). What is frozen is never freed, which is what the
    service wants of its loaded models; a model loaded later is collected as usual."""
    gc.collect()
    gc.freeze()


def _named_models(body: Any, default: str) -> list[str] | None:
    """The models a body names (``model``, then ``fallbacks``), as every dialect with the model in its body reads
    them; None when unsure (no ``model``, odd types), and then the dialect's own parse decides."""
    if not isinstance(body, dict):
        return None
    model = body.get("model")
    fallbacks = body.get("fallbacks") or []
    if not isinstance(model, str) or not model.strip() or not isinstance(fallbacks, list):
        return None
    names = [model, *fallbacks]
    if not all(isinstance(n, str) for n in names):
        return None
    return [default_or(n, default) for n in names if n.strip()]


async def _read_body(request: HttpRequest, limit: int, timeout: float | None = None) -> bytes:
    """The body, or a 413 once it passes ``limit`` (declared or actually sent), before any parsing; a 408 when the
    client has not sent all of it within ``timeout`` seconds (a slow client holds a connection, nothing more)."""
    async with body_deadline(timeout):
        return await _read_body_now(request, limit)


async def _read_body_now(request: HttpRequest, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    too_large = RequestTooLarge(f"The request body exceeds the limit of {limit} bytes.", param="body")
    if declared is not None:
        try:
            n = int(declared)
        except ValueError:
            raise InvalidRequest("Content-Length is not a number.", param="body") from None
        if n > limit:
            if n <= limit + DRAIN_BYTES:
                await _drain(request, limit + DRAIN_BYTES)
            raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            await _drain(request, DRAIN_BYTES)
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def _drain(request: HttpRequest, budget: int) -> None:
    dropped = 0
    try:
        async for chunk in request.stream():
            dropped += len(chunk)
            if dropped > budget:
                return
    except Exception:  # the client went away: nothing to answer
        return


def create_app(settings: Settings | None = None, *, owns_process: bool = False) -> FastAPI:
    """The ASGI app for ``settings`` (default: read from the environment and ``TOKCOUNT_CONFIG``);
    ``owns_process``: the process runs nothing else (see :attr:`Service.owns_process`)."""
    settings = settings or Settings.load()
    service = Service(settings)
    service.owns_process = owns_process

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        install_log_redaction()  # after the ASGI server configured its loggers
        if service._limits.isolated:  # the render processes start now, not on the first requests
            await asyncio.get_running_loop().run_in_executor(None, render_pool.pool(service._limits).warm)
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
        app.add_middleware(DocsAuth, authorized=service.authorized,
                           denied=lambda err: _error_response(dialects()["openai-responses"], err))
    app.add_middleware(routing.LastLine)  # an exception escaping any route: a JSON 500 in its shape
    app.add_middleware(observe.Observe, json_log=settings.access_log == "json")  # outermost: sees every answer

    def mount(dialect: Dialect, route: Route) -> None:
        path = route.path
        assert path is not None

        async def handler(request: HttpRequest) -> Response:
            signed = service.signed_claims(dialect, request.headers)  # SigV4 (boto3): checked with the body below
            if isinstance(signed, TokcountError):
                return _error_response(dialect, signed)
            if signed is None:
                denied, tenant = service.authenticate(request.headers, key_header=dialect.key_header)
                if denied is not None:
                    return _error_response(dialect, denied)
            try:
                raw = await _read_body(request, settings.max_body_bytes, settings.body_timeout)
            except TokcountError as err:
                resp = _error_response(dialect, err)
                if err.status == 408:  # the rest of the body may never come: do not wait for it
                    resp.headers["Connection"] = "close"
                return resp
            if signed is not None:  # the signature covers the body: checked once it is read (same size and time caps),
                # on a thread: hashing a large body and trying every key must not hold the event loop
                denied, tenant = await run_in_threadpool(service.authenticate_signed, signed, request.scope,
                                                         request.headers, raw)
                if denied is not None:
                    return _error_response(dialect, denied)
            params = {k: request.path_params[k] for k in route.path_params}  # e.g. Gemini's model, in the URL
            resp = await service.run(dialect, route, raw, params, tenant)
            observe.note(request.scope, *getattr(resp, "usage", (None, None)))
            return resp

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

    tools_http.mount(app, service, _read_body)  # /v1/fit, /playground (tokcount.tools_http)

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
        denied = service.authorized(request.headers, key_header="x-api-key")
        if denied is not None:
            return _error_response(dialects()["openai-responses"], denied)
        return await run_in_threadpool(_models_body, settings)

    @app.get("/metrics", summary="Prometheus metrics (every worker's, under --workers N)",
             response_class=PlainTextResponse)
    async def metrics_route(request: HttpRequest) -> Response:
        if not settings.public_metrics:
            denied = service.authorized(request.headers, key_header="x-api-key")
            if denied is not None:
                return _error_response(dialects()["openai-responses"], denied)
        body, content_type = await run_in_threadpool(metrics.exposition)  # multi-worker: reads files
        return Response(content=body, media_type=content_type)

    @app.get("/v1/models/{model_id:path}", summary="One model of the catalog (or an allowed Hub repo)")
    async def model(model_id: str, request: HttpRequest) -> Response:
        if model_id.endswith(":countTokens"):  # Gemini's count route answers POST only
            return routing.error_response(request.url.path, routing.MethodNotAllowed(
                f"GET is not allowed on {request.url.path}; use POST."), {"allow": "POST"})
        denied = service.authorized(request.headers, key_header="x-api-key")
        if denied is not None:
            return _error_response(dialects()["openai-responses"], denied)
        return await run_in_threadpool(_model_body, settings, service.policy, model_id)

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
        return _error_response(dialects()["openai-responses"], exc)
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

    settings = install_config(Settings.load())  # the process-wide parts too (see config.py)
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
    settings = install_config(Settings.load())  # fail fast on a bad config, before any worker starts
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
