"""Small vocabularies built by the tests, for models whose real vocabulary is not reachable here (Kimi, StepFun).

They are trained on the shared corpus, so real chats tokenize into many multi-byte tokens and the code paths (file
formats, split patterns, added tokens, real chat templates) are exercised as in production.
"""

from __future__ import annotations

import base64
import collections
import itertools
import json
import re
from pathlib import Path

from conftest import load_corpus


def corpus_text() -> str:
    parts = []
    for case in load_corpus():
        for m in case["messages"]:
            c = m.get("content")
            if isinstance(c, str):
                parts.append(c)
            elif isinstance(c, list):
                parts.extend(p.get("text", "") for p in c if p.get("type") == "text")
    return "\n".join(parts)


def train_byte_bpe_ranks(text: str, merges: int = 300) -> dict[bytes, int]:
    """A tiny byte-level BPE trained greedily (most frequent adjacent pair first) on whitespace-split words."""
    words = collections.Counter(re.findall(r" ?\S+|\s+", text))
    seqs = {w: [bytes([b]) for b in w.encode("utf-8")] for w in words}
    ranks = {bytes([i]): i for i in range(256)}
    for _ in range(merges):
        pairs: collections.Counter = collections.Counter()
        for w, seq in seqs.items():
            for a, b in itertools.pairwise(seq):
                pairs[(a, b)] += words[w]
        if not pairs:
            break
        (a, b), _count = pairs.most_common(1)[0]
        merged = a + b
        if merged in ranks:
            break
        ranks[merged] = len(ranks)
        for w, seq in seqs.items():
            out, i = [], 0
            while i < len(seq):
                if i + 1 < len(seq) and seq[i] == a and seq[i + 1] == b:
                    out.append(merged)
                    i += 2
                else:
                    out.append(seq[i])
                    i += 1
            seqs[w] = out
    return ranks


def write_tiktoken_file(path: Path, ranks: dict[bytes, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{base64.b64encode(tok).decode()} {rank}" for tok, rank in sorted(ranks.items(), key=lambda x: x[1])]
    path.write_text("\n".join(lines) + "\n")


STEP_SPECIALS = ["<|BOT|>", "<|EOT|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>", "<tool_call>",
                 "</tool_call>", "<tool_response>", "</tool_response>", "<im_patch>"]


def write_step_tokenizer(dir_: Path, text: str) -> None:
    """A byte-level BPE ``tokenizer.json`` (Qwen-style split) with StepFun's chat markers as added tokens."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    split = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
             r"|\s*[\r\n]+|\s+(?!\S)|\s+")
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(split), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1200, special_tokens=STEP_SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([text], trainer=trainer)
    dir_.mkdir(parents=True, exist_ok=True)
    tok.save(str(dir_ / "tokenizer.json"))
    (dir_ / "tokenizer_config.json").write_text(json.dumps({"bos_token": "<|BOT|>", "eos_token": "<|EOT|>"}))
