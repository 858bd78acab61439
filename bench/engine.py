"""In-process timings on requests the process has not seen: every timed call counts a freshly seeded request
(:mod:`.workloads`); each contender runs its calls in a block of its own (one untimed call first), blocks in an
order that rotates from shape to shape, and the median is reported.

Contenders for each (model, shape):
- ``tokcount``: ``tokcount.count(model, body, breakdown=False)`` on the OpenAI-chat dict (parsing included), as
  the server counts; the segment cache holds whatever earlier requests left in it, as in a running service.
- ``render``: the model's chat template alone (``render_prompt`` on the already-parsed request): a floor.
- ``engine``: the same engine tokcount routes to, alone, on the ordinary text of the rendered prompt (split at
  special tokens beforehand): a floor. tokcount's target is ≤ 1.3 × (render + engine).
- ``transformers``: ``apply_chat_template(tokenize=True)`` with the same template and tokenizer.json.
Then: turn 50 of a growing conversation counted right after turn 49 (warm) vs a fresh turn 50 (cold), and an
identical re-sent body answered by the server's memo vs a fresh body of the same shape (in-process ``Service``).
"""

from __future__ import annotations

import gc
import json
import statistics
import time
from collections.abc import Callable
from functools import cache
from typing import Any

from tokcount.errors import TokcountError

from . import workloads

HUB = workloads.SHARED / "assets" / "hub"

#: tokcount model id → the files transformers loads for the same model (repo dir, template file or config key)
OPEN_MODELS = {
    "qwen3-8b": ("Qwen/Qwen3-8B", "tokenizer_config.json"),
    "qwen3.5": ("Qwen/Qwen3.5-9B", "chat_template.jinja"),
    "deepseek-v3.2": ("deepseek-ai/DeepSeek-V3.2", "chat_template.llamacpp.jinja"),
    "glm-4.7-flash": ("zai-org/GLM-4.7-Flash", "chat_template.jinja"),
    "minimax-m2.5": ("MiniMaxAI/MiniMax-M2.5", "chat_template.jinja"),
    "llama-3.1": ("meta-llama/Llama-3.1-8B-Instruct", "tokenizer_config.json"),
    "gpt-oss-20b": ("openai/gpt-oss-20b", "chat_template.jinja"),
    "gemma-3-1b-it": ("google/gemma-3-1b-it", "tokenizer_config.json"),
}
CONTENDERS = ("tokcount", "render", "engine", "transformers")
#: timed rounds per shape (each round: one fresh request per contender)
ROUNDS = {10_000: 11, 100_000: 7, "agent": 7}


def shapes() -> list[tuple[str, int | str, Callable[[int], dict[str, Any]]]]:
    """(label, rounds key, seed → request) for every shape the cold table covers."""
    out: list[tuple[str, int | str, Callable[[int], dict[str, Any]]]] = [
        (f"{tokens // 1000}k as {n} msgs", tokens, lambda seed, t=tokens, n=n: workloads.chat(t, n, seed))
        for tokens, n in workloads.SHAPES]
    out.append(("agent trace (20 tools, 300 turns)", "agent", workloads.agent_trace))
    return out


@cache
def _request(label: str, seed: int) -> dict[str, Any]:
    return dict(next(make for name, _, make in shapes() if name == label)(seed))


def transformers_tokenizer(model: str) -> Any:
    from transformers import PreTrainedTokenizerFast

    repo, template = OPEN_MODELS[model]
    root = HUB / repo
    tok_file = root / "tokenizer.json"
    if not tok_file.exists():
        tok_file = HUB / (root / "TOKENIZER_SAME_AS").read_text().strip() / "tokenizer.json"
    config = json.loads((root / "tokenizer_config.json").read_text())
    specials = {}
    for key in ("bos_token", "eos_token", "pad_token", "unk_token"):
        value = config.get(key)
        value = value.get("content") if isinstance(value, dict) else value
        if value:
            specials[key] = value
    tok = PreTrainedTokenizerFast(tokenizer_file=str(tok_file), **specials)
    tok.chat_template = config["chat_template"] if template.endswith(".json") else (root / template).read_text()
    return tok


def _for_transformers(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The messages as transformers' templates expect them: tool-call arguments as a mapping (HF convention)."""
    out = []
    for m in request["messages"]:
        if "tool_calls" in m:
            m = {**m, "tool_calls": [{**c, "function": {**c["function"],
                                                        "arguments": json.loads(c["function"]["arguments"])}}
                                     for c in m["tool_calls"]]}
        out.append(m)
    return out


def engine_alone(tok: Any) -> Callable[[list[str]], int]:
    """The engine tokcount routes ordinary text to, called directly on pre-split text (no cache, no guard)."""
    enc = tok.encoder
    raw = getattr(enc, "_count", None)  # a FastEncoder's engine count (quicktok / tiktoken / kitoken) itself
    if raw is not None:
        return lambda pieces: sum(map(raw, pieces))
    return lambda pieces: sum(enc.count_many(pieces))  # tokenizers (its own batch call) or tiktoken files


class Model:
    """Everything one model's contenders need, loaded before anything is timed."""

    def __init__(self, name: str) -> None:
        from tokcount import loader
        from tokcount.models.catalog import default_catalog
        from tokcount.tokenizers.added import AddedToken

        self.name = name
        self.spec = default_catalog().resolve(name)
        self.loaded = loader.load(self.spec)
        self.tok = self.loaded.tokenizer
        self.engine = self.tok.engine
        self.hf = transformers_tokenizer(name)
        self.engine_fn = engine_alone(self.tok)
        self._added = AddedToken

    def prepare(self, contender: str, request: dict[str, Any]) -> Callable[[], int]:
        """The call to time for ``contender`` on ``request``; its set-up (parsing, rendering, splitting) is done
        here, outside the timing."""
        import tokcount
        from tokcount.count import as_request, render_prompt

        if contender == "tokcount":
            return lambda: tokcount.count(self.spec, request, breakdown=False).input_tokens
        if contender == "render":
            req = as_request(request)
            return lambda: len(render_prompt(self.loaded, req))
        if contender == "engine":
            prompt = render_prompt(self.loaded, as_request(request))
            pieces = [p for p in self.tok.added.split(prompt) if not isinstance(p, self._added)]
            return lambda: self.engine_fn(pieces)
        messages = _for_transformers(request)
        return lambda: len(self.hf.apply_chat_template(messages, tools=request["tools"], add_generation_prompt=True,
                                                       tokenize=True)["input_ids"])


def settle() -> None:
    """What ``tokcount serve`` does once its models are loaded (``gc.freeze``, tokcount.server.settle_heap): the
    loaded models, transformers and its imports are left out of every later collection, for all contenders."""
    gc.collect()
    gc.freeze()


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t) * 1000, out


def cold_counts(models: list[str], quick: bool = False, log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """One row per (model, shape): median ms of each contender, each call on a request not seen before."""
    rows = []
    loaded = {}
    for name in models:
        loaded[name] = Model(name)
        m = loaded[name]
        warm = _request(shapes()[0][0], 0)
        for c in CONTENDERS:  # imports, lazy tables, first-call costs: not what is measured
            m.prepare(c, warm)()
    settle()
    for label, key, _ in shapes():
        rounds = 1 if quick else ROUNDS[key]
        for name in models:
            m = loaded[name]
            try:
                m.prepare("tokcount", _request(label, 999))()
            except TokcountError as exc:  # e.g. Gemma 3's template refuses tool turns: nothing to time
                rows.append({"model": name, "engine": m.engine, "shape": label, "size": key, "error": exc.message})
                log(f"  cold {name} {label}: refused ({exc.message})")
                continue
            samples: dict[str, list[float]] = {c: [] for c in CONTENDERS}
            tokens = []
            # each contender in a block of its own: one untimed call, then ``rounds`` timed ones back to back, each
            # on a request of its own. Interleaving them (as before 2026-12-06) timed every call right after
            # another library had run through megabytes of its own tables, which measured that library's imprint
            # on the CPU caches: qwen3.5's 10-message count took 1.75 ms there and 0.67 ms in a loop of its own,
            # transformers' 16.6 and 10.7 ms. A service counts request after request; so does this now. The
            # block order rotates from shape to shape and model to model, so no contender always goes first.
            turn = len(rows)
            order = CONTENDERS[turn % len(CONTENDERS):] + CONTENDERS[: turn % len(CONTENDERS)]
            for i, c in enumerate(order):
                # every call's request built, and its set-up done, before the block's first call: generating
                # ~300 kB of fresh text between two timed calls measured the generator's imprint, not the contender
                seeds = [1000 + (1 + rounds) * i + k for k in range(1 + rounds)]
                calls = [m.prepare(c, _request(label, seed)) for seed in seeds]
                gc.collect()
                calls[0]()
                for call in calls[1:]:
                    ms, out = _timed(call)
                    samples[c].append(ms)
                    if c == "tokcount":
                        tokens.append(out)
            check = _request(label, 999)  # exactness on one more request (not timed)
            ours = m.prepare("tokcount", check)()
            theirs = m.prepare("transformers", check)()
            row = {"model": name, "engine": m.engine, "shape": label, "size": key,
                   "tokens": int(statistics.median(tokens)), "exact": ours == theirs, "oracle": (ours, theirs),
                   **{f"{c}_ms": statistics.median(v) for c, v in samples.items()}}
            rows.append(row)
            log(f"  cold {name} {label}: " + ", ".join(f"{c} {row[c + '_ms']:.2f}" for c in CONTENDERS)
                + ("" if row["exact"] else f" (count {ours} != transformers {theirs})"))
    return rows


def growing(model: str, turns: int = 50, quick: bool = False) -> dict[str, Any]:
    """Turn ``turns`` of a growing conversation: warm (counted right after the previous turn, as an agent
    re-sends its history) vs cold (a fresh conversation's last turn), exactness asserted on every warm count."""
    import tokcount
    from tokcount.count import as_request, render_prompt

    m = Model(model)
    settle()
    warm, cold, tf, tokens, render = [], [], [], [], []
    for r in range(1 if quick else 3):
        conv = workloads.conversation(5000 + r, turns)
        for request in conv[:-1]:
            tokcount.count(m.spec, request, breakdown=False)
        ms, n = _timed(lambda c=conv: tokcount.count(m.spec, c[-1], breakdown=False).input_tokens)
        warm.append(ms)
        # the floor of a warm count: parsing and rendering the whole re-sent conversation, which it still does,
        # timed on the same request right after it (a copy, so the parse starts from a fresh dict as it did)
        again = json.loads(json.dumps(conv[-1]))
        ms, _ = _timed(lambda t=again: render_prompt(m.loaded, as_request(t)))
        render.append(ms)
        other = workloads.conversation(6000 + r, turns)[-1]
        ms, n_cold = _timed(lambda o=other: tokcount.count(m.spec, o, breakdown=False).input_tokens)
        cold.append(ms)
        m.tok.clear_caches()
        assert tokcount.count(m.spec, conv[-1], breakdown=False).input_tokens == n, "warm count is not exact"
        msgs = _for_transformers(other)
        ms, _ = _timed(lambda o=other, ms_=msgs: m.hf.apply_chat_template(ms_, tools=o["tools"],
                                                                          add_generation_prompt=True, tokenize=True))
        tf.append(ms)
        tokens.append(n_cold)
    return {"model": model, "engine": m.engine, "turns": turns, "tokens": int(statistics.median(tokens)),
            "warm_ms": statistics.median(warm), "cold_ms": statistics.median(cold),
            "parse_render_ms": statistics.median(render),
            "transformers_ms": statistics.median(tf)}


def memo(model: str, quick: bool = False) -> list[dict[str, Any]]:
    """An identical re-sent StepFun body answered from the server's memo (``Service.answers.replay``) vs a fresh
    body of the same shape counted by ``Service.answers.count`` (JSON parse, count, format, keep), in process; the
    memo key is computed in both, as ``Service.run`` computes it."""
    import orjson

    from tokcount.dialects import dialects
    from tokcount.memo import today
    from tokcount.server import Service
    from tokcount.settings import Settings
    from tokcount.tenancy import ANONYMOUS

    service = Service(Settings(default_model=model))
    answers = service.answers
    dialect = dialects()["stepfun"]
    route = dialect.routes[0]

    def fresh(raw: bytes) -> Any:
        key = answers.key(dialect.name, route, {}, raw, ANONYMOUS)
        return answers.count(key, today(), dialect, route, raw, {}, service.settings)

    def replay(raw: bytes) -> Any:
        started = time.perf_counter()
        return answers.replay(answers.key(dialect.name, route, {}, raw, ANONYMOUS), route, started)

    fresh(orjson.dumps({"model": model, **_request(shapes()[0][0], 0)}))  # loads it
    settle()
    rows = []
    for label in ("100k as 100 msgs", "agent trace (20 tools, 300 turns)"):
        fresh_ms, hit = [], []
        for r in range(1 if quick else 5):
            raw = orjson.dumps({"model": model, **_request(label, 7000 + r)})
            ms, resp = _timed(lambda b=raw: fresh(b))
            assert resp.status == 200, resp.body
            fresh_ms.append(ms)
            resent = bytes(bytearray(raw))  # a new bytes object, as a re-sent body arrives: its hash is not cached
            ms, again = _timed(lambda b=resent: replay(b))
            assert again is not None and again.tokens == resp.tokens
            hit.append(ms)
        rows.append({"model": model, "shape": label, "fresh_ms": statistics.median(fresh_ms),
                     "memo_ms": statistics.median(hit)})
    return rows
