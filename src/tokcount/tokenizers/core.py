"""The tokenizer facade the engine uses: added-token splitting + an ordinary-text encoder + a segment cache."""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from itertools import islice

from .added import AddedToken, AddedTokens
from .base import Encoder


def _default_cache_chars() -> int:
    """The ``segment_cache_mb`` setting (``TOKCOUNT_SEGMENT_CACHE_MB``) in characters."""
    from .. import config

    return int(config.current().segment_cache_mb * 1_000_000)


#: every live segment cache, so the server's metrics can sum their hit/miss counters without a hook in get()
CACHES: weakref.WeakSet[SegmentCache] = weakref.WeakSet()


class SegmentCache:
    """Bounded LRU of segment → token count. Exact because a segment's count depends on its text alone.

    The key is the segment itself (no hash collisions to reason about), so the bound is on the characters held as
    well as on the entries; one segment larger than a quarter of the bound is never kept. Locked because the
    server counts in a thread pool: without it, one thread's eviction can remove the key another thread is moving
    to the end (a KeyError in an unrelated request)."""

    def __init__(self, max_entries: int = 50_000, max_chars: int | None = None) -> None:
        self.max_entries = max_entries
        self.max_chars = _default_cache_chars() if max_chars is None else max_chars
        self._data: OrderedDict[str, int] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        CACHES.add(self)  # tokcount.metrics reads the totals at most once a second: nothing added to get()

    def get(self, text: str) -> int | None:
        with self._lock:
            n = self._data.get(text)
            if n is not None:
                self._data.move_to_end(text)
                self.hits += 1
            else:
                self.misses += 1
            return n

    def get_many(self, texts: list[str]) -> list[int | None]:
        """:meth:`get` of each text under one lock (a prompt of many messages has thousands of segments)."""
        data = self._data
        with self._lock:
            found = [data.get(t) for t in texts]
            move = data.move_to_end
            hits = 0
            for t, n in zip(texts, found, strict=True):
                if n is not None:
                    move(t)
                    hits += 1
            self.hits += hits
            self.misses += len(texts) - hits
        return found

    def put_many(self, texts: list[str], counts: list[int]) -> None:
        """:meth:`put` of each pair under one lock."""
        limit = self.max_chars
        with self._lock:
            for text, n in zip(texts, counts, strict=True):
                if len(text) * 4 > limit or text in self._data:
                    continue
                self._data[text] = n
                self._chars += len(text)
            while len(self._data) > self.max_entries or self._chars > self.max_chars:
                old, _ = self._data.popitem(last=False)
                self._chars -= len(old)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._chars = 0

    @property
    def chars(self) -> int:
        return self._chars

    def __len__(self) -> int:
        return len(self._data)

    def put(self, text: str, n: int) -> None:
        if len(text) * 4 > self.max_chars:
            return
        with self._lock:
            if text in self._data:
                return
            self._data[text] = n
            self._chars += len(text)
            while len(self._data) > self.max_entries or self._chars > self.max_chars:
                old, _ = self._data.popitem(last=False)
                self._chars -= len(old)


#: segments shorter than this skip the LRU (its lock and recency update cost more than re-encoding them) and are
#: remembered in a plain dict instead (:attr:`Tokenizer.short_counts`)
MIN_CACHED_CHARS = 64
#: the short-segment dict is emptied when it would pass this many entries (at most ~6 MB of text): short stretches
#: recur from request to request ("\n" between turns, a role header, Gemma's stretches between its newline tokens),
#: so a look-up (~0.1 us) replaces an engine call and its Python wrapping (~1-2 us); a 50-turn Gemma 3
#: conversation re-sent holds ~2,600 of them
SHORT_ENTRIES = 100_000
#: uncached text at least this long is counted on two threads where the engine releases the GIL (GLM on
#: tiktoken, cold ~100k-token chat: 14.8 -> 11.2 ms)
PARALLEL_CHARS = 100_000
_helper_pool: ThreadPoolExecutor | None = None
_helper_lock = threading.Lock()


def _helper() -> ThreadPoolExecutor:
    """One extra counting thread per process, shared by every tokenizer (the machine has two cores)."""
    global _helper_pool
    with _helper_lock:
        if _helper_pool is None:
            _helper_pool = ThreadPoolExecutor(1, thread_name_prefix="tokcount-segments")
        return _helper_pool


class Tokenizer:
    """One model's tokenizer: counts and encodes rendered prompts, special-token strings included."""

    def __init__(self, name: str, encoder: Encoder, added: AddedTokens,
                 special_tokens: dict[str, str] | None = None, *, cache_entries: int = 50_000) -> None:
        self.name = name
        self.encoder = encoder
        self.added = added
        self.special_tokens = dict(special_tokens or {})
        self.cache = SegmentCache(cache_entries)
        #: short segment → count (see SHORT_ENTRIES); a dict's get and update are atomic under the GIL
        self.short_counts: dict[str, int] = {}

    @property
    def engine(self) -> str:
        return self.encoder.engine

    def count(self, text: str) -> int:
        """Tokens of ``text`` with added tokens recognised, no BOS/EOS added."""
        return self.count_many((text,))[0]

    def count_many(self, texts: list[str] | tuple[str, ...]) -> list[int]:
        """Tokens of each text, as :meth:`count` would give them, in one pass: one cache look-up per long segment
        and a single batch call to the engine for everything not cached (a breakdown counts hundreds of message
        strings; one engine call each was most of its cost)."""
        totals = [0] * len(texts)
        short: list[str] = []
        short_of: list[int] = []
        misses: list[str] = []
        miss_of: list[int] = []
        long: list[str] = []
        long_of: list[int] = []
        for i, text in enumerate(texts):
            n, pieces = self.added.split_counts(text)
            totals[i] = n
            for piece in pieces:
                if len(piece) < MIN_CACHED_CHARS:
                    short.append(piece)
                    short_of.append(i)
                else:
                    long.append(piece)
                    long_of.append(i)
        if long:
            for piece, i, cached in zip(long, long_of, self.cache.get_many(long), strict=True):
                if cached is None:
                    misses.append(piece)
                    miss_of.append(i)
                else:
                    totals[i] += cached
        if misses:
            counts = self._count_misses(misses)
            self.cache.put_many(misses, counts)
            for i, n in zip(miss_of, counts, strict=True):
                totals[i] += n
        if short:
            known = self.short_counts
            found = [known.get(t) for t in short]
            new = list({t: None for t, n in zip(short, found, strict=True) if n is None})  # each once, in order
            if new:
                counted = dict(zip(new, self.encoder.count_many(new), strict=True))
                if len(known) + len(counted) > SHORT_ENTRIES:
                    known.clear()
                known.update(islice(counted.items(), SHORT_ENTRIES))
                found = [n if n is not None else counted[t] for t, n in zip(short, found, strict=True)]
            for i, m in zip(short_of, found, strict=True):
                totals[i] += m or 0  # every None was filled
        return totals

    def clear_caches(self) -> None:
        """Forget every remembered segment count (the next count is computed as if cold)."""
        self.cache.clear()
        self.short_counts.clear()

    def _count_misses(self, pieces: list[str]) -> list[int]:
        """Counts of uncached segments; a large cold prompt is split over two threads when the engine releases the
        GIL (each segment is counted whole, so the split changes nothing but the time)."""
        if not getattr(self.encoder, "releases_gil", False) or len(pieces) < 2 \
                or sum(map(len, pieces)) < PARALLEL_CHARS:
            return self.encoder.count_many(pieces)  # tokenizers batches them over its own threads
        # two bins of about equal length, longest segments placed first
        order = sorted(range(len(pieces)), key=lambda i: -len(pieces[i]))
        bins: tuple[list[int], list[int]] = ([], [])
        sizes = [0, 0]
        for i in order:
            b = 0 if sizes[0] <= sizes[1] else 1
            bins[b].append(i)
            sizes[b] += len(pieces[i])
        counts = [0] * len(pieces)

        def run(indices: list[int]) -> None:
            for i, n in zip(indices, self.encoder.count_many([pieces[i] for i in indices]), strict=True):
                counts[i] = n

        future = _helper().submit(run, bins[1])
        run(bins[0])
        future.result()
        return counts

    def count_plain(self, text: str) -> int:
        """Tokens of ``text`` as content (added-token strings in it still recognised, as in a prompt)."""
        return self.count(text)

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for piece in self.added.split(text):
            if isinstance(piece, AddedToken):
                ids.append(piece.id)
            else:
                ids.extend(self.encoder.encode(piece))
        return ids

    def decode(self, ids: list[int]) -> str:
        """The text of ``ids`` (added tokens as their strings); an id outside the vocabulary raises ``ValueError``."""
        if getattr(self.encoder, "decodes_added", False):
            return self.encoder.decode(ids)  # type: ignore[attr-defined]
        out = bytearray()
        run: list[int] = []
        for i in ids:
            tok = self.added.by_id.get(i)
            if tok is None:
                run.append(i)
                continue
            if run:
                out += self.encoder.decode_bytes(run)  # type: ignore[attr-defined]
                run = []
            out += tok.content.encode("utf-8")
        if run:
            out += self.encoder.decode_bytes(run)  # type: ignore[attr-defined]
        return out.decode("utf-8", errors="replace")

    def id_to_string(self, token_id: int) -> str:
        tok = self.added.by_id.get(token_id)
        return tok.content if tok is not None else self.encoder.id_to_string(token_id)
