"""A small vocabulary built by the tests, for models whose real vocabulary is not reachable here (StepFun).

They are trained on the shared corpus, so real chats tokenize into many multi-byte tokens and the code paths (file
formats, split patterns, added tokens, real chat templates) are exercised as in production.
"""

from __future__ import annotations

import json
from pathlib import Path

from support.shared import load_corpus


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
