"""Kimi's vocabulary and special-token table, rebuilt from the copy the ``splintr-rs`` package bundles.

Moonshot publishes Kimi's tokenizer only as ``tiktoken.model`` files on the Hugging Face Hub (K2, K2.5, K2.6 share
one), so a fresh install without network access had no Kimi model at all. ``splintr-rs`` (already a dependency)
bundles the same vocabulary and its public API gives every rank's bytes, so the file can be written out again
byte for byte. Nothing here is trusted on its word: the rebuilt bytes must have the sha256 and size public model
registries pin for Moonshot's own file (:data:`VOCAB_SHA256`), or the build is refused with both hashes named
(another splintr release could bundle something else; a count on it would be silently wrong).

The special-token table (ids 163584..163839) is what Moonshot's ``tokenizer_config.json`` declares: splintr names
the same 23 tokens (the tests compare them with ../shared's Kimi-K2.6 config), and the rest are
``<|reserved_token_N|>`` as Moonshot's ``tokenization_kimi.py`` names them. It is written as a small
``tokenizer_config.json`` whose bytes are pinned too (:data:`CONFIG_SHA256`).
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

#: Moonshot's ``tiktoken.model`` (Kimi-K2-Instruct, -0905, K2.5, K2.6, K3): sha256 and size pinned by public
#: model registries; llama.cpp's tokenizer check on it gives its ``kimi-k2`` entry
#: (``81212dc7cdb7e0c1074ca62c5aeab0d43c9f52b8a737be7b12a777c953027890``)
VOCAB_SHA256 = "b6c497a7469b33ced9c38afb1ad6e47f03f5e5dc05f15930799210ec050c5103"
VOCAB_BYTES = 2_795_286
#: ranks 0..163583 are in the file; 256 special ids follow it
N_BASE = 163_584
N_SPECIAL = 256
#: sha256 of :func:`config`'s bytes: the 23 named special ids of Moonshot's ``added_tokens_decoder``, their
#: ``special`` flags and the bos/eos/pad/unk names
CONFIG_SHA256 = "5d719a38cd7780b0771ae9b6e838e3ad7f3503e886f0e0c1430d7a15dbf83b19"
#: added tokens Moonshot's config marks ``"special": false`` (they still split out as one token each)
NOT_SPECIAL = frozenset({"<|tool_calls_section_begin|>", "<|tool_calls_section_end|>", "<|tool_call_begin|>",
                         "<|tool_call_argument_begin|>", "<|tool_call_end|>", "<think>", "</think>"})


class Refused(Exception):
    """A rebuilt file whose digest is not the pinned one: never used, so never a silently wrong count."""


def _splintr() -> Any:
    import splintr

    return splintr.Tokenizer.from_pretrained("kimi_k2")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def vocabulary() -> bytes:
    """Moonshot's ``tiktoken.model`` (``<base64 bytes> <rank>`` lines), verified against :data:`VOCAB_SHA256`."""
    tok = _splintr()
    data = b"".join(base64.b64encode(tok.decode_token_bytes(i)) + b" %d\n" % i for i in range(N_BASE))
    check("tiktoken.model", data, VOCAB_SHA256)
    return data


def special_names() -> dict[int, str]:
    """The special ids splintr names (the others are reserved)."""
    tok = _splintr()
    names = {}
    for i in range(N_BASE, N_BASE + N_SPECIAL):
        name = tok.decode_with_special([i])
        if name and name != f"<|reserved_token_{i}|>":
            names[i] = name
    return names


def config() -> bytes:
    """A ``tokenizer_config.json`` holding what counting reads from Moonshot's: the added tokens and the
    bos/eos/unk/pad names (no chat template: Kimi K2.5 and K2.6 keep theirs in ``chat_template.jinja``), verified
    against :data:`CONFIG_SHA256`."""
    decoder = {str(i): {"content": n, "special": n not in NOT_SPECIAL} for i, n in special_names().items()}
    data = {"added_tokens_decoder": decoder, "bos_token": "[BOS]", "eos_token": "[EOS]", "pad_token": "[PAD]",
            "unk_token": "[UNK]"}
    out = json.dumps(data, indent=2, ensure_ascii=False).encode() + b"\n"
    check("tokenizer_config.json", out, CONFIG_SHA256)
    return out


def check(what: str, data: bytes, expected: str) -> None:
    """Refuse ``data`` unless its sha256 is ``expected``, naming both digests."""
    got = _sha256(data)
    if got != expected:
        raise Refused(f"{what} rebuilt from the installed splintr-rs has sha256 {got} ({len(data):,} bytes), not the "
                      f"pinned {expected}: that splintr-rs bundles another vocabulary, so it is not used")
