"""The tokenizer facade the engine uses: added-token splitting + an ordinary-text encoder + a segment cache."""

from __future__ import annotations

import threading
import weakref
from bisect import bisect_right
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from itertools import accumulate, compress, islice, repeat
from operator import is_
from typing import Any

from .added import AddedToken, AddedTokens
from .base import Encoder


def _default_cache_chars() -> int:
    """The ``segment_cache_mb`` setting (``TOKCOUNT_SEGMENT_CACHE_MB``) in characters."""
    from .. import settings_in_force

    return int(settings_in_force.current().segment_cache_mb * 1_000_000)


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


def common_prefix(a: str, b: str) -> int:
    """A length ``n`` with ``a[:n] == b[:n]``, at most 1,024 characters short of the longest: blocks are compared
    (each a memory compare in C), growing while equal and shrinking past a difference, so two 300 kB prompts
    that share most of their text are compared in ~20 slices, not a Python step per character."""
    end = min(len(a), len(b))
    i, step = 0, 4096
    while i < end:
        j = min(i + step, end)
        if a[i:j] == b[i:j]:
            i, step = j, step * 2
        elif step > 1024:
            step //= 4
        else:
            break
    return i


def _entry_size(text: str, parts: list[str]) -> int:
    return 2 * len(text) + 8 * len(parts)


class PromptMemory:
    """Recent long prompts with their added-token split and stretch counts, so a prompt that begins like one of
    them (a conversation re-sent with a new turn) is split and counted only from where it may differ.

    Why that is exact: a prompt's count is its added tokens plus the engine's count of each stretch between them.
    Where two prompts agree on their first ``L`` characters, the added-token splitter (a trie of literals, no
    look-around: :attr:`.added.AddedTokens.bounded`) finds the same matches in both at every position ``p`` with
    ``p + longest <= L`` (what it reads from ``p`` is the same), so an added token of the old prompt starting at
    ``b <= L - longest`` starts there in the new one too, with the same stretches and tokens before it; splitting
    the new prompt from ``b`` gives what splitting it whole gives from ``b`` (nothing before ``b`` is read). The
    count is then the remembered count before ``b`` plus the count of the rest. Which remembered prompt is tried
    (the one with the same first :data:`KEY_CHARS` characters) changes only how much is reused, never the count.
    Remembering costs a cold count nothing but references to the split it made; where the parts end is computed
    at the first resume and extended by each re-sent prompt's new parts only.
    """

    #: texts shorter than this are counted without it (splitting them is cheaper than remembering them)
    MIN_CHARS = 16_384
    #: remembered prompts are found by their first characters (a system prompt and the first turn)
    KEY_CHARS = 512
    MAX_ENTRIES = 32

    def __init__(self) -> None:
        #: first characters → [prompt, its split, its stretches' counts, where each part ends (or None)]
        self._entries: OrderedDict[str, list[Any]] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()
        self.reused = 0

    def resume(self, text: str, longest: int) -> tuple[int, list[str], list[int], list[int], int] | None:
        """Where to split ``text`` from, by the remembered prompt sharing its beginning: (that position ``b``, the
        remembered split before ``b`` (``[stretch, token, ..., stretch]``), its stretches' counts, where each of
        its parts ends, and the tokens before ``b``); None when no remembered prompt shares enough."""
        with self._lock:
            entry = self._entries.get(text[: self.KEY_CHARS])
        if entry is None:
            return None
        old, parts, counts, ends = entry
        shared = common_prefix(text, old)
        if shared <= longest:
            return None
        if ends is None:  # where each part ends: computed at the first resume, then kept up to date
            ends = entry[3] = list(accumulate(map(len, parts)))
        starts = ends[0 : len(parts) - 1 : 2]  # added token k begins where stretch k ends
        k = bisect_right(starts, shared - longest) - 1
        if k < 1:
            return None
        self.reused += 1
        return starts[k], parts[: 2 * k + 1], counts[: k + 1], ends[: 2 * k + 1], sum(counts[: k + 1]) + k

    def remember(self, text: str, parts: list[str], counts: list[int], ends: list[int] | None,
                 budget_chars: int) -> None:
        """Keep ``text``'s split (replacing the prompt with its beginning), within :data:`MAX_ENTRIES` and a
        quarter of the segment cache's character budget (``segment_cache_mb``): the text and its parts count
        twice its length, plus 8 characters a part."""
        size = _entry_size(text, parts)
        limit = budget_chars // 4
        if size > limit:
            return
        key = text[: self.KEY_CHARS]
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._chars -= _entry_size(old[0], old[1])
            self._entries[key] = [text, parts, counts, ends]
            self._chars += size
            while len(self._entries) > self.MAX_ENTRIES or self._chars > limit:
                _, dropped = self._entries.popitem(last=False)
                self._chars -= _entry_size(dropped[0], dropped[1])

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._chars = 0

    def __len__(self) -> int:
        return len(self._entries)


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
        #: the empty stretch (between two adjacent added tokens: a third of a many-message prompt's) is always there
        self.short_counts: dict[str, int] = {"": 0}
        #: recent long prompts, so a re-sent conversation is split and counted only from where it is new
        self.prompts = PromptMemory()

    @property
    def engine(self) -> str:
        return self.encoder.engine

    def count(self, text: str) -> int:
        """Tokens of ``text`` with added tokens recognised, no BOS/EOS added. A long text that shares a beginning
        with one counted recently (a conversation re-sent with a new turn) is split and counted only from the
        last added token the two share safely (:class:`PromptMemory`)."""
        if len(text) >= PromptMemory.MIN_CHARS and self.added.bounded and self.cache.max_chars > 0:
            return self._count_remembered(text)
        return self.count_many((text,))[0]

    def count_many(self, texts: list[str] | tuple[str, ...]) -> list[int]:
        """Tokens of each text, as :meth:`count` would give them, in one pass: one cache look-up per long segment
        and a single batch call to the engine for everything not cached (a breakdown counts hundreds of message
        strings; one engine call each was most of its cost)."""
        if len(texts) == 1:
            n, stretches = self.added.split_counts(texts[0])
            return [n + sum(self._stretch_counts(stretches))]
        totals = [0] * len(texts)
        pieces: list[str] = []
        owner: list[int] = []
        for i, text in enumerate(texts):
            n, found = self.added.split_counts(text)
            totals[i] = n
            pieces += found
            owner += [i] * len(found)
        for i, n in zip(owner, self._stretch_counts(pieces), strict=True):
            totals[i] += n
        return totals

    def _count_remembered(self, text: str) -> int:
        """:meth:`count` of a long ``text`` through :attr:`prompts`: what lies before the resume point is the
        remembered split and counts, the rest is split and counted as usual; ``text``'s split is remembered for
        the next prompt (nothing is computed for that beyond what counting it needs)."""
        found = self.prompts.resume(text, self.added.longest)
        if found is None:
            parts = self.added.split_parts(text)
            counts = self._stretch_counts(parts[::2])
            self.prompts.remember(text, parts, counts, None, self.cache.max_chars)
            return sum(counts) + len(parts) // 2
        at, kept_parts, kept_counts, kept_ends, before = found
        tail = self.added.split_parts(text[at:])
        if tail[0]:  # cannot happen (PromptMemory's proof: an added token starts there); never a wrong count
            self.prompts.clear()
            return self.count_many((text,))[0]
        tail_counts = self._stretch_counts(tail[::2])
        rest = tail[1:]
        self.prompts.remember(text, kept_parts + rest, kept_counts + tail_counts[1:],
                              kept_ends + list(accumulate(map(len, rest), initial=at))[1:], self.cache.max_chars)
        return before + sum(tail_counts) + len(tail) // 2

    def _stretch_counts(self, pieces: list[str]) -> list[int]:
        """The engine's count of each ordinary stretch (0 for an empty one), through the caches: every stretch is
        looked up in :attr:`short_counts` first (in C: most of a many-message prompt's stretches are short ones
        seen before), then the long ones not found in the segment LRU, and everything still unknown goes to the
        engine in one batch."""
        known = self.short_counts
        found: list[int | None] = list(map(known.get, pieces))
        todo = list(compress(range(len(pieces)), map(is_, found, repeat(None))))
        if not todo:
            return found  # type: ignore[return-value]  # no None left
        short: list[str] = []
        short_of: list[int] = []
        long: list[str] = []
        long_of: list[int] = []
        for j in todo:
            piece = pieces[j]
            if len(piece) >= MIN_CACHED_CHARS:
                long.append(piece)
                long_of.append(j)
            elif piece:
                short.append(piece)
                short_of.append(j)
            else:
                found[j] = 0
        if long:
            misses: list[str] = []
            miss_of: list[int] = []
            for piece, j, cached in zip(long, long_of, self.cache.get_many(long), strict=True):
                if cached is None:
                    misses.append(piece)
                    miss_of.append(j)
                else:
                    found[j] = cached
            if misses:
                counted = self._count_misses(misses)
                self.cache.put_many(misses, counted)
                for j, n in zip(miss_of, counted, strict=True):
                    found[j] = n
        if short:
            new = list(dict.fromkeys(short))  # each once, in order
            fresh = dict(zip(new, self.encoder.count_many(new), strict=True))
            if len(known) + len(fresh) > SHORT_ENTRIES:
                known.clear()
                known[""] = 0
            known.update(islice(fresh.items(), SHORT_ENTRIES - 1))  # "" is the other entry
            for j, piece in zip(short_of, short, strict=True):
                found[j] = fresh[piece]
        return found  # type: ignore[return-value]  # every None was filled

    def clear_caches(self) -> None:
        """Forget every remembered segment count and prompt (the next count is computed as if cold)."""
        self.cache.clear()
        self.short_counts.clear()
        self.short_counts[""] = 0
        self.prompts.clear()

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
