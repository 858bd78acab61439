"""Every vocabulary in ../shared/assets runs on a faster engine than ``tokenizers``, and that engine is identical to
``tokenizers`` (the reference for tokenizer.json files) on large, varied text: the whole corpus, the Python standard
library's sources, unicode edge cases (marks, NFC re-ordering, CJK, emoji sequences, private-use and unassigned code
points), long whitespace runs and numbers. Texts go through the production Tokenizer (added-token splitting, segment
cache, engine), and the oracle is ``tokenizers`` encoding the same whole text with ``add_special_tokens=False``.
"""

from __future__ import annotations

import random
import sysconfig
from pathlib import Path

import pytest
from tokenizers import Tokenizer as HFTokenizer

from support.shared import load_corpus
from tokcount import loader
from tokcount.models.catalog import default_catalog
from tokcount.tokenizers.fast import FastEncoder

#: model → the engine it must get (a change here is a speed regression or a new proof, never silent)
EXPECTED = {
    "qwen3-8b": "quicktok",
    "qwen3.5": "quicktok",
    "minimax-m2.5": "quicktok",
    "minimax-m3": "quicktok",
    "glm-4.5v": "splintr",
    "glm-4.7-flash": "splintr",
    "deepseek-v3.1": "splintr",
    "deepseek-v3.2": "splintr",
    "deepseek-v4": "splintr",
    "gemma-3-1b-it": "splintr",
    "llama-3.1": "quicktok",
    "gpt-oss-20b": "quicktok",
}


def _strings(value: object, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for v in value.values():
            _strings(v, out)
    elif isinstance(value, list):
        for v in value:
            _strings(v, out)


def _random_unicode(rnd: random.Random, n: int) -> str:
    pools = [(0x20, 0x7E)] * 6 + [(0x09, 0x0D), (0x20, 0x20), (0xA0, 0x2FF), (0x300, 0x36F), (0x370, 0x7FF),
                                  (0x900, 0xDFF), (0x1100, 0x1FFF), (0x2000, 0x2BFF), (0x3000, 0x33FF),
                                  (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xE000, 0xE0FF), (0xF900, 0xFFFD),
                                  (0x1F000, 0x1FAFF), (0x20000, 0x2FFFF), (0xE0000, 0xE01EF), (0x30, 0x39)]
    out = []
    for _ in range(n):
        lo, hi = rnd.choice(pools)
        c = rnd.randint(lo, hi)
        out.append(chr(c) if not 0xD800 <= c <= 0xDFFF else "x")
    return "".join(out)


@pytest.fixture(scope="module")
def texts() -> list[str]:
    out: list[str] = []
    for case in load_corpus():
        _strings(case, out)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for name in ("json/decoder.py", "email/_header_value_parser.py", "textwrap.py", "difflib.py", "argparse.py"):
        path = stdlib / name
        if path.exists():
            out.append(path.read_text(encoding="utf-8", errors="replace"))
    rnd = random.Random(7)
    out.extend(_random_unicode(rnd, rnd.randint(50, 5000)) for _ in range(120))
    out.extend(" " * n + "word" + "\n" * (n % 7) + "\t" * (n % 3) for n in range(1, 200, 3))
    out.extend("x" + " " * n + "z" + " " * (n // 2) for n in (255, 256, 257, 300, 511, 512, 513, 1100))
    out.extend(" ".join(str(rnd.randint(0, 10 ** rnd.randint(1, 30))) for _ in range(50)) for _ in range(20))
    out.append("\n".join(out[:200]))  # one long text with many added-token strings in it
    assert sum(map(len, out)) > 800_000
    return out


@pytest.mark.parametrize("model", sorted(EXPECTED))
def test_engine_is_fast_and_identical(model: str, texts: list[str]) -> None:
    loaded = loader.load(default_catalog().resolve(model))
    tok = loaded.tokenizer
    assert tok.engine == EXPECTED[model]
    assert isinstance(tok.encoder, FastEncoder)
    ref = HFTokenizer.from_file(str(loaded.tokenizer_path))
    mismatched = []
    for text in texts:
        expected = ref.encode(text, add_special_tokens=False).ids
        if tok.encode(text) != expected or tok.count(text) != len(expected):
            mismatched.append(text[:60])
    assert mismatched == []


@pytest.mark.parametrize("model", sorted(EXPECTED))
def test_batched_stretches_count_as_each_alone(model: str, texts: list[str]) -> None:
    """``count_many`` checks a batch's non-ASCII stretches for detours in one scan: batches of a prompt's ordinary
    stretches with and without one that needs NFC, a combining mark or a code point this Python does not know
    count as each stretch alone in ``tokenizers`` (a batch of one, or of ASCII only, takes a different path)."""
    loaded = loader.load(default_catalog().resolve(model))
    ref = HFTokenizer.from_file(str(loaded.tokenizer_path))
    odd = ["caf\u0065\u0301 au lait", "a\u0308b\u20dd", "mark \u1ae0 unassigned here", "\U0001f600 smile",
           "\uac00\u11a8"]
    rnd = random.Random(11)
    pool = [t[:3000] for t in texts[:400]]
    batches = [rnd.sample(pool, 12) for _ in range(30)]
    batches += [[*b[:6], o, *b[6:]] for b, o in zip(batches[:10], odd * 2, strict=True)]
    batches += [[t for t in b if t.isascii()] for b in batches[:5]] + [[o] for o in odd] + [["", "x", ""]]
    added = loaded.tokenizer.added
    for batch in batches:
        stretches = [p for t in batch for p in added.split_counts(t)[1]]  # what an engine is given: no added tokens
        expected = [len(ref.encode(t, add_special_tokens=False).ids) for t in stretches]
        assert loaded.tokenizer.encoder.count_many(stretches) == expected, [t[:30] for t in stretches]


def test_reference_engine_can_be_forced(use_settings) -> None:
    use_settings(engines=("tokenizers",))
    loader.clear()
    try:
        tok = loader.load(default_catalog().resolve("qwen3-8b")).tokenizer
        assert tok.engine == "tokenizers"
    finally:
        loader.clear()


def test_a_wrong_engine_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """An engine that disagrees with tokenizers on a probe is never used: break one and the next is chosen."""
    from tokcount.tokenizers import fast

    real = fast._BUILDERS["quicktok"]

    def off_by_one(*args: object) -> object:
        built = real(*args)
        assert built is not None
        encode = built._encode
        built._encode = lambda t: [*encode(t), 0] if "é" in t else encode(t)
        return built

    monkeypatch.setitem(fast._BUILDERS, "quicktok", off_by_one)
    loader.clear()
    try:
        tok = loader.load(default_catalog().resolve("qwen3-8b")).tokenizer
        assert tok.engine == "tiktoken"
    finally:
        loader.clear()


@pytest.mark.parametrize(("model", "fallback"), [("gemma-3-1b-it", "tokenizers"), ("deepseek-v4", "kitoken")])
def test_a_wrong_splintr_is_refused(monkeypatch: pytest.MonkeyPatch, model: str, fallback: str) -> None:
    """splintr off by one token on text with an "é" (several probes) is never used: Gemma 3 falls
    back to tokenizers, DeepSeek to kitoken, and counts stay those of tokenizers."""
    from tokcount.tokenizers import fast

    real = fast._BUILDERS["splintr"]

    def off_by_one(*args: object) -> object:
        built = real(*args)
        assert built is not None and built.engine == "splintr"
        encode, count = built._encode, built._count
        built._encode = lambda t: [*encode(t), 0] if "é" in t else encode(t)
        built._count = lambda t: count(t) + ("é" in t)
        return built

    monkeypatch.setitem(fast._BUILDERS, "splintr", off_by_one)
    loader.clear()
    try:
        loaded = loader.load(default_catalog().resolve(model))
        assert loaded.tokenizer.engine == fallback
        text = "The café   counts é\n\n日本語 123456"
        assert loaded.tokenizer.count(text) == len(HFTokenizer.from_file(str(loaded.tokenizer_path)).encode(
            text, add_special_tokens=False).ids)
    finally:
        loader.clear()


def test_splintr_needs_a_proven_vocabulary(monkeypatch: pytest.MonkeyPatch) -> None:
    """A vocabulary no test here proves does not get splintr, even though it passes the probes: Gemma 3 then keeps
    tokenizers (kitoken is not tried on SentencePiece-style files), DeepSeek gets kitoken and GLM tiktoken."""
    from tokcount.tokenizers import fast

    monkeypatch.setattr(fast, "SPLINTR_PROVEN", {})
    loader.clear()
    try:
        assert loader.load(default_catalog().resolve("gemma-3-1b-it")).tokenizer.engine == "tokenizers"
        assert loader.load(default_catalog().resolve("deepseek-v4")).tokenizer.engine == "kitoken"
        assert loader.load(default_catalog().resolve("glm-4.7-flash")).tokenizer.engine == "tiktoken"
    finally:
        loader.clear()


def _assigned_code_points() -> list[str]:
    import unicodedata

    return [chr(c) for c in range(0x110000)
            if not 0xD800 <= c <= 0xDFFF and unicodedata.category(chr(c)) not in ("Cn", "Cs")]


@pytest.mark.parametrize("model", sorted(EXPECTED))
def test_engines_agree_on_every_assigned_code_point(model: str) -> None:
    """Every code point this Python knows, next to letters, digits, spaces, punctuation and itself, encodes the same
    on the fast engine as in tokenizers (code points it does not know never reach the fast engine)."""
    loaded = loader.load(default_catalog().resolve(model))
    tok = loaded.tokenizer
    ref = HFTokenizer.from_file(str(loaded.tokenizer_path))
    chars = _assigned_code_points()
    mismatched = []
    for i in range(0, len(chars), 2000):
        text = "".join(f"a{c} {c}{c}.{c}1'{c}\n" for c in chars[i:i + 2000])
        if tok.count(text) != len(ref.encode(text, add_special_tokens=False).ids):
            mismatched.append(hex(ord(chars[i])))
    assert mismatched == []


@pytest.mark.parametrize("engine", ["quicktok", "splintr"])
def test_engines_are_only_trusted_on_vocabularies_proven_here(engine: str) -> None:
    """Every fingerprint quicktok or splintr is trusted on belongs to a vocabulary these tests prove; quicktok on
    another byte-level vocabulary (GLM's, which it gets wrong on 167 CJK characters after a space) is not used."""
    import json

    from tokcount.tokenizers.fast import QUICKTOK_PROVEN, SPLINTR_PROVEN, vocabulary_fingerprint

    trusted = {"quicktok": QUICKTOK_PROVEN, "splintr": SPLINTR_PROVEN}[engine]
    proven = set()
    for model, chosen in EXPECTED.items():
        path = loader.load(default_catalog().resolve(model)).tokenizer_path
        fingerprint = vocabulary_fingerprint(json.loads(path.read_text(encoding="utf-8")))
        if chosen == engine:
            proven.add(fingerprint)
        else:
            assert fingerprint not in trusted
    assert proven == set(trusted)
