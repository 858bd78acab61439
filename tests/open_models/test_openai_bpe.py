"""The bundled o200k_base vocabulary (quicktok) is the one gpt-oss's tokenizer.json holds, which the asset README
proves equal to tiktoken's pinned o200k_base file on all 199998 ranks. (cl100k_base is proven against tiktoken's
pinned file by bench/prove_openai_vocab.py; results in docs/closed-models.md.)"""

from __future__ import annotations

import json

import pytest
from tokenizers import Tokenizer

from support.shared import HUB, load_corpus
from tokcount.tokenizers.bytelevel import byte_decoder
from tokcount.tokenizers.openai_bpe import encoder

GPT_OSS = HUB / "openai" / "gpt-oss-20b" / "tokenizer.json"


@pytest.fixture(scope="module")
def hf() -> Tokenizer:
    return Tokenizer.from_file(str(GPT_OSS))


def test_every_o200k_rank_matches_gpt_oss() -> None:
    vocab = json.loads(GPT_OSS.read_text(encoding="utf-8"))["model"]["vocab"]
    dec = byte_decoder()
    enc = encoder("o200k_base")
    ranks = {i: bytes(dec[ch] for ch in tok) for tok, i in vocab.items() if i < 199998}
    assert len(ranks) == 199998
    mismatched = [i for i, b in ranks.items() if enc.token_bytes(i) != b]
    assert mismatched == []


def test_texts_encode_like_tokenizers(hf: Tokenizer) -> None:
    enc = encoder("o200k_base")
    texts = ["Tell me a joke.", "お誕生日おめでとう", "  x\t\n\n y ", "😀👍🏽 ZWJ 👨‍👩‍👧", "3.14159e-10 1234567"]
    for case in load_corpus()[:60]:
        for m in case["messages"]:
            if isinstance(m.get("content"), str):
                texts.append(m["content"])
    # gpt-oss's tokenizer.json splits off its added tokens (<|endoftext|>, ...); the API encodes them as text
    specials = [t.content for t in hf.get_added_tokens_decoder().values()]
    texts = [t for t in texts if not any(s in t for s in specials)]
    assert len(texts) > 60
    for t in texts:
        assert enc.encode(t) == hf.encode(t, add_special_tokens=False).ids, t
        assert enc.count(t) == enc.count(t) == len(enc.encode(t)), t  # once counted, once from the segment cache


def test_special_token_text_is_ordinary_text() -> None:
    enc = encoder("o200k_base")
    assert enc.count("<|endoftext|>") > 1
    assert encoder("cl100k_base").count("<|endoftext|>") > 1
