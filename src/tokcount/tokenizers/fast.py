"""Run each ``tokenizer.json`` vocabulary on the fastest engine proven to encode exactly like ``tokenizers``.

Hugging Face ``tokenizers`` is the reference for these files but runs byte-level BPE at a fraction of the speed of
tiktoken-style engines (shared/notes/tokenizer-engines.md; ``bench/`` measures it again). A byte-level BPE file is
therefore converted (:mod:`.bytelevel`) and offered, in order, to:

1. quicktok (``quicktok-v1``): hand-compiled scanners for the cl100k / o200k / Llama 3 / Qwen split grammars;
2. splintr (``splintr-rs``): reads tokenizer.json itself, so it also takes files no conversion fits: DeepSeek's
   three chained splits and Gemma 3's SentencePiece-style BPE (``▁`` for spaces, byte fallback, not byte-level).
   Measured (docs/exactness.md) 12-13x faster than ``tokenizers`` on Gemma 3 and 17-22x on DeepSeek, where kitoken
   is 4-6x; 3.2x faster than tiktoken on GLM's. Like quicktok it is trusted only on the vocabularies in
   :data:`SPLINTR_PROVEN`: its SentencePiece path is not the byte-level BPE the probes were designed around;
3. tiktoken: any single split regex;
4. kitoken: reads tokenizer.json itself, chained splits included (DeepSeek); only for byte-level files without a
   normalizer (with NFC its Unicode tables are not the file's).

An engine is used only after it produced the same ids as ``tokenizers`` on every probe text (:mod:`.probe`:
unicode edge cases, whitespace runs, numbers, CJK, emoji, code); anything else keeps ``tokenizers``. The tests
prove the chosen engine identical on far larger text for every family in ../shared/assets. NFC normalisation is
done by the file's own normalizer (Rust), not by Python's ``unicodedata``: their Unicode versions differ.

Some texts take a *detour* to the next engine instead (each a measured case, never a guess):
- a code point this Python does not know → ``tokenizers`` (:mod:`.unicode_guard`);
- splintr on a SentencePiece-style file (Gemma 3) for a text with a whitespace run of ~1,000 characters or more
  → ``tokenizers`` (splintr's time grows with the square of such a run's length: 160k characters of ``"\r\n"``
  took 8.8 s);
- quicktok for a pattern that is a known grammar except on combining marks (Qwen3.5's adds ``\\p{M}`` to Qwen's
  letter and punctuation classes) → text with a mark goes to tiktoken;
- tokens no merge produces (Qwen3.5 has 201) are never emitted by ``tokenizers`` when ``ignore_merges`` is off, so
  their bytes are replaced by bytes no UTF-8 text holds in the copy a faster engine gets (:mod:`.bytelevel`).

quicktok's BPE is not tiktoken's rank-by-rank merging (it finds the same encoding only on vocabularies with a
property we cannot check cheaply: on GLM's it emits `` 做`` where ``tokenizers`` and tiktoken give three tokens,
and the probes do not catch it). It is therefore used only for the vocabularies in :data:`QUICKTOK_PROVEN`, each
proven identical on large text and on every assigned code point by tests/open_models/test_fast_engines.py; any other
vocabulary gets tiktoken.

``TOKCOUNT_ENGINES`` (comma-separated, default ``quicktok,tiktoken,splintr,kitoken``) limits the candidates; an empty
value or ``tokenizers`` keeps the reference engine everywhere.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from itertools import filterfalse
from pathlib import Path
from typing import Any, Protocol

from .bytelevel import ByteLevelBPE, NotByteLevel, parse
from .hf import HFEncoder
from .probe import probe_texts
from .unicode_guard import SPACE_BLOCK, has_long_space_run, has_marks, has_unassigned

log = logging.getLogger("tokcount.engines")

DEFAULT_ENGINES = ("quicktok", "splintr", "tiktoken", "kitoken")
#: vocabulary fingerprints (:func:`vocabulary_fingerprint`) on which quicktok is proven identical to tokenizers
#: by tests/open_models/test_fast_engines.py; a new entry needs its vocabulary in those tests
QUICKTOK_PROVEN = {
    "fcab064a6fecfbad4b523d626ef618f1": "Qwen/Qwen3-8B",
    "8f99ead10539880ccefcb4b6d9821f22": "Qwen/Qwen3.5-9B (also Qwen3.6)",
    "433cfc8d46890cf3e7c1ab588ab87f3e": "MiniMaxAI/MiniMax-M2.5 and -M3",
    "5f2ae5c1fe92b33890903587df6b6017": "meta-llama/Llama-3.1-8B-Instruct",
    "d16b048246d18d09c40ecf6c84ebd677": "openai/gpt-oss-20b",
}
#: vocabulary fingerprints on which splintr is proven identical to tokenizers by tests/open_models/test_fast_engines.py
SPLINTR_PROVEN = {
    "14963a3c790ebc70fed316912f88ec0d": "deepseek-ai/DeepSeek-V3.1, -V3.2 and -V4 (three chained splits)",
    "beb789b63518b1192945ea05a93dc653": "google/gemma-3-1b-it (SentencePiece-style BPE)",
    # one split regex, which tiktoken also takes: splintr measured 3.2x faster than tiktoken on it
    "fe6780dfa669faf985e3de8aa2bccb1b": "zai-org/GLM-4.5V (also GLM-4.6V)",
    "c815ec5a47654738bda221e4a2047d2d": "zai-org/GLM-4.7-Flash (also GLM-5)",
}
#: split patterns that equal a quicktok grammar on every text without combining marks
QUICKTOK_EXCEPT_MARKS = {
    # Qwen3.5 / 3.6: Qwen's grammar with \p{M} added to the letter run and removed from the punctuation run
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+"
    r"|\s+(?!\S)|\s+": "qwen",
}


class Counter(Protocol):
    def encode(self, text: str) -> list[int]: ...
    def count(self, text: str) -> int: ...


def allowed_engines() -> tuple[str, ...]:
    """The ``engines`` setting (``TOKCOUNT_ENGINES``) without the reference ``tokenizers`` (always there)."""
    from .. import settings_in_force

    chosen = settings_in_force.current().engines
    if chosen is None:
        return DEFAULT_ENGINES
    return tuple(e for e in chosen if e != "tokenizers")


@dataclass(frozen=True)
class Detour:
    """Texts for which ``when`` holds are encoded by ``to`` instead of the fast engine. ``when`` asks whether a
    text contains a non-ASCII character of some class (so ASCII text never takes a detour, and a text holds one
    if any stretch of it does: :meth:`FastEncoder.count_many` checks a prompt's stretches in one go), unless
    ``ascii_too``, which may ask anything (such detours are checked text by text, but for texts shorter than
    ``min_chars``)."""

    when: Callable[[str], bool]
    to: Counter
    ascii_too: bool = False
    #: ``when`` is False for every text shorter than this (an ASCII detour on long runs: a short text never takes it)
    min_chars: int = 0


class FastEncoder:
    """An :class:`~tokcount.tokenizers.base.Encoder` whose counting runs on a faster engine; ids, decoding and
    token strings stay those of the reference ``tokenizers`` object it was verified against."""

    decodes_added = True

    def __init__(self, engine: str, encode: Callable[[str], list[int]], count: Callable[[str], int],
                 reference: HFEncoder, normalize: Callable[[str], str] | None,
                 detours: tuple[Detour, ...] = (), *, releases_gil: bool = False) -> None:
        self.engine = engine
        #: whether two threads count faster than one (measured on a quiet machine, the long stretches of a
        #: 100k-token chat split in two: quicktok 1.8x (Qwen3.5, Llama 3.1), tiktoken 1.3x; splintr and kitoken no)
        self.releases_gil = releases_gil
        self.reference = reference
        self._encode = encode
        self._count = count
        self._normalize = normalize
        self._detours = (Detour(has_unassigned, reference), *detours)
        self._ascii_detours = tuple(d for d in detours if d.ascii_too)
        #: texts shorter than this never take an ASCII detour (the stretches between Gemma's many newline tokens)
        self._no_ascii_detour_below = min((d.min_chars for d in self._ascii_detours), default=1 << 62)

    def _route(self, text: str) -> tuple[str, Counter | None]:
        # NFC leaves ASCII unchanged and the character-class detours never apply to it: the common case skips both
        if text.isascii():
            if not self._ascii_detours:
                return text, None
            return text, next((d.to for d in self._ascii_detours if d.when(text)), None)
        if self._normalize is not None and not unicodedata.is_normalized("NFC", text):
            # a text Python finds normalized, all of whose characters Python knows, is left unchanged by any NFC
            # implementation (Unicode never changes an assigned character's data); one holding a character Python
            # does not know takes the detour to tokenizers below, which normalizes it itself
            text = self._normalize(text)
        return text, next((d.to for d in self._detours if d.when(text)), None)

    def encode(self, text: str) -> list[int]:
        if not text:
            return []
        text, other = self._route(text)
        return other.encode(text) if other is not None else list(self._encode(text))

    def count(self, text: str) -> int:
        if not text:
            return 0
        text, other = self._route(text)
        return other.count(text) if other is not None else self._count(text)

    def count_many(self, texts: list[str]) -> list[int]:
        """:meth:`count` of each text; the many stretches of one prompt are checked for a detour in one scan of
        their non-ASCII ones together instead of one scan each (a 1,000-message prompt has thousands)."""
        if len(texts) < 2:
            return [self.count(t) for t in texts]
        below = self._no_ascii_detour_below
        if max(map(len, texts)) < below:
            if self._none_detour(texts):
                if "" in texts:
                    count = self._count
                    return [count(t) if t else 0 for t in texts]
                return list(map(self._count, texts))  # in C: a prompt of 1,000 messages has thousands
            return [self.count(t) for t in texts]
        # some may take an ASCII detour: those too short for one are batched, the others counted one by one
        short = [i for i, t in enumerate(texts) if len(t) < below]
        out = [0] * len(texts)
        for i, n in zip(short, self.count_many([texts[i] for i in short]) if len(short) > 1 else
                        [self.count(texts[i]) for i in short], strict=True):
            out[i] = n
        for i, t in enumerate(texts):
            if len(t) >= below:
                out[i] = self.count(t)
        return out

    def _none_detour(self, texts: list[str]) -> bool:
        """True when :meth:`count` would give every text to the fast engine unchanged: none needs NFC, and their
        non-ASCII ones joined hold no character a detour is for. Exact because every detour but the ASCII ones
        (excluded by the caller) asks whether a text *contains* a character of some class, which a text does if
        and only if it does in any text it is joined to."""
        odd = list(filterfalse(str.isascii, texts))
        if not odd:
            return True
        if self._normalize is not None and not all(unicodedata.is_normalized("NFC", t) for t in odd):
            return False
        joined = "".join(odd)
        return not any(d.when(joined) for d in self._detours)

    def id_to_string(self, token_id: int) -> str:
        return self.reference.id_to_string(token_id)

    def decode(self, ids: list[int]) -> str:
        return self.reference.decode(ids)


def vocabulary_fingerprint(data: dict[str, Any]) -> str:
    """What decides how ordinary text encodes: normalizer, pre-tokenizer, model options, vocabulary and merges
    (added tokens are split off before any engine runs, so two files differing only there share a fingerprint)."""
    model = data.get("model") or {}
    h = hashlib.sha256()
    options = {k: v for k, v in model.items() if k not in ("vocab", "merges")}
    h.update(json.dumps([data.get("normalizer"), data.get("pre_tokenizer"), options], sort_keys=True).encode())
    h.update(json.dumps(model.get("vocab"), ensure_ascii=False).encode())
    h.update(json.dumps(model.get("merges"), ensure_ascii=False).encode())
    return h.hexdigest()[:32]


def fastest_exact(reference: HFEncoder, data: dict[str, Any], source: bytes) -> HFEncoder | FastEncoder:
    """The fastest verified engine for the tokenizer.json ``data`` (raw bytes ``source``), else ``reference``."""
    engines = allowed_engines()
    if not engines:
        return reference
    try:
        bpe: ByteLevelBPE | None = parse(data)
    except NotByteLevel as exc:
        log.debug("%s: not byte-level (%s)", reference.path, exc)
        bpe = None
    build = _Builder(reference, bpe, data, source, engines)
    return next((enc for e in engines if (enc := build.engine(e)) is not None), reference)


class _Builder:
    """What every candidate needs: the reference, the parsed vocabulary, the probes and their expected ids."""

    def __init__(self, reference: HFEncoder, bpe: ByteLevelBPE | None, data: dict[str, Any], source: bytes,
                 engines: tuple[str, ...]) -> None:
        self.reference = reference
        self.data = data
        self.bpe = bpe
        self.source = source
        self.engines = engines
        self.normalize = reference.normalize if bpe is not None and bpe.normalizer is not None else None
        self._expected: list[list[int]] | None = None
        self._built: dict[str, FastEncoder | None] = {}

    def engine(self, name: str) -> FastEncoder | None:
        """The verified ``name`` engine for this vocabulary, built on first request (so only the engines actually
        chosen, and the detour targets they need, are ever loaded), or ``None``."""
        if name not in self._built:
            self._built[name] = None  # a builder asking for itself gets None, not a loop
            make = _BUILDERS.get(name) if name in self.engines else None
            candidate = None
            if make is not None:
                try:
                    candidate = make(self)
                except (NotByteLevel, ValueError, RuntimeError, OSError, ImportError) as exc:
                    log.debug("%s: %s cannot load it: %s", self.reference.path, name, exc)
            self._built[name] = candidate if candidate is not None and self.verify(candidate) else None
        return self._built[name]

    def detour_target(self) -> Counter:
        """Where quicktok sends the texts it must not encode: a verified tiktoken, else tokenizers itself."""
        return self.engine("tiktoken") or self.reference

    def verify(self, candidate: FastEncoder) -> bool:
        probes = probe_texts()
        if self._expected is None:
            self._expected = [self.reference.encode(t) for t in probes]
        for text, ids in zip(probes, self._expected, strict=True):
            if candidate.encode(text) != ids or candidate.count(text) != len(ids):
                log.info("%s: %s differs from tokenizers on probe %r; not used", self.reference.path,
                         candidate.engine, text[:40])
                return False
        return True


def _quicktok(b: _Builder) -> FastEncoder | None:
    if b.bpe is None or len(b.bpe.patterns) != 1:
        return None
    import quicktok
    from quicktok import _import_core as qcore  # quicktok's own importer: file format and known grammars

    pattern = b.bpe.patterns[0]
    detours: list[Detour] = []
    scanner = qcore.KNOWN_PATTERNS.get(pattern)
    if scanner is None and pattern in QUICKTOK_EXCEPT_MARKS:
        scanner = QUICKTOK_EXCEPT_MARKS[pattern]
        detours.append(Detour(has_marks, b.detour_target()))
    if scanner is None or max(b.bpe.ranks.values()) >= 1 << 18:
        return None
    if vocabulary_fingerprint(b.data) not in QUICKTOK_PROVEN:
        return None
    # files are a function of the tokenizer.json and this code's rules: the suffix names the rules' version
    where = _engine_dir(f"quicktok-{getattr(quicktok, '__version__', '0')}-5", b.source)
    if not (where / "v.enc").exists():
        bundled = Path(quicktok.__file__).parent / "data"
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=where.parent))
        try:
            qcore.write_files(str(tmp), "v", b.bpe.ranks, {}, scanner, False, 0)
            qcore.ensure_tables(str(tmp), str(bundled), scanner, False)
            try:
                tmp.rename(where)
            except OSError:  # another process wrote it first
                shutil.rmtree(tmp, ignore_errors=True)
        except qcore.ImportRefused as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ValueError(str(exc)) from None
    enc = quicktok.Tokenizer("v", str(where))
    return FastEncoder("quicktok", enc.encode_ordinary, enc.count, b.reference, b.normalize, tuple(detours),
                       releases_gil=True)


def _tiktoken(b: _Builder) -> FastEncoder | None:
    if b.bpe is None or len(b.bpe.patterns) != 1:
        return None
    import tiktoken

    enc = tiktoken.Encoding(name=f"tokcount-{_digest(b.source)[:12]}", pat_str=b.bpe.patterns[0],
                            mergeable_ranks=b.bpe.ranks, special_tokens={})
    return FastEncoder("tiktoken", enc.encode_ordinary, lambda text: len(enc.encode_ordinary(text)), b.reference,
                       b.normalize, releases_gil=True)


def _splintr(b: _Builder) -> FastEncoder | None:
    if b.bpe is not None and b.bpe.normalizer is not None:
        return None  # it would normalise with its own Unicode tables, as kitoken does
    if vocabulary_fingerprint(b.data) not in SPLINTR_PROVEN:
        return None
    import splintr

    enc = splintr.from_json_bytes(b.source)
    # its SentencePiece path is quadratic in long whitespace runs (measured; its byte-level path is not)
    detours = (Detour(has_long_space_run, b.reference, ascii_too=True, min_chars=SPACE_BLOCK),) \
        if b.bpe is None else ()
    # encode_raw: the content tokens alone, as tokenizers' add_special_tokens=False (encode adds Gemma's <bos>)
    return FastEncoder("splintr", enc.encode_raw, _splintr_count(enc), b.reference, None, detours)


def _splintr_count(enc: Any) -> Callable[[str], int]:
    """Count with ``encode_flat``: the ids as one bytes object (4 bytes an id) instead of a Python int per token,
    a quarter to a third faster on a prompt's many short stretches (DeepSeek's, 1,000 messages: 0.77 -> 0.55 ms).
    It adds the file's boundary template (Gemma 3's ``<bos>``), the same ids whatever the text, which are taken
    off; :meth:`_Builder.verify` checks this count against ``tokenizers`` on every probe, as it checks the ids."""
    flat = enc.encode_flat
    template = len(flat("")) // 4
    if template == 0:
        return lambda text: len(flat(text)) >> 2
    return lambda text: (len(flat(text)) >> 2) - template


def _kitoken(b: _Builder) -> FastEncoder | None:
    if b.bpe is None or b.bpe.normalizer is not None:
        # not byte-level: measured slower than splintr (Gemma 3); with NFC: kitoken would normalise with its own
        # Unicode tables
        return None
    import kitoken

    enc = kitoken.Kitoken.from_tokenizers(b.source)
    return FastEncoder("kitoken", enc.encode, lambda text: len(enc.encode(text)), b.reference, None)


_BUILDERS: dict[str, Callable[[_Builder], FastEncoder | None]] = {
    "quicktok": _quicktok,
    "tiktoken": _tiktoken,
    "splintr": _splintr,
    "kitoken": _kitoken,
}


def _digest(source: bytes) -> str:
    return hashlib.sha256(source).hexdigest()


def _engine_dir(kind: str, source: bytes) -> Path:
    """A per-vocabulary directory for an engine's converted files, under the tokcount cache."""
    from ..assets import cache_dir

    base = cache_dir() / "engines" / kind
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError:  # read-only cache: a private temporary one
        base = Path(tempfile.mkdtemp(prefix="tokcount-engines-"))
    return base / _digest(source)[:32]
