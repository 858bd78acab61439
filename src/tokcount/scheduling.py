"""Scheduling: where an admitted request is counted, and under which render budget.

The second step down the server's request path (docs/architecture.md). Counting is CPU-bound: small bodies (no URL
in them) whose models are loaded are counted on the event loop, which is quicker than handing them to a thread, and
everything else on two small thread pools (one for large bodies), so the event loop keeps accepting and answering
(health checks included) while big requests are counted. Counting threads never wait on the network: a count that
needs remote image sizes stops (:class:`~tokcount.media.sources.NeedsFetch`), the sizes are read on the shared fetch
threads while the event loop waits for them, and the count runs again (:meth:`Scheduler.offload`). A render that
turns slow is finished on a third pool (:class:`~tokcount.renderers.jinja.limits.SlowRender`). That hand-back (the count
raising to here, run again) is the one place the request path climbs back up.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, TypeVar

import orjson

from . import jobs, loader
from .dialects._api import Route
from .dialects._fields import default_or
from .errors import TokcountError
from .media.sources import ImageInfo, MediaError, NeedsFetch, deferred, fetch_sizes, source_key
from .models.catalog import default_catalog
from .renderers.jinja import limits, render_pool
from .settings import Settings

T = TypeVar("T")

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


class Scheduler:
    """The counting pools and render budgets of one server; ``policy``: whose models count as loaded (its repo
    policy) and which are forwarded upstream (never counted on the event loop: they wait on the network)."""

    def __init__(self, settings: Settings, policy: jobs.Policy) -> None:
        self.settings = settings
        self.policy = policy
        upstream = policy.upstream
        #: a forwarded count waits on the network: each pool gets a thread per call that may be in flight
        threads = COUNT_THREADS + (upstream.max_in_flight if upstream else 0)
        self._small = ThreadPoolExecutor(threads, thread_name_prefix="tokcount-count")
        self._large = ThreadPoolExecutor(threads, thread_name_prefix="tokcount-count-large")
        #: jobs whose render (or isolated tokenizer call) turned slow on the pools above finish here, adopting the
        #: render in flight (limits.SlowRender), so slow templates never hold the threads ordinary counts need
        self._slow = ThreadPoolExecutor(threads, thread_name_prefix="tokcount-count-slow",
                                        initializer=_mark_slow_thread)
        #: counting threads hand slow isolated renders off to the slow pool; its own threads wait them out
        served = limits.served(settings)
        self.limits = replace(served, hand_off=served.isolated)
        self._slow_limits = served
        self._inline_limits = self.limits.inline(INLINE_RENDER_S, INLINE_PROMPT_CHARS)

    def warm(self) -> None:
        """Start the render processes (renders isolated) before the first request needs them."""
        render_pool.pool(self.limits).warm()

    async def run(self, raw: bytes, route: Route, params: dict[str, str], count: Callable[[Any], T],
                  refuse: Callable[[TokcountError], T]) -> T:
        """``count(body)`` for a request's ``raw`` body: inline for a small one (no URL to fetch, its models
        already loaded, none forwarded upstream) under the event loop's tiny render budget, else on the counting
        pool that fits its size. ``body`` is the JSON parsed from ``raw`` here (parsed once: the inline check and
        the count read the same object), or None when it has not been parsed yet (``count`` parses it, on its
        thread); a body that does not parse inline is answered ``refuse(error)`` at once. An inline render that
        spends its budget (a slow or huge template) is re-run on the small pool with the full budget (the few ms
        already spent are lost)."""
        clock = limits.RequestClock()  # one render budget per request from its first render, across threads
        body: Any = None  # not parsed yet (a JSON null body is just parsed again where it is counted)
        if len(raw) < INLINE_BODY and b"://" not in raw:
            try:
                body = jobs.parse_body(raw, self.settings.max_json_depth)
            except TokcountError as exc:
                return refuse(exc)
            if self.models_loaded(route, body, params):
                try:  # a URL spelt with JSON escapes (http:\/\/) is found here: never fetched on the loop
                    with limits.active(self._inline_limits), limits.request_clock(clock), deferred({}):
                        return count(body)
                except (limits.OffLoop, NeedsFetch):
                    pass
        return await self.offload(len(raw), self._bounded, count, body, clock)

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
        media = self.policy.media
        assert media is not None  # the server's policy always names its media policy
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
                    deadline = loop.time() + media.request_deadline
                known.update(await fetch_sizes(missing, media, deadline - loop.time()))

    def _bounded(self, count: Callable[[Any], T], body: Any, clock: limits.RequestClock) -> T:
        """``count(body)`` on a pool thread, under that pool's render limits and the request's clock."""
        with limits.active(self._slow_limits if getattr(_THREAD, "slow", False) else self.limits), \
                limits.request_clock(clock):
            return count(body)

    def models_loaded(self, route: Route, raw: bytes | Any, params: dict[str, str]) -> bool:
        """True unless a model the (small) body names would have to be loaded first: a load reads and parses
        files, maybe downloads them, for up to seconds, and must never run on the event loop. Names that resolve
        to nothing, and bodies that do not parse, are refused without reading a file, so they count as loaded.
        The names are read straight from the body where every dialect takes them as sent (``model``,
        ``fallbacks``; ``"default"`` the default model): 4-9 us here, where the dialect's full parse costs
        20-50 us (a 3.8 kB StepFun body, whose whole count takes 360-530 us)."""
        if isinstance(raw, bytes):  # else the body run() already parsed
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:  # refused the same way, as quickly, by the count
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
        upstream = self.policy.upstream
        for name in names:
            try:
                spec = catalog.resolve(name, allow=self.policy.repos)
            except TokcountError:
                continue
            if not loader.is_loaded(spec):
                return False
            if upstream is not None and upstream.upstream_for(spec) is not None:
                return False  # a forwarded count waits on the network: never on the event loop either
        return True


def _without_fetches(known: dict[str, ImageInfo | MediaError], work: Callable[..., T], *args: Any) -> T:
    with deferred(known):
        return work(*args)


_THREAD = threading.local()


def _mark_slow_thread() -> None:
    """The slow pool's threads: renders there are waited out (no hand-off)."""
    _THREAD.slow = True


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
