"""Turning a :class:`ModelSpec` into loaded parts: its tokenizer, its chat template, its special-token names.

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
import json
import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from . import assets
from .errors import CorruptAssets, MissingAssets, TokcountError
from .models.catalog import AssetRef, ModelSpec
from .tokenizers.added import AddedToken, AddedTokens
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
#: defaults: 16 models and 2 GiB of tokenizers (~13 typical 10 MB vocabularies, ~4 Gemma-3-sized ones)
MAX_MODELS = 16
MEMORY_MB = 2048


@dataclass
class Limits:
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
#: models without a Jinja template (Mistral, closed framings) that have counted once in this process: their own
#: modules keep what they load (a bounded set: such models are catalog entries)
_warm: set[ModelSpec] = set()
limits = Limits()
#: (model id, seconds, ok) of each load: whoever keeps metrics of loads (:func:`configure`'s ``on_load``)
LoadRecord = Callable[[str, float, bool], None]
_on_load: LoadRecord | None = None
#: loads actually performed (model id -> count) and evictions, for tests and diagnostics
loads: Counter[str] = Counter()
evictions: Counter[str] = Counter()

#: template variables taken from tokenizer_config.json, as ``PreTrainedTokenizerFast(bos_token=..., ...)`` has them
SPECIAL_TOKEN_KEYS = ("bos_token", "eos_token", "unk_token", "pad_token")


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
        if self._template is None and (self._template_error is None or time.monotonic() >= self._template_retry):
            self._template, self._template_from, self._template_error = _find_template(self.spec)
            self._template_retry = time.monotonic() + limits.miss_ttl
        if self._template_error is not None:
            raise _fresh(self._template_error)
        assert self._template is not None
        return self._template

    @property
    def template_source(self) -> str | None:
        return self._template_from


def locate(spec: ModelSpec, refs: tuple[AssetRef, ...], *, required: bool, what: str, hint: str = "",
           trail: list[str] | None = None) -> tuple[Path, AssetRef] | None:
    """The first candidate found locally, else the first that downloads; every place tried is recorded (in
    ``trail`` too, when given: a caller that finds the file unusable can still say where else it looked).

    Candidates are in priority order. A local file of a later candidate wins over downloading an earlier one
    only when they are in different repos (a declared shared tokenizer); within one repo an earlier file that may
    exist on the Hub (``chat_template.jinja`` before the config's ``chat_template``) is asked for first. A miss
    says ``what`` is missing, then ``hint`` (the catalog's word on the model) and how to get the files.
    """
    searched: list[str] = [] if trail is None else trail
    unknown_repos: set[str] = set()
    for ref in refs:
        files = assets.RepoFiles(ref.repo, spec.revision_of(ref.repo), packaged=_packaged(ref))
        look = assets.find(files, ref.file, download=False)
        if look.path is not None and ref.repo not in unknown_repos:
            return look.path, ref
        if look.path is None and not look.absent:
            unknown_repos.add(ref.repo)
    for ref in refs:
        files = assets.RepoFiles(ref.repo, spec.revision_of(ref.repo), packaged=_packaged(ref),
                                 fallback=_fallback(ref))
        look = assets.find(files, ref.file, download=True)
        if look.refused is not None:
            raise CorruptAssets(spec.id, f"{ref.repo}/{ref.file}", "", look.refused)
        if look.path is not None:
            return look.path, ref
        searched.extend(f"{ref.repo}/{ref.file}: {s}" for s in look.searched)
    if required:
        raise MissingAssets(spec.id, [str(r) for r in refs], searched, reason=what, hint=how_to_get(spec, refs, hint))
    return None


def how_to_get(spec: ModelSpec, refs: tuple[AssetRef, ...], hint: str = "") -> str:
    """What a miss tells its reader to do (issue 26: the 404 said where it looked, never how to get the files):
    ``tokcount pull``, or the files in an asset dir under the layout :mod:`tokcount.assets` reads. ``hint``, the
    catalog's word on where this model's files come from, goes first. The provider's passthrough, the third way,
    is added where a request is answered (:func:`tokcount.jobs.execute`, which knows the configured upstreams)."""
    layout = " or ".join(f"hub/{repo}/" for repo in dict.fromkeys(r.repo for r in refs))
    said = f"{hint.rstrip('. ')}. " if hint else ""
    return (f"{said}To get the files: `tokcount pull {spec.id}` downloads them from the Hugging Face Hub (with "
            f"network), or copy them into an asset dir (TOKCOUNT_ASSET_DIRS) as {layout}.")


def _packaged(ref: AssetRef) -> tuple[tuple[str, str], ...]:
    from .models.packaged import PACKAGED

    hit = PACKAGED.get(f"{ref.repo}/{ref.file}")
    return ((ref.file, hit),) if hit else ()


def _fallback(ref: AssetRef) -> tuple[tuple[str, str], ...]:
    """What tokcount can build for ``ref``; never for a key inside a file (``tokenizer_config.json#chat_template``):
    a built config holds no template, and finding it would hide which file is really missing."""
    from .models.built import fallback

    hit = fallback(ref.repo, ref.file) if ref.key is None else None
    return ((ref.file, hit),) if hit else ()


def _same_as(spec: ModelSpec) -> tuple[AssetRef, ...]:
    """Honour a ``TOKENIZER_SAME_AS`` file (one line ``org/repo``) found beside the repo's other files."""
    found = locate(spec, (AssetRef(spec.repo, "TOKENIZER_SAME_AS"),), required=False, what="")
    if found is None:
        return ()
    path, ref = found
    target = parse_asset(spec, ref, path, lambda: path.read_text(encoding="utf-8").strip())
    return (AssetRef(target, "tokenizer.json"),) if target else ()


def _read_json(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict):
        raise ValueError(f"a JSON object is expected, not {type(data).__name__}")
    return data


def _token_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value["content"]
    return None


def _find_template(spec: ModelSpec) -> tuple[str | None, str | None, MissingAssets | None]:
    trail: list[str] = []
    try:
        found = locate(spec, spec.template, required=True, what="its chat template", trail=trail)
    except MissingAssets as exc:
        return None, None, exc
    assert found is not None
    path, ref = found
    try:
        if ref.key is None:
            return parse_asset(spec, ref, path, lambda: path.read_text(encoding="utf-8")), str(ref), None
        value = parse_asset(spec, ref, path, lambda: _read_json(path)).get(ref.key)
    except CorruptAssets as exc:
        return None, None, exc
    if isinstance(value, list):  # named templates: [{"name": "default", "template": ...}, ...]
        named = {t.get("name"): t.get("template") for t in value if isinstance(t, dict)}
        value = named.get("default")
    if not isinstance(value, str):  # every place the earlier candidates were looked for, then this file
        trail.append(f"{ref.repo}/{ref.file}: found, without a {ref.key!r} key")
        return None, None, MissingAssets(spec.id, [str(r) for r in spec.template], trail, reason="its chat template",
                                        hint=how_to_get(spec, spec.template))
    return value, str(ref), None


def _tiktoken_added(config: dict[str, Any], n_base: int) -> AddedTokens:
    decoder = config.get("added_tokens_decoder") or {}
    tokens = {}
    for key, value in decoder.items():
        if isinstance(value, dict) and isinstance(value.get("content"), str):
            tokens[int(key)] = AddedToken(
                content=value["content"], id=int(key), special=bool(value.get("special", True)),
                lstrip=bool(value.get("lstrip", False)), rstrip=bool(value.get("rstrip", False)),
                single_word=bool(value.get("single_word", False)),
            )
    # Kimi's tokenizer names the 256 reserved ids after its base vocabulary when the config does not.
    for i in range(n_base, n_base + 256):
        tokens.setdefault(i, AddedToken(content=f"<|reserved_token_{i}|>", id=i))
    return AddedTokens(tokens.values())


def parse_asset(spec: ModelSpec, ref: AssetRef, path: Path, read: Callable[[], T]) -> T:
    """``read()``, with any failure to read or parse the file turned into :class:`CorruptAssets` naming the model
    and the file as the catalog names it; the server path and the full error are logged, never sent."""
    try:
        return read()
    except TokcountError:
        raise
    except OSError as exc:
        detail = f"the file cannot be read ({exc.strerror or type(exc).__name__})"
    except UnicodeDecodeError:
        detail = "the file is not UTF-8 text"
    except json.JSONDecodeError as exc:
        detail = f"the file is not valid JSON ({exc.msg}: line {exc.lineno}, column {exc.colno})"
    except RecursionError:
        detail = "the file is nested too deeply"
    except Exception as exc:  # tokenizers raises plain Exception; tiktoken a ValueError; a bad shape a KeyError...
        first = (str(exc).splitlines() or [""])[0].replace(str(path.parent), "")
        detail = f"the file was refused ({type(exc).__name__}: {first[:200]})"
    name = f"{ref.repo}/{ref.file}"
    log.warning("model %r: unusable %s at %s: %s", spec.id, name, path, detail)
    raise CorruptAssets(spec.id, name, str(path), detail) from None


def _build_tokenizer(spec: ModelSpec, path: Path, ref: AssetRef, config: dict[str, Any]) -> _Tok:
    variables = {k: v for k in SPECIAL_TOKEN_KEYS if (v := _token_text(config.get(k))) is not None}
    build: Callable[[], Tokenizer]
    if path.suffix == ".json":
        from .tokenizers.fast import fastest_exact
        from .tokenizers.hf import HFEncoder, added_tokens_of
        from .tokenizers.isolated import IsolatedEncoder, unvetted

        def build() -> Tokenizer:
            source = path.read_bytes()
            data = json.loads(source)
            text = source.decode("utf-8")
            reference = HFEncoder(path, text)
            # a regular expression no vetted model uses may backtrack for seconds or panic: kept out of process
            encoder: Any = IsolatedEncoder(reference, text) if unvetted(data) else fastest_exact(reference, data,
                                                                                                 source)
            return Tokenizer(spec.id, encoder, added_tokens_of(path, data), variables)
    else:
        from .tokenizers.tiktoken_file import TiktokenEncoder

        pattern = spec.pattern
        if not pattern:
            raise MissingAssets(spec.id, [str(ref)], [], reason="a tiktoken-format vocabulary needs a split "
                                "pattern (`pattern` in the catalog)")

        def build() -> Tokenizer:
            encoder = TiktokenEncoder(spec.id, path, pattern)
            return Tokenizer(spec.id, encoder, _tiktoken_added(config, encoder.n_vocab), variables)

    tokenizer = parse_asset(spec, ref, path, build)
    return _Tok(tokenizer, _file_mb(path))


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
    return _single_flight(("tokenizer", key),
                          lambda: _tokenizers.get(key) or _build_tokenizer(spec, path, ref, config))


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
    if spec.renderer != "jinja":
        return spec in _warm
    with _lock:
        model = _models.get(spec)
        if model is not None:  # a missing template is looked for again (maybe downloaded) once its TTL is over
            return model._template is not None or model._template_retry > time.monotonic()
        failed = _failures.get(spec)
        return failed is not None and failed[0] > time.monotonic()


def mark_warm(spec: ModelSpec) -> None:
    """Record that a model not loaded through :func:`load` has counted once (see :func:`is_loaded`)."""
    if spec.renderer != "jinja" and spec.listed:
        _warm.add(spec)


def load(spec: ModelSpec) -> LoadedModel:
    """The loaded model for ``spec``: from the LRU, else loaded once however many threads ask (see the module doc).

    A model whose files were missing or corrupt raises the same error again, without looking, for the miss TTL."""
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
    return _single_flight(("model", spec), lambda: _load_new(spec))


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


def _load_new(spec: ModelSpec) -> LoadedModel:
    with _lock:  # a flight for it may have finished between the caller's look and this one starting
        model = _models.get(spec)
    if model is not None:
        return model
    started = time.perf_counter()
    try:
        model = _build(spec)
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


def _build(spec: ModelSpec) -> LoadedModel:
    refs = spec.tokenizer
    found = locate(spec, refs, required=False, what="")
    if found is None and (same := _same_as(spec)):
        refs = same
    if found is None:
        hint = spec.extra.get("missing")  # the catalog's word on where this model's vocabulary comes from
        found = locate(spec, refs, required=True, what="its tokenizer vocabulary",
                       hint=hint if isinstance(hint, str) else "")
    assert found is not None
    tok_path, tok_ref = found
    cfg = locate(spec, spec.config, required=False, what="")
    config = parse_asset(spec, cfg[1], cfg[0], lambda: _read_json(cfg[0])) if cfg else {}
    tok = _load_tokenizer(spec, tok_path, tok_ref, config)
    model = LoadedModel(spec=spec, tokenizer=tok.tokenizer, config=config, tokenizer_path=tok_path,
                        variables=dict(tok.tokenizer.special_tokens), tok_key=(str(tok_path), spec.pattern))
    if spec.renderer == "jinja":
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
        loads.clear()
        evictions.clear()
    assets.hub.clear()
