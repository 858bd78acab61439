"""Width × height of an image from its source, reading only the bytes the format's header needs.

Sources: ``data:`` URLs (base64), ``http(s)://`` URLs, and — only when the caller allows it (the CLI) — local
paths and ``file://`` URLs. Pixels are never decoded (:mod:`.headers`); remote reads are guarded (:mod:`.fetch`);
what a caller allows is its :class:`~.policy.FetchPolicy` (:mod:`.policy`). Here: which reader a source goes to,
the caches of sizes and failures, and a request's images read together.

The images of one request are fetched concurrently (:func:`prefetch`), at most ``max_concurrent_fetches`` at a time
and within ``request_deadline`` in all, on threads shared by the whole process (``max_total_fetches`` of them:
:mod:`tokcount.media.fetchpool`). Inside :func:`deferred` (the server's counting threads) nothing is fetched: a
size not read beforehand raises :class:`NeedsFetch`, and the server reads it off the counting threads and counts
again.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path
from urllib.parse import unquote_to_bytes, urlsplit

from ..errors import ImageTooLarge, MediaError
from .fetch import fetch_size, resolve_address
from .fetchpool import Batch
from .headers import IMAGE_FORMATS, ImageInfo, check_limits, decode_data_url, probe_bytes, probe_file
from .policy import FetchPolicy, default_policy, policy_from

#: what other modules import from here (the policy and result types live in .policy and .headers)
__all__ = [
    "CACHE",
    "FAILURES",
    "IMAGE_FORMATS",
    "FetchPolicy",
    "ImageInfo",
    "NeedsFetch",
    "default_policy",
    "deferred",
    "fetch_sizes",
    "image_size",
    "policy_from",
    "prefetch",
    "resolve_address",
    "source_key",
]


class _SizeCache:
    """A bounded LRU of image sizes keyed by URL (remote) or content hash (inline data)."""

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._data: OrderedDict[str, ImageInfo] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> ImageInfo | None:
        with self._lock:
            info = self._data.get(key)
            if info is not None:
                self._data.move_to_end(key)
            return info

    def put(self, key: str, info: ImageInfo) -> None:
        with self._lock:
            self._data[key] = info
            self._data.move_to_end(key)
            while len(self._data) > self.capacity:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


CACHE = _SizeCache()


class _FailureCache:
    """Failed size reads remembered for ``policy.failure_ttl`` seconds, keyed by policy and source, so a request's
    prefetch and the per-part reads after it (closed-model framings) never pay for one slow URL twice, and a
    client repeating a dead URL costs one fetch per TTL, not one per request."""

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._data: OrderedDict[tuple[FetchPolicy, str], tuple[float, MediaError, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, policy: FetchPolicy, key: str, where: str) -> MediaError | None:
        with self._lock:
            hit = self._data.get((policy, key))
            if hit is None:
                return None
            expires, exc, old_where = hit
            if time.monotonic() >= expires:
                del self._data[(policy, key)]
                return None
        return _renamed(exc, old_where, where)

    def put(self, policy: FetchPolicy, key: str, exc: MediaError, where: str) -> None:
        with self._lock:
            self._data[(policy, key)] = (time.monotonic() + policy.failure_ttl, exc, where)
            self._data.move_to_end((policy, key))
            while len(self._data) > self.capacity:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


FAILURES = _FailureCache()


def _renamed(exc: MediaError, old: str, new: str) -> MediaError:
    """``exc`` as raised for part ``new`` (messages start with the part's path)."""
    message = exc.message
    if old != new and message.startswith(old + ":"):
        message = new + message[len(old):]
    return type(exc)(message, param=new)


def image_size(source: str, *, policy: FetchPolicy | None = None, where: str = "image") -> ImageInfo:
    """Width and height of the image at ``source``; raises :class:`MediaError` naming ``where`` on any failure
    (:class:`ImageTooLarge` when the header declares more than the policy's pixel or side limit)."""
    policy = policy or default_policy()
    if not isinstance(source, str) or not source.strip():
        raise MediaError(f"{where}: the image URL is empty.", param=where)
    source = source.strip()
    scheme = source.split(":", 1)[0].lower() if ":" in source else ""
    if scheme == "data":
        data = decode_data_url(source, policy, where)
        key = "sha256:" + hashlib.sha256(data).hexdigest()
        return _cached(key, policy, where, lambda: probe_bytes(data, policy, where))
    if scheme in ("http", "https"):
        if not policy.allow_remote:
            raise MediaError(f"{where}: fetching remote images is disabled (TOKCOUNT_MEDIA_FETCH=0).", param=where)
        known = _KNOWN.get()
        if known is not None:  # a counting thread: never the network
            hit = known.get(source)
            if hit is None:
                raise NeedsFetch([(where, source)])
            result = _as_part(hit, policy, where)
            if isinstance(result, MediaError):
                raise result
            return result
        return _cached("url:" + source, policy, where, lambda: fetch_size(source, policy, where))
    if policy.allow_local and (scheme == "file" or len(scheme) <= 1):  # "" or a Windows drive letter
        path = Path(unquote_to_bytes(urlsplit(source).path).decode() if scheme == "file" else source).expanduser()
        return probe_file(path, policy, where)
    raise MediaError(f"{where}: unsupported image source {source[:40]!r}: use a data: URL or an http(s) URL.",
                     param=where)


def _cached(key: str, policy: FetchPolicy, where: str, read: Callable[[], ImageInfo]) -> ImageInfo:
    info = CACHE.get(key)
    if info is None:
        failed = FAILURES.get(policy, key, where)
        if failed is not None:
            raise failed
        try:
            info = read()
        except MediaError as exc:
            FAILURES.put(policy, key, exc, where)
            raise
        CACHE.put(key, info)
    check_limits(info, policy, where)  # the limits may differ between callers; the size does not
    return info


def prefetch(sources: Iterable[tuple[str, str]],
             policy: FetchPolicy | None = None) -> dict[str, ImageInfo | MediaError]:
    """Sizes of the images of one request, keyed by ``where``: remote ones fetched concurrently, at most
    ``policy.max_concurrent_fetches`` at a time and within ``policy.request_deadline`` in all (an image still
    unread then fails with a message saying so). Never raises a :class:`MediaError`: each part gets its result,
    and the caller decides which failures refuse the request. The results also land in the caches, so a later
    :func:`image_size` of the same source is answered from memory. Inside :func:`deferred`, remote sizes come from
    what was read beforehand, and :class:`NeedsFetch` names every remote source that was not."""
    policy = policy or default_policy()
    results: dict[str, ImageInfo | MediaError] = {}
    remote: list[tuple[str, str]] = []
    for where, source in sources:
        if policy.allow_remote and isinstance(source, str) and \
                source.strip().lower().startswith(("http://", "https://")):
            remote.append((where, source))
            continue
        try:
            results[where] = image_size(source, policy=policy, where=where)
        except MediaError as exc:
            results[where] = exc
    if not remote:
        return results
    known = _KNOWN.get()
    if known is None:
        known = _batch(remote, policy).wait()
    else:
        missing = [(where, source) for where, source in remote if source_key(source) not in known]
        if missing:
            raise NeedsFetch(missing)
    for where, source in remote:
        results[where] = _as_part(known[source_key(source)], policy, where)
    return results


async def fetch_sizes(remote: list[tuple[str, str]], policy: FetchPolicy,
                      budget: float) -> dict[str, ImageInfo | MediaError]:
    """The sizes of ``remote`` ((part, URL) pairs) keyed by :func:`source_key`, read on the process's fetch threads
    while the event loop awaits them (no thread waits), for at most ``budget`` seconds: what the server gives a
    :func:`deferred` count."""
    return await _batch(remote, policy).wait_async(budget)


def _batch(remote: list[tuple[str, str]], policy: FetchPolicy) -> Batch[ImageInfo | MediaError]:
    """A request's remote reads on the shared fetch pool (:mod:`tokcount.media.fetchpool`), each one
    :func:`image_size` (guard, caps, deadline, caches), an image unread at the request deadline failing with a
    message that says so (remembered, so a per-part read does not fetch it again)."""

    def read(source: str, where: str) -> ImageInfo | MediaError:
        try:
            return image_size(source, policy=policy, where=where)
        except MediaError as exc:
            return exc

    def late(source: str, where: str, count: int) -> MediaError:
        err = MediaError(f"{where}: reading the sizes of the request's {count} remote images took longer than "
                         f"{policy.request_deadline:g} s.", param=where)
        FAILURES.put(policy, "url:" + source, err, where)
        return err

    def broken(source: str, where: str) -> MediaError:
        return MediaError(f"{where}: the image could not be read.", param=where)

    return Batch([(where, source_key(source)) for where, source in remote], policy, read, late, broken)


def source_key(source: str) -> str:
    """How a remote source is named in a batch's results and in :func:`deferred`'s map (as :func:`image_size`
    reads it)."""
    return source.strip()


class NeedsFetch(Exception):
    """A count inside :func:`deferred` needs the sizes of ``sources`` ((part, URL) pairs) that were not read
    beforehand: whoever set up the block reads them (off the counting threads) and runs the count again."""

    def __init__(self, sources: list[tuple[str, str]]) -> None:
        super().__init__(f"{len(sources)} remote image size(s) to read first")
        self.sources = sources


#: inside :func:`deferred`: the remote sizes read for this count, by :func:`source_key`
_KNOWN: ContextVar[Mapping[str, ImageInfo | MediaError] | None] = ContextVar("tokcount_media_known", default=None)


@contextlib.contextmanager
def deferred(known: Mapping[str, ImageInfo | MediaError]) -> Iterator[None]:
    """Inside the block no remote image is fetched: sizes come from ``known`` (what was read for this request
    beforehand) and any other remote source raises :class:`NeedsFetch`. The server counts this way, so a slow
    image host can hold only the fetch threads, never a thread that counts."""
    token = _KNOWN.set(known)
    try:
        yield
    finally:
        _KNOWN.reset(token)


def _as_part(result: ImageInfo | MediaError, policy: FetchPolicy, where: str) -> ImageInfo | MediaError:
    """A read's result as the answer for part ``where`` (a failure renamed to it; a size checked against this
    caller's limits, which may differ from the reader's)."""
    if isinstance(result, MediaError):
        return _renamed(result, result.param or where, where)
    try:
        check_limits(result, policy, where)
    except ImageTooLarge as exc:
        return exc
    return result
