"""In-process timings: cold counts of 1k / 10k / 100k-token chats per family, and a 50-turn growing conversation.

Every alternative counts the same request in the same process, in bursts of back-to-back calls, rounds rotating
the order; the median is reported. "Cold" means tokcount's segment cache is emptied before every call (engines' own
internal caches, such as ``tokenizers``' word cache, are left as they are, for every contender alike).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
SIZES = (1_000, 10_000, 100_000)
ROUNDS = {1_000: 8, 10_000: 4, 100_000: 2}
BURST = 5


def median_ms(fn: Callable[[], Any], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def interleaved(contenders: dict[str, Callable[[], Any]], rounds: int, burst: int = BURST) -> dict[str, float]:
    """Median ms of each contender. Each round runs every contender in a burst of back-to-back calls (as a service
    counts request after request; the burst's first call is not timed), rotating the order from round to round so
    drift hits all alike."""
    samples: dict[str, list[float]] = {k: [] for k in contenders}
    names = list(contenders)
    for fn in contenders.values():  # warm-up: imports, lazy loads, first-call costs
        fn()
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            fn = contenders[name]
            fn()
            for _ in range(burst):
                t = time.perf_counter()
                fn()
                samples[name].append((time.perf_counter() - t) * 1000)
    return {k: statistics.median(v) for k, v in samples.items()}


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


def _concatenated(request: dict) -> str:
    parts = [m["content"] for m in request["messages"]]
    parts.append(json.dumps(request["tools"]))
    return "\n".join(parts)


def _cold(model: str, request: dict) -> Callable[[], int]:
    import tokcount
    from tokcount import loader
    from tokcount.models.catalog import default_catalog

    spec = default_catalog().resolve(model)
    tok = loader.load(spec).tokenizer if spec.renderer == "jinja" else None

    def run() -> int:
        _clear(tok)
        return tokcount.count(spec, request, breakdown=False).input_tokens

    return run


def _clear(tok: Any) -> None:
    """Empty tokcount's caches of counted text: the model's segment cache, or the OpenAI encodings' for closed
    models (whose framings count message texts directly)."""
    from tokcount.tokenizers.openai_bpe import clear_caches

    if tok is not None:
        tok.cache.clear()
    else:
        clear_caches()


def _o200k_tiktoken() -> Any:
    """tiktoken's o200k_base, built from gpt-oss's tokenizer.json (rank-for-rank o200k_base, see the asset README)
    because tiktoken's own loader downloads the file."""
    import tiktoken

    from tokcount.tokenizers.bytelevel import parse

    data = json.loads((HUB / "openai" / "gpt-oss-20b" / "tokenizer.json").read_text())
    bpe = parse(data)
    ranks = {b: r for b, r in bpe.ranks.items() if r < 199998}
    return tiktoken.Encoding(name="o200k_base", pat_str=bpe.patterns[0], mergeable_ranks=ranks, special_tokens={})


def cold_counts(models: list[str], sizes: tuple[int, ...] = SIZES, quick: bool = False) -> list[dict[str, Any]]:
    """One row per (model, size): tokcount cold vs transformers vs the raw tokenizer on the concatenated text."""
    from tokenizers import Tokenizer as HFTokenizer

    rows = []
    for model in models:
        hf = transformers_tokenizer(model)
        raw = HFTokenizer.from_str(hf.backend_tokenizer.to_str())
        for size in sizes:
            request = workloads.chat(size)
            text = _concatenated(request)
            contenders = {
                "tokcount": _cold(model, request),
                "transformers": lambda r=request, hf=hf: len(hf.apply_chat_template(
                    r["messages"], tools=r["tools"], add_generation_prompt=True, tokenize=True)["input_ids"]),
                "raw_tokenizers": lambda t=text, raw=raw: len(raw.encode(t, add_special_tokens=False).ids),
            }
            ms = interleaved(contenders, 1 if quick else ROUNDS[size])
            tokens = contenders["tokcount"]()
            oracle = contenders["transformers"]()
            rows.append({"model": model, "size": size, "tokens": tokens, "oracle_tokens": oracle,
                         "engine": _engine(model), **{f"{k}_ms": v for k, v in ms.items()}})
    return rows


def openai_counts(sizes: tuple[int, ...] = SIZES, quick: bool = False) -> list[dict[str, Any]]:
    """gpt-4o (o200k_base): tokcount vs litellm.token_counter vs raw tiktoken on the concatenated text."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    enc = _o200k_tiktoken()
    rows = []
    for size in sizes:
        request = workloads.chat(size)
        text = _concatenated(request)
        contenders = {
            "tokcount": _cold("gpt-4o", request),
            "litellm": lambda r=request: litellm.token_counter(model="gpt-4o", messages=r["messages"],
                                                               tools=r["tools"]),
            "raw_tiktoken": lambda t=text: len(enc.encode_ordinary(t)),
        }
        ms = interleaved(contenders, 1 if quick else ROUNDS[size])
        rows.append({"model": "gpt-4o", "size": size, "tokens": contenders["tokcount"](),
                     "litellm_tokens": contenders["litellm"](), "engine": "quicktok",
                     **{f"{k}_ms": v for k, v in ms.items()}})
    return rows


def _engine(model: str) -> str:
    from tokcount import loader
    from tokcount.models.catalog import default_catalog

    return loader.load(default_catalog().resolve(model)).tokenizer.engine


def growing(model: str, turns: int = 50, quick: bool = False) -> dict[str, Any]:
    """Each turn's request counted right after the previous one (warm) and with an empty cache (cold)."""
    import tokcount
    from tokcount import loader
    from tokcount.models.catalog import default_catalog

    spec = default_catalog().resolve(model)
    tok = loader.load(spec).tokenizer if spec.renderer == "jinja" else None
    requests = workloads.conversation(turns)
    rounds = 1 if quick else 5
    warm, cold, counts = [], [], []
    for t, request in enumerate(requests):
        w, c = [], []
        for _ in range(rounds):
            _clear(tok)
            if t:
                tokcount.count(spec, requests[t - 1], breakdown=False)  # the previous turn, as the agent sent it
            start = time.perf_counter()
            n_warm = tokcount.count(spec, request, breakdown=False).input_tokens
            w.append((time.perf_counter() - start) * 1000)
            _clear(tok)
            start = time.perf_counter()
            n_cold = tokcount.count(spec, request, breakdown=False).input_tokens
            c.append((time.perf_counter() - start) * 1000)
            assert n_warm == n_cold, (t, n_warm, n_cold)
        warm.append(statistics.median(w))
        cold.append(statistics.median(c))
        counts.append(n_cold)
    out: dict[str, Any] = {"model": model, "turns": turns, "final_tokens": counts[-1], "cold_ms": cold,
                           "warm_ms": warm, "engine": tok.engine if tok else "quicktok"}
    if tok is not None:  # the part of a warm count no cache can remove: parsing and rendering the whole request
        from tokcount.count import as_request, render_prompt

        loaded = loader.load(spec)
        out["parse_render_ms"] = median_ms(lambda: render_prompt(loaded, as_request(requests[-1])), rounds * 4)
    if model in OPEN_MODELS:
        hf = transformers_tokenizer(model)
        last = requests[-1]
        out["transformers_last_ms"] = median_ms(lambda: hf.apply_chat_template(
            last["messages"], tools=last["tools"], add_generation_prompt=True, tokenize=True), rounds)
    return out


def rss_per_model(models: list[str]) -> list[dict[str, Any]]:
    """Resident memory a model adds once loaded and used once, each measured in a fresh process."""
    import subprocess
    import sys

    code = (
        "import json,sys,tokcount\n"
        "def rss():\n"
        "    return int(next(l for l in open('/proc/self/status') if l.startswith('VmRSS')).split()[1])\n"
        "from bench import workloads\n"
        "req=workloads.chat(1000)\n"
        "before=rss()\n"
        "t=__import__('time').perf_counter()\n"
        "tokcount.count(sys.argv[1], req, breakdown=False)\n"
        "load=__import__('time').perf_counter()-t\n"
        "print(json.dumps({'rss_mb': (rss()-before)/1024, 'first_count_s': load}))\n"
    )
    rows = []
    for model in models:
        proc = subprocess.run([sys.executable, "-c", code, model], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parents[1], timeout=300, check=False)
        try:
            rows.append({"model": model, **json.loads(proc.stdout.strip().splitlines()[-1])})
        except (IndexError, ValueError):
            rows.append({"model": model, "error": proc.stderr.strip().splitlines()[-1:]})
    return rows
