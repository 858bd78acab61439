"""Tokenizer files whose regular expressions no vetted model uses: in the server, run in a render process.

A ``tokenizer.json`` carries regular expressions (the pre-tokenizer's ``Split``, a normalizer's ``Replace``) that
the ``tokenizers`` library runs with a backtracking engine (Oniguruma). One written to backtrack catastrophically
holds a thread for seconds on a few kB of text, and a pattern the engine mishandles can panic the Rust side; no
check inside the call can stop either. The patterns of the tokenizer files tokcount is tested on are known and
safe (``vetted_patterns.json``, kept complete by tests/templates/test_tokenizer_isolation.py); a file with any other
pattern gets an :class:`IsolatedEncoder`, whose calls that run the file's pipeline go, in the server, to a render
process (:mod:`..templates.render_pool`: memory capped, killed past the render budget, lowest priority once slow). The
library and the CLI, whose user chose the file, run it in process. Faster engines are never used for such a file
(their proof of equality says nothing about a pattern nobody vetted).
"""

from __future__ import annotations

import json
import pickle
from functools import lru_cache
from importlib.resources import files
from typing import Any

from ..templates import limits
from .hf import HFEncoder


@lru_cache(maxsize=1)
def vetted() -> frozenset[str]:
    """The regular expressions of the tokenizer files tokcount is tested on."""
    data = json.loads(files(__package__).joinpath("vetted_patterns.json").read_text(encoding="utf-8"))
    return frozenset(entry["pattern"] for entry in data["patterns"])


def patterns(data: Any) -> list[str]:
    """Every regular expression (``{"Regex": ...}``) in a parsed ``tokenizer.json`` outside its vocabulary."""
    found: list[str] = []
    stack: list[Any] = [v for k, v in data.items() if k not in ("model", "added_tokens")] \
        if isinstance(data, dict) else [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            regex = node.get("Regex")
            if isinstance(regex, str) and len(node) == 1:
                found.append(regex)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def unvetted(data: Any) -> list[str]:
    """The patterns of ``data`` that no vetted file uses."""
    known = vetted()
    return [p for p in patterns(data) if p not in known]


class IsolatedEncoder:
    """:class:`.HFEncoder` whose pipeline runs in a render process where the active limits say ``isolated``."""

    engine = "tokenizers"
    decodes_added = True

    def __init__(self, local: HFEncoder, source: str) -> None:
        self.local = local
        self.source = source

    def _call(self, op: str, arg: Any) -> Any:
        bounds = limits.configured()
        if not bounds.isolated:
            return getattr(self.local, op)(arg)
        from ..templates.render_pool import pool

        payload = pickle.dumps(("tokenizer", op, arg), protocol=pickle.HIGHEST_PROTOCOL)
        return pool(bounds).call(self.source, payload, bounds, what="The model's tokenizer")

    def encode(self, text: str) -> list[int]:
        ids: list[int] = self._call("encode", text)
        return ids

    def count(self, text: str) -> int:
        n: int = self._call("count", text)
        return n

    def count_many(self, texts: list[str]) -> list[int]:
        counts: list[int] = self._call("count_many", list(texts))
        return counts

    def normalize(self, text: str) -> str:
        out: str = self._call("normalize", text)
        return out

    def id_to_string(self, token_id: int) -> str:
        return self.local.id_to_string(token_id)

    def decode(self, ids: list[int]) -> str:
        """Text of ``ids``; an id outside the vocabulary raises ``ValueError`` here, before any process is asked."""
        self.local.check_ids(ids)
        out: str = self._call("decode", ids)
        return out
