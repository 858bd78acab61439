"""A bounded memo of whole answers for byte-identical request bodies (agents start up with bursts of identical
``count_tokens`` calls).

Why it is exact: an answer is a function of the body bytes, the route (dialect, path, path parameters), the
server's settings (one memo per :class:`~tokcount.server.Service`, so one settings object) and, for templates that
call ``strftime_now``, today's date. Nothing else is read while counting a body without remote URLs, so a body
with an image, video or document given by URL (fetched, and its content may change) is never memoized, and neither
is an error (a model's files may appear later) or an answer a Bifrost fallback model gave. A date-reading
template's entry is valid only on the day it was made, and only when every ``strftime_now`` call formats a whole
date (a template printing the hour is never memoized).

Whose it is: each entry belongs to the tenant (API key) whose request made it, and only that tenant's requests
find it (:mod:`tokcount.tenancy`). A memo shared across keys told any key holder whether another client had sent
a body: the hit was ~7x faster, Bifrost's ``latency`` said 0 and ``/metrics`` counted the hit. The hit and miss
counters (here and on ``/metrics``) stay server-wide aggregates, which now only count each tenant's own repeats.

What is kept is the answer's serialized reply, as it was sent; for a route whose answer shows the request's
latency (``Route.timed``: Bifrost's ``latency``) the job (without its parsed request) and the engine's result
instead, and a hit runs the formatter again, so that field describes this request (a hit's latency), not the first.

:class:`Answers` is the memo as the server uses it, a wrapper around counting: the key is computed once per request
(:meth:`Answers.key`), a hit is an answer (:meth:`Answers.replay`), and a miss's answer is kept as it was made
(:meth:`Answers.keep`), never formatted again.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from . import loader
from .dialects._api import Dialect, Job, Outcome, Route
from .errors import TokcountError
from .jobs import Answer, Policy, formatted, served
from .media.expand import media_parts
from .renderers.jinja.jinja_env import now
from .request import DocumentPart
from .settings import Settings

#: ``strftime`` directives that depend only on the date (what every Hub template reads: ``%Y-%m-%d``, ``%d %b %Y``)
_DATE_DIRECTIVES = set("aAbBdjmyYUWwuVGgCeDFxh%")
_CALL = re.compile(r"strftime_now\s*\(")
_LITERAL_CALL = re.compile(r"strftime_now\s*\(\s*(['\"])((?:(?!\1).)*)\1\s*\)")


def clock_dependence(template_source: str | None) -> str:
    """``"none"``: the template never reads the clock; ``"date"``: it formats whole dates only; ``"time"``: it may
    print something finer than a day (or a format it builds at run time), so its answers are not memoized."""
    if not template_source or _CALL.search(template_source) is None:
        return "none"
    literal = _LITERAL_CALL.findall(template_source)
    if len(literal) != len(_CALL.findall(template_source)):
        return "time"
    for _, fmt in literal:
        directives = re.findall(r"%[-_0^#]?(.)", fmt)
        if any(d not in _DATE_DIRECTIVES for d in directives):
            return "time"
    return "date"


def fetches(job: Job) -> bool:
    """Does counting ``job`` read anything beyond its body: an image, video or document named by a URL (whose
    content may change) rather than inlined as ``data:``? A URL inside text is only text."""
    req = job.request
    if req is None:
        return False
    if any(not part.url.startswith("data:") for _, part in media_parts(req)):
        return True
    return any(isinstance(p, DocumentPart) and p.source is not None and "://" in p.source
               for m in req.messages for p in m.parts)


@dataclass(slots=True)
class _Entry:
    #: the body it answers (the look-up key is only its fingerprint)
    raw: bytes
    #: the job (without its request) and result, kept only when there is no ``reply`` to send instead: every
    #: object kept is one more for each full collection to walk (2,048 entries of a dozen objects each made
    #: ~10 ms pauses every ~1,500 requests)
    job: Job | None
    result: Outcome | None
    #: the date the answer was made on, for a date-reading template (None: valid any day)
    date: str | None
    #: what the entry holds, roughly: the body (key) and the job's own fields, plus any token ids and strings
    size: int
    #: the reply itself, serialized, when the caller found it independent of the request's latency (else None:
    #: it is formatted again from the job and result)
    reply: Any = None


class Hit(NamedTuple):
    """A memoized answer: the ``reply`` given to :meth:`AnswerMemo.put`, else the job and result to format."""

    job: Job | None
    result: Outcome | None
    reply: Any


def _size(raw: bytes, result: Outcome) -> int:
    count = result.count
    listed = len(count.tokens or ()) + len(count.token_strings or ()) if count is not None else 0
    return 2 * len(raw) + 64 * listed


#: bodies up to this size are their own fingerprint; a larger one is fingerprinted by samples (:func:`_fingerprint`)
_WHOLE = 4096


def _fingerprint(raw: bytes) -> bytes:
    """A few kB standing for ``raw`` in the look-up: its first and last kB and ~2k bytes spread evenly over it.
    Hashing a whole 350 kB body cost ~60 us of a ~75 us hit; a hit now compares the body itself (memcmp, ~6 us),
    so two bodies sharing a fingerprint are never confused, only one of them not memoized."""
    if len(raw) <= _WHOLE:
        return raw
    return raw[:1024] + raw[-1024:] + raw[:: len(raw) // 2048]


@dataclass(frozen=True)
class Key:
    """Where a body's answer is looked up (route and fingerprint) and the body itself, compared on a hit."""

    lookup: tuple[bytes, str, str, tuple[tuple[str, str], ...], int, bytes]
    raw: bytes


class AnswerMemo:
    """LRU of body → (job, result), bounded by entries and by the (estimated) bytes it holds (an answer larger than a
    quarter of the bound is never kept). Looked up by a fingerprint of the body, then the body itself is compared:
    no hash collisions to reason about."""

    def __init__(self, max_entries: int = 2048, max_bytes: int = 32_000_000) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._data: OrderedDict[tuple[Any, ...], _Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def key(self, dialect: str, path: str, params: dict[str, str], raw: bytes, tenant: bytes = b"") -> Key | None:
        """The memo key of a body ``tenant`` sent (:mod:`tokcount.tenancy`: a tag of the caller's API key), or None
        when the body must always be counted afresh. An entry is found only by the tenant that made it."""
        if not self.max_entries or len(raw) * 8 > self.max_bytes:
            return None
        return Key((tenant, dialect, path, tuple(sorted(params.items())), len(raw), _fingerprint(raw)), raw)

    def get(self, key: Key, today: str | Callable[[], str]) -> Hit | None:
        """The entry for ``key``'s body; ``today`` (or a function giving it, asked only for a date-reading
        template's entry) voids an entry made on another day."""
        with self._lock:
            entry = self._data.get(key.lookup)
            if entry is not None and entry.date is not None \
                    and entry.date != (today() if callable(today) else today):
                self._drop(key.lookup)
                entry = None
            if entry is None or entry.raw != key.raw:
                self.misses += 1
                return None
            self._data.move_to_end(key.lookup)
            self.hits += 1
            return Hit(entry.job, entry.result, entry.reply)

    def put(self, key: Key, job: Job, result: Outcome, clock: str, today: str, reply: Any = None) -> None:
        """Keep an answer; ``clock`` is :func:`clock_dependence` of the template that made it; ``reply``, if
        given, is handed back by :meth:`get` as it is."""
        if clock == "time" or result.model != (job.models[0] if job.models else None) or fetches(job):
            return
        with self._lock:
            if key.lookup in self._data and self._data[key.lookup].raw == key.raw:
                return
            # the parsed request is what made the answer, not part of it (no formatter reads it): dropping it keeps
            # each entry a handful of objects, where a kept request is thousands for the cyclic GC to walk at every
            # full collection (a memo of 2,048 chat requests made those pauses grow to ~100 ms)
            entry = _Entry(key.raw, dataclasses.replace(job, request=None) if reply is None else None,
                           result if reply is None else None, today if clock == "date" else None,
                           _size(key.raw, result), reply)
            if entry.size * 4 > self.max_bytes:
                return
            if key.lookup in self._data:  # another body with this fingerprint: the newer one is kept
                self._drop(key.lookup)
            self._data[key.lookup] = entry
            self._bytes += entry.size
            while len(self._data) > self.max_entries or self._bytes > self.max_bytes:
                _, old = self._data.popitem(last=False)
                self._bytes -= old.size

    def _drop(self, key: tuple[Any, ...]) -> None:
        self._bytes -= self._data.pop(key).size

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0


def replayed(result: Outcome, latency_ms: float) -> Outcome:
    """A memoized result as this request's: the same count, this request's latency."""
    return dataclasses.replace(result, latency_ms=latency_ms)


#: model names whose clock dependence :class:`Answers` keeps at most (a look-up saves a resolve, ~1-8 us)
CLOCK_NAMES = 4096


class Answers:
    """The memo around counting: look up once, count on a miss, keep what was counted. ``policy``: the server's
    (:class:`~tokcount.jobs.Policy`), which every count runs under and which names the models (to ask, once per
    model, whether its template reads the clock: :func:`clock_dependence`)."""

    def __init__(self, memo: AnswerMemo, policy: Policy) -> None:
        self.memo = memo
        self.policy = policy
        #: model name → whether its template reads the clock; emptied when full (:data:`CLOCK_NAMES`): a family
        #: match counts any made-up name (``gpt-4o-<anything>``), so the names a client sends are endless
        self._clocks: dict[str, str] = {}

    def key(self, dialect: str, route: Route, params: dict[str, str], raw: bytes, tenant: bytes) -> Key | None:
        """The request's one key, computed once (None: the body is never memoized)."""
        return self.memo.key(dialect, route.path or "", params, raw, tenant)

    def replay(self, key: Key, route: Route, started: float) -> Answer | None:
        """The answer kept for ``key``'s body, as this request's (``started``: when it arrived, for a timed
        route's latency); None on a miss."""
        hit = self.memo.get(key, today)
        if hit is None:
            return None
        if hit.reply is not None:  # the bytes as they were sent
            status, raw, headers, model, tokens = hit.reply
            return Answer(status, {}, dict(headers), model=model, tokens=tokens, raw=raw)
        assert hit.job is not None and hit.result is not None  # kept whenever there is no reply
        return formatted(route, hit.job, replayed(hit.result, (time.perf_counter() - started) * 1000))

    def count(self, key: Key | None, date: str, dialect: Dialect, route: Route, raw: bytes, params: dict[str, str],
              settings: Settings, body: Any = None) -> Answer:
        """A miss: the body counted (:func:`tokcount.jobs.served`, on whichever thread the scheduler chose; ``body``
        its JSON when already parsed) and its answer kept under ``key`` (``date``: see :meth:`keep`)."""
        out = served(dialect, route, raw, settings, self.policy, path_params=params, body=body)
        if key is not None:
            self.keep(key, date, route, out)
        return out

    def keep(self, key: Key, date: str, route: Route, out: Answer) -> None:
        """Keep a counted answer (``date``: today when the request arrived, so an answer that straddles midnight
        is never served the next day); ``out.raw`` must hold its serialized body."""
        job, result = out.job, out.result
        if out.status != 200 or job is None or result is None:
            return
        if result.count is not None and result.count.upstream_error:  # a fallback: ask the provider next time
            return
        try:
            clock = self._clock(result.model)
        except TokcountError:  # e.g. a count forwarded upstream for a model whose files are not here
            return
        reply = None
        if not route.timed:  # atoms and tuples of atoms only: the collector stops tracking such a tuple
            reply = (out.status, out.raw, tuple(out.headers.items()), out.model, out.tokens)
        self.memo.put(key, job, result, clock, date, reply)

    def _clock(self, model: str) -> str:
        found = self._clocks.get(model)
        if found is None:
            found = clock_dependence(template_source_of(self.policy.resolve(model)))
            if len(self._clocks) >= CLOCK_NAMES:
                self._clocks.clear()
            self._clocks[model] = found
        return found


def template_source_of(spec: Any) -> str | None:
    """The chat template a catalog entry renders with (None for renderers without one: they read no clock)."""
    if getattr(spec, "renderer", None) != "jinja":
        return None
    return loader.load(spec).template()


def today() -> str:
    """The date as templates see it through ``strftime_now`` (``TOKCOUNT_NOW`` pins it)."""
    return now().date().isoformat()
