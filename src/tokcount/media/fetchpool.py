"""The process's fetch threads, shared by every request: per-request batches under a cap and a deadline.

Every remote read of every request runs on one pool per process, sized by the policy's ``max_total_fetches``, so
however many requests name however many URLs, at most that many reads are open at once. A request has at most
``max_concurrent_fetches`` of them on the pool at a time: a read that ends submits the request's next source, so
no thread sits waiting to feed the pool and one request's 256 URLs never queue ahead of another request's few. A
source named by several parts is read once.

A batch is waited for either in the calling thread (:meth:`Batch.wait`: the library and CLI) or on an event loop
(:meth:`Batch.wait_async`: the server, whose counting threads never wait on the network); both stop at the
request's deadline, and a source not read by then gets the caller's "too late" result. What a read does (the
address guard, caps, the per-fetch deadline, the caches) is the caller's ``read``: this module only schedules.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Generic, Protocol, TypeVar

log = logging.getLogger("tokcount.media")

R = TypeVar("R")

_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


class Bounds(Protocol):
    """The policy fields a batch obeys (:class:`tokcount.media.policy.FetchPolicy` has them)."""

    @property
    def max_concurrent_fetches(self) -> int: ...
    @property
    def max_total_fetches(self) -> int: ...
    @property
    def request_deadline(self) -> float: ...


def _pool(size: int) -> ThreadPoolExecutor:
    """The process's fetch pool of ``size`` threads (one per distinct bound: normally just one)."""
    with _pools_lock:
        pool = _pools.get(size)
        if pool is None:
            pool = _pools[size] = ThreadPoolExecutor(max(size, 1), thread_name_prefix="tokcount-fetch")
        return pool


class Batch(Generic[R]):
    """The distinct sources of one request, read by ``read(source, where)`` on the shared pool. ``late(source,
    where, count)`` is the result of a source still unread at the deadline (``count``: the batch's sources);
    ``broken(source, where)`` the result of a read that raised (a bug in the reader, logged)."""

    def __init__(self, remote: list[tuple[str, str]], bounds: Bounds, read: Callable[[str, str], R],
                 late: Callable[[str, str, int], R], broken: Callable[[str, str], R]) -> None:
        first: dict[str, str] = {}  # source -> the first part that names it (its errors name that part)
        for where, source in remote:
            first.setdefault(source, where)
        self.bounds = bounds
        self.results: dict[str, R] = {}
        #: set once every source has a result (or the batch expired)
        self.done: Future[None] = Future()
        self._read, self._late, self._broken = read, late, broken
        self._queue = deque(first.items())
        self._running: dict[Future[R], tuple[str, str]] = {}
        self._expired = False
        self._lock = threading.RLock()  # a done callback may run at once, in the thread that submits
        self._pool = _pool(bounds.max_total_fetches)

    def start(self) -> Batch[R]:
        with self._lock:
            for _ in range(min(self.bounds.max_concurrent_fetches, len(self._queue))):
                self._submit_next()
            self._maybe_done()
        return self

    def wait(self) -> dict[str, R]:
        """Start, wait in this thread for at most the request deadline, and :meth:`expire`."""
        self.start()
        with contextlib.suppress(FutureTimeout):
            self.done.result(timeout=self.bounds.request_deadline)
        return self.expire()

    async def wait_async(self, budget: float) -> dict[str, R]:
        """:meth:`wait` on the event loop (no thread waits), for at most ``budget`` seconds."""
        if budget > 0:
            self.start()
            await asyncio.wait([asyncio.wrap_future(self.done)], timeout=budget)
        return self.expire()

    def _submit_next(self) -> None:
        source, where = self._queue.popleft()
        future = self._pool.submit(self._read, source, where)
        self._running[future] = (source, where)
        future.add_done_callback(self._ended)

    def _ended(self, future: Future[R]) -> None:
        with self._lock:
            source, where = self._running.pop(future, ("", ""))
            if self._expired or future.cancelled() or not source:
                return
            exc = future.exception()
            if exc is not None:
                log.error("reading the image at part %s failed unexpectedly", where, exc_info=exc)
                self.results[source] = self._broken(source, where)
            else:
                self.results[source] = future.result()
            if self._queue:
                self._submit_next()
            self._maybe_done()

    def _maybe_done(self) -> None:
        if not self._queue and not self._running and not self.done.done():
            self.done.set_result(None)

    def expire(self) -> dict[str, R]:
        """The results by source, every one not read by now given its ``late`` result. Queued reads never start;
        running ones end by their own deadline."""
        with self._lock:
            self._expired = True
            unread = [*self._queue, *self._running.values()]
            self._queue.clear()
            for future in list(self._running):
                future.cancel()
            count = len(unread) + len(self.results)
            for source, where in unread:
                self.results[source] = self._late(source, where, count)
            if not self.done.done():
                self.done.set_result(None)
            return dict(self.results)
