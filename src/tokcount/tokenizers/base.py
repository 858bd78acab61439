"""The interface every tokenizer engine implements for *ordinary* text (no added/special tokens in it)."""

from __future__ import annotations

from typing import Protocol


class Encoder(Protocol):
    """Encodes text that contains no added tokens; added tokens are split off before it is called."""

    #: short engine name reported in count metadata (``tokenizers``, ``tiktoken``, ``quicktok``)
    engine: str

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``."""
        ...

    def count(self, text: str) -> int:
        """Number of tokens of ``text`` (may be faster than ``len(encode(text))``)."""
        ...

    def count_many(self, texts: list[str]) -> list[int]:
        """Counts of several texts at once, so an engine can batch or parallelise."""
        ...

    def id_to_string(self, token_id: int) -> str:
        """The token's text (byte-level tokens shown in the vocabulary's own spelling)."""
        ...
