"""tiktoken-format BPE files (``<base64 token> <rank>`` per line): Kimi's ``tiktoken.model``, Qwen ``*.tiktoken``,
OpenAI encodings. The split pattern is not in the file, so the catalog gives it."""

from __future__ import annotations

from pathlib import Path

import tiktoken
from tiktoken.load import load_tiktoken_bpe


class TiktokenEncoder:
    engine = "tiktoken"

    def __init__(self, name: str, path: Path | None = None, pat_str: str = "", *,
                 encoding: tiktoken.Encoding | None = None) -> None:
        if encoding is None:
            if path is None or not pat_str:
                raise ValueError("a tiktoken file needs a path and its split pattern")
            ranks = load_tiktoken_bpe(str(path))
            encoding = tiktoken.Encoding(name=name, pat_str=pat_str, mergeable_ranks=ranks, special_tokens={})
        self._enc = encoding
        self.n_vocab = encoding.n_vocab

    def encode(self, text: str) -> list[int]:
        return self._enc.encode_ordinary(text)

    def count(self, text: str) -> int:
        return len(self._enc.encode_ordinary(text))

    def count_many(self, texts: list[str]) -> list[int]:
        return [len(ids) for ids in self._enc.encode_ordinary_batch(texts)] if len(texts) > 8 else [
            len(self._enc.encode_ordinary(t)) for t in texts
        ]

    decodes_added = False

    def decode_bytes(self, ids: list[int]) -> bytes:
        """Bytes of ordinary-vocabulary ``ids``; an unknown id raises ``ValueError``."""
        try:
            return self._enc.decode_bytes(ids)
        except KeyError as exc:
            raise ValueError(f"token id {exc.args[0]} is not in the vocabulary") from None

    def id_to_string(self, token_id: int) -> str:
        try:
            return self._enc.decode_single_token_bytes(token_id).decode("utf-8", errors="replace")
        except KeyError:
            return ""
