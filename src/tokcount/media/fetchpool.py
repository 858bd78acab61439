"""Remote image sizes of one request, read on the process's shared fetch threads.

Every remote read of every request runs on one pool per process, sized by the policy's ``max_total_fetches``, so
however many requests name however many URLs, at most that many fetches are open at once (each one still bounded
by its own guard, caps and deadline in :mod:`tokcount.media.sources`). A request has at most
``max_concurrent_fetches`` of them on the pool at a time: a fetch that ends submits the request's next source, so
no thread sits waiting to feed the pool and one request's 256 URLs never queue ahead of another request's few. A
source named by several parts is fetched once.

Two ways to wait for a request's sizes: :func:`fetch_now` blocks the caller (the library and CLI count this way),
:func:`fetch_sizes` is awaited on an event loop, so the server waits for the network without holding any thread
(counting threads never fetch there: see :func:`tokcount.media.sources.deferred`). Both stop at the request's
deadline; an image not read by then fails with a message saying so, remembered in the failure cache like any
failed read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from ..errors import MediaError
from .sources import FAILURES, FetchPolicy, ImageInfo, image_size, source_key

log = logging.getLogger("tokcount.media")

Sized = ImageInfo | MediaError

_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _pool(size: int) -> ThreadPoolExecutor:
    """The process's fetch pool of ``size`` threads (one per distinct bound: normally just one)."""
    with _pools_lock:
        pool = _pools.get(size)
        if pool is None:
            pool = _pools[size] = ThreadPoolExecutor(max(size, 1), thread_name_prefix="tokcount-fetch")
        return pool


def _read(source: str, policy: FetchPolicy, where: str) -> Sized:
    try:
        return image_size(source, policy=policy, where=where)
    except MediaError as exc:
        return exc


class Batch:
    """The distinct remote sources of one request and what reading each gave (keyed by :func:`source_key`)."""

    def __init__(self, remote: list[tuple[str, str]], policy: FetchPolicy) -> None:
        first: dict[str, str] = {}  # source -> the first part that names it (its errors name that part)
        for where, source in remote:
            first.setdefault(source_key(source), where)
        self.policy = policy
        self.results: dict[str, Sized] = {}
        #: set once every source has a result (or the batch expired)
        self.done: Future[None] = Future()
        self._queue = deque(first.items())
        self._running: dict[Future[Sized], tuple[str, str]] = {}
        self._expired = False
        self._lock = threading.RLock()  # a callback may run at once, in the submitting thread
        self._pool = _pool(policy.max_total_fetches)

    def start(self) -> Batch:
        with self._lock:
            for _ in range(min(self.policy.max_concurrent_fetches, len(self._queue))):
                self._submit_next()
            self._maybe_done()
        return self

    def _submit_next(self) -> None:
        source, where = self._queue.popleft()
        future = self._pool.submit(_read, source, self.policy, where)
        self._running[future] = (source, where)
        future.add_done_callback(self._ended)

    def _ended(self, future: Future[Sized]) -> None:
        with self._lock:
            source, where = self._running.pop(future, ("", ""))
            if self._expired or future.cancelled() or not source:
                return
            exc = future.exception()
            if exc is not None:  # a bug in the reader, not the image's fault: logged, and the part fails plainly
                log.error("reading the image at part %s failed unexpectedly", where, exc_info=exc)
                self.results[source] = MediaError(f"{where}: the image could not be read.", param=where)
            else:
                self.results[source] = future.result()
            if self._queue:
                self._submit_next()
            self._maybe_done()

    def _maybe_done(self) -> None:
        if not self._queue and not self._running and not self.done.done():
            self.done.set_result(None)

    def expire(self) -> dict[str, Sized]:
        """The results, every source not read by now failed with the request-deadline message. Queued fetches
        never start; running ones end by their own deadline (their size still lands in the size cache)."""
        with self._lock:
            self._expired = True
            late = [*self._queue, *self._running.values()]
            self._queue.clear()
            for future in list(self._running):
                future.cancel()
            count = len(late) + len(self.results)
            for source, where in late:
                err = MediaError(f"{where}: reading the sizes of the request's {count} remote images took longer "
                                 f"than {self.policy.request_deadline:g} s.", param=where)
                FAILURES.put(self.policy, "url:" + source, err, where)  # a per-part read must not fetch it again
                self.results[source] = err
            if not self.done.done():
                self.done.set_result(None)
            return dict(self.results)


def fetch_now(remote: list[tuple[str, str]], policy: FetchPolicy) -> dict[str, Sized]:
    """Sizes of ``remote`` ((part, source) pairs) keyed by :func:`source_key`, waiting in the calling thread for at
    most ``policy.request_deadline``."""
    batch = Batch(remote, policy).start()
    with contextlib.suppress(FutureTimeout):
        batch.done.result(timeout=policy.request_deadline)
    return batch.expire()


async def fetch_sizes(remote: list[tuple[str, str]], policy: FetchPolicy, budget: float) -> dict[str, Sized]:
    """:func:`fetch_now` awaited on the event loop (no thread waits), within ``budget`` seconds (what is left of
    the request's deadline: a request that needs sizes in several rounds shares one deadline)."""
    batch = Batch(remote, policy)
    if budget > 0:
        batch.start()
        await asyncio.wait([asyncio.wrap_future(batch.done)], timeout=budget)
    return batch.expire()
