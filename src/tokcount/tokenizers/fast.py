"""Run each ``tokenizer.json`` vocabulary on the fastest engine proven to encode exactly like ``tokenizers``.

Hugging Face ``tokenizers`` is the reference for these files but runs byte-level BPE at a fraction of the speed of
tiktoken-style engines (shared/notes/tokenizer-engines.md; ``bench/`` measures it again). A byte-level BPE file is
therefore converted (:mod:`.bytelevel`) and offered, in order, to:

1. quicktok (``quicktok-v1``): hand-compiled scanners for the cl100k / o200k / Llama 3 / Qwen split grammars;
2. tiktoken: any single split regex;
3. kitoken: reads tokenizer.json itself, chained splits (DeepSeek) and SentencePiece-style BPE included; not for
   byte-level files with an NFC normalizer (its Unicode tables are not the file's).

An engine is used only after it produced the same ids as ``tokenizers`` on every probe text (:mod:`.probe`:
unicode edge cases, whitespace runs, numbers, CJK, emoji, code); anything else keeps ``tokenizers``. The tests
prove the chosen engine identical on far larger text for every family in ../shared/assets. NFC normalisation is
done by the file's own normalizer (Rust), not by Python's ``unicodedata``: their Unicode versions differ. For the
same reason a text with a code point Python does not know goes to ``tokenizers`` (:mod:`.unicode_guard`).

``TOKCOUNT_ENGINES`` (comma-separated, default ``quicktok,tiktoken,kitoken``) limits the candidates; an empty
value or ``tokenizers`` keeps the reference engine everywhere.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from .bytelevel import ByteLevelBPE, NotByteLevel, parse
from .hf import HFEncoder
from .probe import probe_texts
from .unicode_guard import has_unassigned

log = logging.getLogger("tokcount.engines")

DEFAULT_ENGINES = ("quicktok", "tiktoken", "kitoken")


def allowed_engines() -> tuple[str, ...]:
    raw = os.environ.get("TOKCOUNT_ENGINES")
    if raw is None:
        return DEFAULT_ENGINES
    return tuple(e.strip() for e in raw.split(",") if e.strip() and e.strip() != "tokenizers")


class FastEncoder:
    """An :class:`~tokcount.tokenizers.base.Encoder` whose counting runs on a faster engine; ids, decoding and
    token strings stay those of the reference ``tokenizers`` object it was verified against."""

    decodes_added = True

    def __init__(self, engine: str, encode: Callable[[str], list[int]], count: Callable[[str], int],
                 reference: HFEncoder, normalize: Callable[[str], str] | None) -> None:
        self.engine = engine
        self.reference = reference
        self._encode = encode
        self._count = count
        self._normalize = normalize

    def _text(self, text: str) -> str:
        # NFC leaves ASCII unchanged; skipping the call keeps the common case free
        return text if self._normalize is None or text.isascii() else self._normalize(text)

    def encode(self, text: str) -> list[int]:
        if not text:
            return []
        if has_unassigned(text):
            return self.reference.encode(text)
        return list(self._encode(self._text(text)))

    def count(self, text: str) -> int:
        if not text:
            return 0
        if has_unassigned(text):
            return self.reference.count(text)
        return self._count(self._text(text))

    def count_many(self, texts: list[str]) -> list[int]:
        return [self.count(t) for t in texts]

    def id_to_string(self, token_id: int) -> str:
        return self.reference.id_to_string(token_id)

    def decode(self, ids: list[int]) -> str:
        return self.reference.decode(ids)


def fastest_exact(reference: HFEncoder, data: dict, source: bytes) -> HFEncoder | FastEncoder:
    """The fastest verified engine for the tokenizer.json ``data`` (raw bytes ``source``), else ``reference``."""
    engines = allowed_engines()
    if not engines:
        return reference
    try:
        bpe = parse(data)
    except NotByteLevel as exc:
        bpe = None
        why = str(exc)
    normalize = _normalizer(reference, bpe)
    probes = probe_texts()
    expected = [reference.encode(t) for t in probes]
    for engine in engines:
        build = _BUILDERS.get(engine)
        if build is None:
            continue
        try:
            encode_count = build(reference, bpe, data, source)
        except (NotByteLevel, ValueError, RuntimeError, OSError, ImportError) as exc:
            log.debug("%s: %s cannot load it: %s", reference.path, engine, exc)
            continue
        if encode_count is None:
            continue
        encode, count = encode_count
        candidate = FastEncoder(engine, encode, count, reference, normalize)
        bad = next((t for t, ids in zip(probes, expected, strict=True) if candidate.encode(t) != ids
                    or candidate.count(t) != len(ids)), None)
        if bad is None:
            return candidate
        log.info("%s: %s differs from tokenizers on probe %r; not used", reference.path, engine, bad[:40])
    if bpe is None:
        log.debug("%s: kept tokenizers (%s)", reference.path, why)
    return reference


def _normalizer(reference: HFEncoder, bpe: ByteLevelBPE | None) -> Callable[[str], str] | None:
    if bpe is None or bpe.normalizer is None:
        return None
    return reference.normalize


Built = tuple[Callable[[str], list[int]], Callable[[str], int]] | None


def _quicktok(reference: HFEncoder, bpe: ByteLevelBPE | None, data: dict, source: bytes) -> Built:
    if bpe is None or len(bpe.patterns) != 1:
        return None
    import quicktok
    from quicktok import _import_core as qcore  # quicktok's own importer: file format and known grammars

    scanner = qcore.KNOWN_PATTERNS.get(bpe.patterns[0])
    if scanner is None or max(bpe.ranks.values()) >= 1 << 18:
        return None
    version = getattr(quicktok, "__version__", "0")
    where = _engine_dir("quicktok-" + version, source)
    if not (where / "v.enc").exists():
        bundled = Path(quicktok.__file__).parent / "data"
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=where.parent))
        try:
            qcore.write_files(str(tmp), "v", bpe.ranks, {}, scanner, False, 0)
            qcore.ensure_tables(str(tmp), str(bundled), scanner, False)
            try:
                tmp.rename(where)
            except OSError:  # another process wrote it first
                shutil.rmtree(tmp, ignore_errors=True)
        except qcore.ImportRefused as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ValueError(str(exc)) from None
    enc = quicktok.Tokenizer("v", str(where))
    return enc.encode_ordinary, enc.count


def _tiktoken(reference: HFEncoder, bpe: ByteLevelBPE | None, data: dict, source: bytes) -> Built:
    if bpe is None or len(bpe.patterns) != 1:
        return None
    import tiktoken

    enc = tiktoken.Encoding(name=f"tokcount-{_digest(source)[:12]}", pat_str=bpe.patterns[0],
                            mergeable_ranks=bpe.ranks, special_tokens={})
    return enc.encode_ordinary, lambda text: len(enc.encode_ordinary(text))


def _kitoken(reference: HFEncoder, bpe: ByteLevelBPE | None, data: dict, source: bytes) -> Built:
    if bpe is not None and bpe.normalizer is not None:
        return None  # kitoken would normalise with its own Unicode tables
    import kitoken

    enc = kitoken.Kitoken.from_tokenizers(source)
    return enc.encode, lambda text: len(enc.encode(text))


_BUILDERS: dict[str, Callable[[HFEncoder, ByteLevelBPE | None, dict, bytes], Built]] = {
    "quicktok": _quicktok,
    "tiktoken": _tiktoken,
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
