"""Prometheus metrics, multi-worker safe, and cheap enough to leave on.

Every recorder here is a no-op when ``prometheus-client`` (the ``server`` extra) is not installed, so the library
and the CLI never need it. With ``PROMETHEUS_MULTIPROC_DIR`` set (``tokcount serve --workers N`` sets it to a
directory it owns and empties at start), each worker writes its values to memory-mapped files there and
``/metrics`` in any worker reads them all (:func:`exposition`), so a scrape sees the whole server, not the one
worker that happened to answer.

Hooks other modules call (each a few microseconds, no lock of ours):

- :func:`request` — the HTTP middleware, once per answer: requests by route, status and model; latency; tokens.
- :func:`memo` — ``memo(hit)``, for the response memo in jobs.py/server.py (one call per lookup).
- :func:`upstream` — ``upstream(provider, outcome)``, for passthrough calls (``outcome``: ``ok``, ``error``,
  ``timeout``, ...).
- :func:`model_load` — loader.py, once per model load with its duration.

The segment caches already count their hits and misses (``tokenizers/core.py``); rather than touch that hot path,
:func:`sync_caches` copies their totals into counters at most once a second (and at every scrape).

Metric names (all prefixed ``tokcount_``): ``requests_total{route,status,model}``,
``request_duration_seconds{route}`` (histogram), ``tokens_counted_total{route,model}``,
``segment_cache_hits_total``, ``segment_cache_misses_total``, ``memo_lookups_total{result}``,
``model_loads_total{model,outcome}``, ``model_load_duration_seconds{model}`` (histogram),
``upstream_requests_total{provider,outcome}``; plus the process collector (single process only: in multi-worker
mode prometheus-client cannot merge per-process CPU/RSS, so they are left out rather than shown for one worker).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .tokenizers.core import CACHES

try:  # the server extra; without it every recorder is a no-op
    import prometheus_client as _prom
except ImportError:  # pragma: no cover - exercised only without the extra
    _prom = None  # type: ignore[assignment]

#: distinct model label values kept; requests for further names are labelled "other" (clients choose the names,
#: and an unbounded label set would grow the scrape and the multiprocess files without limit)
MAX_MODEL_LABELS = 64
#: latency buckets (seconds): small counts take well under a millisecond, large ones seconds
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LOAD_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
CACHE_SYNC_S = 1.0

_models: set[str] = set()
_models_lock = threading.Lock()
_synced: dict[int, tuple[int, int]] = {}
_sync_lock = threading.Lock()
_last_sync = 0.0


def enabled() -> bool:
    return _prom is not None


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


if _prom is not None:
    _prom.disable_created_metrics()  # the *_created series double the scrape and say nothing here
    _REQUESTS = _prom.Counter("tokcount_requests", "HTTP answers by route template, status and model.",
                              ("route", "status", "model"))
    _LATENCY = _prom.Histogram("tokcount_request_duration_seconds", "Time from request start to answer, by route.",
                               ("route",), buckets=LATENCY_BUCKETS)
    _TOKENS = _prom.Counter("tokcount_tokens_counted", "Input tokens counted in 200 answers.", ("route", "model"))
    _CACHE_HITS = _prom.Counter("tokcount_segment_cache_hits", "Tokenizer segment-cache hits.")
    _CACHE_MISSES = _prom.Counter("tokcount_segment_cache_misses", "Tokenizer segment-cache misses.")
    _MEMO = _prom.Counter("tokcount_memo_lookups", "Response-memo lookups, by result (hit or miss).", ("result",))
    _LOADS = _prom.Counter("tokcount_model_loads", "Model loads (tokenizer files read and parsed), by outcome.",
                           ("model", "outcome"))
    _LOAD_TIME = _prom.Histogram("tokcount_model_load_duration_seconds", "Duration of one model load.", ("model",),
                                 buckets=LOAD_BUCKETS)
    _UPSTREAM = _prom.Counter("tokcount_upstream_requests", "Upstream passthrough calls, by provider and outcome.",
                              ("provider", "outcome"))


def model_label(name: str | None) -> str:
    """``name`` as a label value: empty when unknown, ``other`` once :data:`MAX_MODEL_LABELS` names are in use."""
    if not name:
        return ""
    if name in _models:
        return name
    with _models_lock:
        if len(_models) < MAX_MODEL_LABELS:
            _models.add(name)
            return name
    return "other"


def request(route: str, status: int, model: str | None, tokens: int | None, seconds: float) -> None:
    """One HTTP answer (every route, errors included)."""
    if _prom is None:
        return
    key = (route, status, model)
    children = _children.get(key)
    if children is None:
        children = _children_for(route, status, model)
    requests, latency, counted = children
    requests.inc()
    latency.observe(seconds)
    if tokens:
        counted.inc(tokens)
    if time.monotonic() - _last_sync >= CACHE_SYNC_S:
        sync_caches()


#: (route, status, model) -> the labelled children: ``labels()`` builds a key and takes a lock on every call (about
#: 3 us each); a dict hit costs a tenth of that. Bounded as the label values are (routes x statuses x models).
_children: dict[tuple[str, int, str | None], tuple[Any, Any, Any]] = {}


def _children_for(route: str, status: int, model: str | None) -> tuple[Any, Any, Any]:
    label = model_label(model)
    children = (_REQUESTS.labels(route, str(status), label), _LATENCY.labels(route), _TOKENS.labels(route, label))
    if len(_children) < 10_000:  # a model name past MAX_MODEL_LABELS still makes a new key: keep the dict bounded
        _children[(route, status, model)] = children
    return children


def memo(hit: bool) -> None:
    """One response-memo lookup (the speed work's memo calls this)."""
    if _prom is not None:
        _MEMO.labels("hit" if hit else "miss").inc()


def upstream(provider: str, outcome: str) -> None:
    """One upstream passthrough call (``outcome``: ``ok``, ``error``, ``timeout``, an HTTP status class...)."""
    if _prom is not None:
        _UPSTREAM.labels(provider, outcome).inc()


def model_load(model: str, seconds: float, ok: bool) -> None:
    """One model load (loader.py), with how long it took."""
    if _prom is None:
        return
    label = model_label(model)
    _LOADS.labels(label, "ok" if ok else "error").inc()
    _LOAD_TIME.labels(label).observe(seconds)


def sync_caches() -> None:
    """Add what the segment caches counted since the last sync to the counters (non-blocking: a sync already
    running elsewhere is enough)."""
    global _last_sync
    if _prom is None or not _sync_lock.acquire(blocking=False):
        return
    try:
        _last_sync = time.monotonic()
        hits = misses = 0
        for cache in list(CACHES):
            h, m = cache.hits, cache.misses
            ph, pm = _synced.get(id(cache), (0, 0))
            if h < ph or m < pm:  # a new cache at a recycled id
                ph, pm = 0, 0
            hits += h - ph
            misses += m - pm
            _synced[id(cache)] = (h, m)
        if hits:
            _CACHE_HITS.inc(hits)
        if misses:
            _CACHE_MISSES.inc(misses)
    finally:
        _sync_lock.release()


@contextlib.contextmanager
def multiprocess_dir() -> Iterator[str]:
    """Set ``PROMETHEUS_MULTIPROC_DIR`` for the worker processes about to start: the operator's directory,
    emptied of old ``*.db`` files (stale values from a previous run would be summed in), or a temporary directory
    of our own, removed afterwards. Before the workers import prometheus-client, which reads it at import."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for old in path.glob("*.db"):
            old.unlink()
        yield str(path)
        return
    path = Path(tempfile.mkdtemp(prefix="tokcount-metrics-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    try:
        yield str(path)
    finally:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        shutil.rmtree(path, ignore_errors=True)


def exposition() -> tuple[bytes, str]:
    """(body, content type) of a scrape: every worker's values in multi-worker mode, else this process's."""
    if _prom is None:
        return b"# prometheus-client is not installed (pip install 'tokcount[server]')\n", "text/plain"
    sync_caches()
    if multiprocess():
        from prometheus_client import multiprocess as mp

        registry = _prom.CollectorRegistry()
        mp.MultiProcessCollector(registry)
        return _prom.generate_latest(registry), _prom.CONTENT_TYPE_LATEST
    return _prom.generate_latest(_prom.REGISTRY), _prom.CONTENT_TYPE_LATEST

