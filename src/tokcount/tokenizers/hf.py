"""Hugging Face ``tokenizer.json`` through the ``tokenizers`` Rust library: the reference for these files."""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Tokenizer as HFTokenizer

from .added import AddedToken, AddedTokens


class HFEncoder:
    """Ordinary-text encoding with the file's own pipeline (normalizer, pre-tokenizer, model)."""

    engine = "tokenizers"
    #: the calls a render process may be asked to make on one (tokenizers/isolated.py)
    CALLS = frozenset({"encode", "count", "count_many", "normalize", "decode"})

    def __init__(self, path: Path | None, source: str | None = None) -> None:
        self.path = path
        if source is None and path is None:
            raise ValueError("HFEncoder needs a path or the file's text")
        self._tok = HFTokenizer.from_str(source) if source is not None else HFTokenizer.from_file(str(path))
        # Templates write BOS/EOS themselves; the post-processor must not add them again.
        self._tok.no_truncation()
        self._tok.no_padding()

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text, add_special_tokens=False).ids

    def count(self, text: str) -> int:
        return len(self._tok.encode(text, add_special_tokens=False).ids)

    def count_many(self, texts: list[str]) -> list[int]:
        if len(texts) == 1:
            return [self.count(texts[0])]
        return [len(e.ids) for e in self._tok.encode_batch(texts, add_special_tokens=False)]

    def id_to_string(self, token_id: int) -> str:
        return self._tok.id_to_token(token_id) or ""

    def normalize(self, text: str) -> str:
        """``text`` through the file's own normalizer (faster engines are fed this, see :mod:`.fast`)."""
        normalizer = self._tok.normalizer
        return normalizer.normalize_str(text) if normalizer is not None else text

    #: the file's own decoder knows its added tokens, so whole id lists are decoded in one call
    decodes_added = True

    def check_ids(self, ids: list[int]) -> None:
        """Raise ``ValueError`` naming the first id outside the vocabulary."""
        size = self._tok.get_vocab_size(with_added_tokens=True)
        bad = next((i for i in ids if i >= size or self._tok.id_to_token(i) is None), None)
        if bad is not None:
            raise ValueError(f"token id {bad} is not in the vocabulary")

    def decode(self, ids: list[int]) -> str:
        """Text of ``ids`` with the file's decoder; an id outside the vocabulary raises ``ValueError``."""
        self.check_ids(ids)
        return self._tok.decode(ids, skip_special_tokens=False)


def added_tokens_of(path: Path, data: dict | None = None) -> AddedTokens:
    """The ``added_tokens`` of a ``tokenizer.json`` (its parsed ``data`` if already read), with their flags."""
    if data is None:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    return AddedTokens(
        AddedToken(
            content=t["content"],
            id=int(t["id"]),
            special=bool(t.get("special", True)),
            lstrip=bool(t.get("lstrip", False)),
            rstrip=bool(t.get("rstrip", False)),
            single_word=bool(t.get("single_word", False)),
        )
        for t in data.get("added_tokens", [])
    )
