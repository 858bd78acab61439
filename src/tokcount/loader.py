"""Turning a :class:`ModelSpec` into loaded parts: its tokenizer, its chat template, its special-token names; which
files those come from and how they are read is :mod:`tokcount.model_files`, what is kept loaded is here.

Tokenizers are shared by file (several models use one vocabulary), templates by source text (compiled once).
Missing files raise :class:`MissingAssets` naming every place that was looked; a file that is there but cannot be
used raises :class:`CorruptAssets` naming the model and the file (the server path goes to the log only).

Why the bookkeeping below (issue 10): a server may be asked for many models, some broken, by many requests at once.

- **Bounded.** Loaded models live in an LRU bounded by count and by the estimated memory of the tokenizers they
  hold (:data:`RSS_PER_FILE_BYTE`); an evicted model reloads transparently on its next use, and a tokenizer stays
  while any loaded model still uses it.
- **Single flight.** However many threads ask for a model that is not loaded, one loads it and the others wait for
  that load; the module lock only guards the dictionaries, never a load, so a slow load blocks no other model.
- **Misses remembered.** A model whose files are missing or corrupt is not looked for again for ``miss_ttl``
  seconds (each look may ask the Hub, or re-parse a 30 MB file that fails the same way).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from . import assets
from .errors import MissingAssets, TokcountError
from .model_files import build_tokenizer, find_template, locate, parse_asset, read_json, same_as
from .models.catalog import AssetRef, ModelSpec
from .settings import default
from .tokenizers.core import Tokenizer

log = logging.getLogger("tokcount.loader")
T = TypeVar("T")
E = TypeVar("E", bound=BaseException)

#: estimated resident memory of a loaded tokenizer per byte of its vocabulary file. Measured with
#: /proc/self/statm, one fresh process per model, RSS after load + one count minus before (the engine's module
#: import included): Qwen3-8B 10.9 MiB file +157 MiB (14.4x), Llama-3.1 8.7 +129 (14.9x), Gemma 3 31.8 +420
#: (13.2x), MiniMax-M2.5 9.3 +134 (14.4x), GLM-4.7-Flash 19.3 +281 (14.6x), DeepSeek-V3.1 (kitoken) 7.5 +177
#: (23.7x). In one process after the engines are imported (one model after another, as RSS_PROBE in
#: tests/models/test_model_access.py does): Llama-3.1 +115 MiB (13x), MiniMax-M2.5 +94 (10x), DeepSeek-V3.1 +136
#: (18x), GLM-4.7-Flash +212 (11x), Gemma 3 +239 (7.5x). 16x errs on the generous side; that test re-checks it.
RSS_PER_FILE_BYTE = 16
#: defaults, the settings' (``max_loaded_models``, ``model_memory_mb``): 16 models and 2 GiB of tokenizers (~13
#: typical 10 MB vocabularies, ~4 Gemma-3-sized ones)
MAX_MODELS: int = default("max_loaded_models")
MEMORY_MB: int = default("model_memory_mb")


@dataclass
class CacheBounds:
    """The LRU's bounds and how long a failed load is remembered."""

    max_models: int = MAX_MODELS
    memory_mb: float = MEMORY_MB
    miss_ttl: float = assets.MISS_TTL_S


@dataclass
class _Tok:
    tokenizer: Tokenizer
    cost_mb: float


class _Flight:
    """One load in progress; the threads that want the same thing wait on ``done``."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None


#: guards the dictionaries below; never held while a file is read or a tokenizer built
_lock = threading.RLock()
_tokenizers: dict[tuple[str, str | None], _Tok] = {}
_models: OrderedDict[ModelSpec, LoadedModel] = OrderedDict()
#: failed loads: a spec (load) or (spec, part) (:func:`remembered`) -> (monotonic expiry, the error)
_failures: dict[Any, tuple[float, MissingAssets]] = {}
_flights: dict[tuple[str, Any], _Flight] = {}
#: models whose renderer counts from their chat template (it loads them with ``template=True``, or reads
#: :meth:`LoadedModel.template`): warm only while this LRU holds them, template included. A capability the renderer
#: states when it loads, so this module never asks which renderer a model has
_templated: set[ModelSpec] = set()
#: models not counted from a template here (Mistral, closed framings) that have counted once in this process: their
#: own modules keep what they load (a bounded set: such models are catalog entries)
_warm: set[ModelSpec] = set()
limits = CacheBounds()
#: (model id, seconds, ok) of each load: whoever keeps metrics of loads (:func:`configure`'s ``on_load``)
LoadRecord = Callable[[str, float, bool], None]
_on_load: LoadRecord | None = None
#: loads actually performed (model id -> count) and evictions, for tests and diagnostics
loads: Counter[str] = Counter()
evictions: Counter[str] = Counter()


def configure(*, max_models: int | None = None, memory_mb: float | None = None,
              miss_ttl: float | None = None, on_load: LoadRecord | None = None) -> None:
    """Set the LRU bounds and the miss TTL (the server calls this with its settings; the library keeps defaults),
    and ``on_load``, told every load (the server's metrics, :func:`tokcount.metrics.model_load`: the library and
    CLI never import them, so they do not pay for importing prometheus-client)."""
    global _on_load
    if on_load is not None:
        _on_load = on_load
    with _lock:
        if max_models is not None:
            limits.max_models = max_models
        if memory_mb is not None:
            limits.memory_mb = memory_mb
        if miss_ttl is not None:
            limits.miss_ttl = miss_ttl
        _evict()


@dataclass
class LoadedModel:
    spec: ModelSpec
    tokenizer: Tokenizer
    config: dict[str, Any]
    tokenizer_path: Path
    _template: str | None = None
    _template_from: str | None = None
    _template_error: MissingAssets | None = None
    _template_retry: float = 0.0
    variables: dict[str, str] = field(default_factory=dict)
    #: the shared-tokenizer key (file, split pattern): models on one vocabulary hold one tokenizer object
    tok_key: tuple[str, str | None] = ("", None)

    def template(self) -> str:
        """The chat template source; raises :class:`MissingAssets` (or :class:`CorruptAssets`) when the model has
        none usable, remembered for the miss TTL like any other miss."""
        _count_from_template(self.spec)
        if self._template is None and (self._template_error is None or time.monotonic() >= self._template_retry):
            self._template, self._template_from, self._template_error = find_template(self.spec)
            self._template_retry = time.monotonic() + limits.miss_ttl
        if self._template_error is not None:
            raise _fresh(self._template_error)
        assert self._template is not None
        return self._template

    @property
    def template_source(self) -> str | None:
        return self._template_from


def _file_mb(path: Path) -> float:
    """The estimated memory of the tokenizer loaded from ``path`` (see :data:`RSS_PER_FILE_BYTE`)."""
    try:
        return path.stat().st_size * RSS_PER_FILE_BYTE / 2**20
    except OSError:
        return 0.0


def _load_tokenizer(spec: ModelSpec, path: Path, ref: AssetRef, config: dict[str, Any]) -> _Tok:
    key = (str(path), spec.pattern)
    with _lock:
        tok = _tokenizers.get(key)
    if tok is not None:
        return tok

    def build() -> _Tok:
        return _tokenizers.get(key) or _Tok(build_tokenizer(spec, path, ref, config), _file_mb(path))

    return _single_flight(("tokenizer", key), build)


def _single_flight(key: tuple[str, Any], work: Callable[[], T]) -> T:
    """``work()`` run once for ``key`` however many threads ask at the same time; the others wait for its result
    (or its error) without holding any lock, so unrelated loads go on in parallel."""
    with _lock:
        flight = _flights.get(key)
        leader = flight is None
        if flight is None:
            flight = _flights[key] = _Flight()
    if not leader:
        flight.done.wait()
        if flight.error is not None:
            raise _fresh(flight.error)
        return flight.value
    try:
        flight.value = work()
        return flight.value
    except BaseException as exc:
        flight.error = exc
        raise
    finally:
        with _lock:
            _flights.pop(key, None)
        flight.done.set()


def _fresh(exc: E) -> E:
    """A copy of a remembered error to raise again (callers add to ``message``, e.g. Bifrost's fallbacks)."""
    if not isinstance(exc, TokcountError):
        return exc
    new = exc.__class__.__new__(exc.__class__)
    new.__dict__.update(exc.__dict__)
    new.args = exc.args
    return new


def is_loaded(spec: ModelSpec) -> bool:
    """True when counting for ``spec`` reads no file: its model is loaded (template included), or its last load
    failed recently (the remembered error is raised at once). The server counts a small body on the event loop
    only then; anything else might read, parse or download for seconds, so it goes to a thread."""
    if spec not in _templated:
        return spec in _warm
    with _lock:
        model = _models.get(spec)
        if model is not None:  # a missing template is looked for again (maybe downloaded) once its TTL is over
            return model._template is not None or model._template_retry > time.monotonic()
        failed = _failures.get(spec)
        return failed is not None and failed[0] > time.monotonic()


def mark_warm(spec: ModelSpec) -> None:
    """Record that a model not counted from a template here has counted once (see :func:`is_loaded`)."""
    if spec not in _templated and spec.listed:
        _warm.add(spec)


def _count_from_template(spec: ModelSpec) -> None:
    if spec not in _templated:
        with _lock:
            if len(_templated) >= 10_000:  # endless distinct Hub repos cannot grow it without bound
                _templated.clear()
            _templated.add(spec)


def load(spec: ModelSpec, *, template: bool = False) -> LoadedModel:
    """The loaded model for ``spec``: from the LRU, else loaded once however many threads ask (see the module doc).
    ``template``: the caller's renderer counts from the model's chat template, so it is read with the tokenizer
    (off the event loop) and the model is warm only while both are held (:func:`is_loaded`).

    A model whose files were missing or corrupt raises the same error again, without looking, for the miss TTL."""
    if template:
        _count_from_template(spec)
    with _lock:
        model = _models.get(spec)
        if model is not None:
            _models.move_to_end(spec)
            return model
        failed = _failures.get(spec)
        if failed is not None:
            if failed[0] > time.monotonic():
                raise _fresh(failed[1])
            del _failures[spec]
    return _single_flight(("model", spec), lambda: _load_new(spec, template))


def remembered(spec: ModelSpec, part: str, work: Callable[[], T]) -> T:
    """``work()`` for a part of a model loaded outside :func:`load` (Mistral's ``tekken.json``, which its own
    module caches): one load at a time, and a missing or corrupt file's error remembered for the miss TTL."""
    key = (spec, part)
    with _lock:
        failed = _failures.get(key)
        if failed is not None and failed[0] > time.monotonic():
            raise _fresh(failed[1])

    def attempt() -> T:
        try:
            return work()
        except MissingAssets as exc:
            with _lock:  # a copy: callers add to the message they raise (jobs.execute's advice, fallbacks)
                _failures[key] = (time.monotonic() + limits.miss_ttl, _fresh(exc))
            raise

    return _single_flight(("part", key), attempt)


def _load_new(spec: ModelSpec, template: bool) -> LoadedModel:
    with _lock:  # a flight for it may have finished between the caller's look and this one starting
        model = _models.get(spec)
    if model is not None:
        return model
    started = time.perf_counter()
    try:
        model = _build(spec, template)
    except MissingAssets as exc:  # CorruptAssets too
        _record_load(spec, started, ok=False)
        with _lock:
            if len(_failures) >= 10_000:  # endless distinct names cannot grow it without bound
                _failures.clear()
            _failures[spec] = (time.monotonic() + limits.miss_ttl, _fresh(exc))  # a copy, as in remembered()
        raise
    with _lock:
        loads[spec.id] += 1
        tok = _tokenizers.setdefault(model.tok_key, _Tok(model.tokenizer, _file_mb(model.tokenizer_path)))
        model.tokenizer = tok.tokenizer  # one object per file, even if two flights built it at once
        _models[spec] = model
        _evict()
    _record_load(spec, started, ok=True)
    return model


def _record_load(spec: ModelSpec, started: float, *, ok: bool) -> None:
    """Tell the recorder :func:`configure` was given about a load, if any."""
    record = _on_load
    if record is not None:
        record(spec.id, time.perf_counter() - started, ok)


def _build(spec: ModelSpec, template: bool) -> LoadedModel:
    refs = spec.tokenizer
    found = locate(spec, refs, required=False, what="")
    if found is None and (same := same_as(spec)):
        refs = same
    if found is None:
        hint = spec.extra.get("missing")  # the catalog's word on where this model's vocabulary comes from
        found = locate(spec, refs, required=True, what="its tokenizer vocabulary",
                       hint=hint if isinstance(hint, str) else "")
    assert found is not None
    tok_path, tok_ref = found
    cfg = locate(spec, spec.config, required=False, what="")
    config = parse_asset(spec, cfg[1], cfg[0], lambda: read_json(cfg[0])) if cfg else {}
    tok = _load_tokenizer(spec, tok_path, tok_ref, config)
    model = LoadedModel(spec=spec, tokenizer=tok.tokenizer, config=config, tokenizer_path=tok_path,
                        variables=dict(tok.tokenizer.special_tokens), tok_key=(str(tok_path), spec.pattern))
    if template:
        with contextlib.suppress(MissingAssets):  # read now, off the event loop; a miss stays the model's own
            model.template()
    return model


def memory_mb() -> float:
    """Estimated memory of the tokenizers the loaded models hold (each shared file counted once), with what their
    segment caches hold now (up to ``TOKCOUNT_SEGMENT_CACHE_MB`` of text each: a bound per tokenizer)."""
    with _lock:
        keys = {m.tok_key for m in _models.values()}
        return sum(_tokenizers[k].cost_mb + _cache_mb(_tokenizers[k].tokenizer) for k in keys if k in _tokenizers)


def _cache_mb(tokenizer: Tokenizer) -> float:
    cache = getattr(tokenizer, "cache", None)
    if cache is None:
        return 0.0
    return (getattr(cache, "_chars", 0) + 100 * len(getattr(cache, "_data", ()))) / 2**20  # ~100 B per entry


def _evict() -> None:
    """Drop least recently used models until both bounds hold (the newest model always stays), then every
    tokenizer no loaded model uses. Called with ``_lock`` held."""
    while len(_models) > 1 and (len(_models) > limits.max_models or memory_mb() > limits.memory_mb):
        spec, _ = _models.popitem(last=False)
        evictions[spec.id] += 1
        log.info("evicted model %r (LRU: %d models, %.0f MB estimated)", spec.id, len(_models), memory_mb())
    used = {m.tok_key for m in _models.values()}
    for key in [k for k in _tokenizers if k not in used]:
        del _tokenizers[key]


def loaded() -> list[str]:
    """Ids of the loaded models, least recently used first."""
    with _lock:
        return [s.id for s in _models]


def clear() -> None:
    """Forget every loaded model and remembered miss (tests change asset directories between cases)."""
    with _lock:
        _models.clear()
        _tokenizers.clear()
        _failures.clear()
        _warm.clear()
        _templated.clear()
        loads.clear()
        evictions.clear()
    assets.hub.clear()
