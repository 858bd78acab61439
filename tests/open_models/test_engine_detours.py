"""Texts a fast engine handles badly go to ``tokenizers`` instead, exactly and in time: the whitespace-run guard
(splintr's SentencePiece path is quadratic in long whitespace runs with line breaks or tabs, measured 8.8 s on
160k characters of ``"\\r\\n"`` for Gemma 3) and where it applies."""

from __future__ import annotations

import random
import time

import pytest
from tokenizers import Tokenizer as HFTokenizer

from tokcount import loader
from tokcount.models.catalog import default_catalog
from tokcount.tokenizers.fast import FastEncoder
from tokcount.tokenizers.unicode_guard import SPACE_BLOCK, has_long_space_run

WHITESPACE = " \t\n\r\x0b\x0c\x85\xa0\u2028\u3000"


def _words(rnd: random.Random, n: int) -> str:
    return "".join(rnd.choice("abcdefgh.,;XYZ日本") for _ in range(n))


def test_every_run_of_twice_the_block_is_found_wherever_it_starts() -> None:
    rnd = random.Random(5)
    for start in range(0, 2 * SPACE_BLOCK + 3, 7):
        run = "".join(rnd.choice(WHITESPACE) for _ in range(2 * SPACE_BLOCK - 1))
        text = _words(rnd, start) + run + _words(rnd, rnd.randint(0, 40))
        assert has_long_space_run(text), start


def test_short_runs_and_long_text_without_runs_are_not_flagged() -> None:
    rnd = random.Random(6)
    pieces = []
    for _ in range(2000):
        pieces.append(_words(rnd, rnd.randint(1, 30)))
        pieces.append("".join(rnd.choice(WHITESPACE) for _ in range(rnd.randint(1, SPACE_BLOCK - 1))))
    assert not has_long_space_run("".join(pieces))
    assert not has_long_space_run("x" * 100_000)
    assert not has_long_space_run(" " * (SPACE_BLOCK - 1))
    assert has_long_space_run("\n" * SPACE_BLOCK)


@pytest.fixture(scope="module")
def gemma() -> tuple[object, HFTokenizer]:
    loaded = loader.load(default_catalog().resolve("gemma-3-1b-it"))
    return loaded.tokenizer, HFTokenizer.from_file(str(loaded.tokenizer_path))


@pytest.mark.parametrize("run", ["\r\n", " \n", "  \n\n\t\t", "\n\u3000"])
def test_gemma_long_whitespace_runs_are_exact_and_answered_in_time(gemma: tuple[object, HFTokenizer],
                                                                     run: str) -> None:
    tok, ref = gemma
    assert tok.engine == "splintr"  # type: ignore[attr-defined]
    text = "Intro paragraph, then a pasted blob:" + run * (160_000 // len(run)) + "the end 日本語"
    assert tok.encoder._route(text)[1] is tok.encoder.reference  # type: ignore[attr-defined]
    started = time.monotonic()
    counted = tok.count(text)  # type: ignore[attr-defined]
    assert time.monotonic() - started < 5
    assert counted == len(ref.encode(text, add_special_tokens=False).ids)
    assert tok.encode(text) == ref.encode(text, add_special_tokens=False).ids  # type: ignore[attr-defined]


def test_gemma_ordinary_text_stays_on_splintr(gemma: tuple[object, HFTokenizer]) -> None:
    tok, ref = gemma
    text = "def f(x):\n    return x  # short runs\n\n\n" * 2000
    assert isinstance(tok.encoder, FastEncoder)  # type: ignore[attr-defined]
    assert tok.encoder._route(text)[1] is None  # type: ignore[attr-defined]
    assert tok.count(text) == len(ref.encode(text, add_special_tokens=False).ids)  # type: ignore[attr-defined]


def test_deepseek_has_no_whitespace_detour() -> None:
    """splintr's byte-level path was measured linear on the same runs (400k newlines in 0.1 s): no detour."""
    loaded = loader.load(default_catalog().resolve("deepseek-v4"))
    tok = loaded.tokenizer
    assert tok.engine == "splintr"
    text = " \r\n" * 50_000
    assert tok.encoder._route(text)[1] is None
    started = time.monotonic()
    counted = tok.count(text)
    assert time.monotonic() - started < 5
    ref = HFTokenizer.from_file(str(loaded.tokenizer_path))
    assert counted == len(ref.encode(text, add_special_tokens=False).ids)


@pytest.mark.parametrize("model", ["gemma-3-1b-it", "deepseek-v4", "glm-4.7-flash"])
def test_splintr_is_exact_from_several_threads_at_once(model: str) -> None:
    """The server counts in a thread pool: splintr (with its internal chunk cache on byte-level files) gives each
    thread the ids tokenizers gives, with four threads encoding different texts at the same time (Gemma 3, DeepSeek
    and GLM)."""
    from concurrent.futures import ThreadPoolExecutor

    loaded = loader.load(default_catalog().resolve(model))
    tok = loaded.tokenizer
    assert tok.engine == "splintr"
    ref = HFTokenizer.from_file(str(loaded.tokenizer_path))
    rnd = random.Random(11)
    words = ["alpha", " beta", "日本語", "\n\n", "  ", "123", "4567", "café", "🚀", "{\"k\": [1, 2]}", "\t", "Ω"]
    texts = ["".join(rnd.choice(words) for _ in range(rnd.randint(50, 3000))) for _ in range(64)]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(tok.encoder.encode, texts))
    assert got == [ref.encode(t, add_special_tokens=False).ids for t in texts]
