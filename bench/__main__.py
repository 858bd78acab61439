"""``python -m bench [--quick] [--write] [--no-server]``: every benchmark, as ratios measured in the same run.

Prints Markdown tables (machine, versions, cold counts per family vs transformers / litellm / the raw tokenizer,
the 50-turn conversation, the server under load next to the bare HTTP floor, memory per model); ``--write`` also
saves them as bench/RESULTS.md. ``./bench/run`` installs what it needs (litellm, wrk) and runs this.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

HERE = Path(__file__).resolve().parent

os.environ.setdefault("TOKCOUNT_ASSET_DIRS", str(HERE.parents[0].parent / "shared" / "assets"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKCOUNT_NOW", "2025-01-01")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from . import engine, server  # noqa: E402

TARGET_COLD = 8.0
TARGET_TURN50 = 20.0


def _v(pkg: str) -> str:
    try:
        return version(pkg)
    except PackageNotFoundError:
        return "-"


def machine() -> list[str]:
    pkgs = ["tokcount", "tokenizers", "tiktoken", "quicktok-v1", "kitoken", "transformers", "jinja2", "litellm",
            "fastapi", "uvicorn", "httptools", "uvloop"]
    return [
        "## Machine",
        f"- {platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} cores",
        "- " + ", ".join(f"{p} {_v(p)}" for p in pkgs),
        "",
    ]


def _section(title: str, intro: str, columns: list[str]) -> list[str]:
    """A results section: its heading, what it measures, and the head of its table."""
    return [f"## {title}", "", intro, "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]


def cold_table(rows: list[dict], openai: list[dict]) -> list[str]:
    out = _section("Cold counts (median ms; tokcount's segment cache emptied before every call)",
                   "Chats of ~1k / 10k / 100k tokens (corpus prose, code, CJK; ~1k-token turns; 3 tools). "
                   "`vs transformers` is transformers' time / tokcount's (target ≥ 8× at 10k and 100k); `vs raw` is "
                   "the model's own `tokenizers` object on the concatenated text (no template) / tokcount's. Token "
                   "counts equal transformers' in every row.",
                   ["model", "engine", "tokens", "tokcount ms", "transformers ms", "raw tokenizers ms",
                    "vs transformers", "vs raw"])
    for r in rows:
        same = "" if r["tokens"] == r["oracle_tokens"] else f" (≠ {r['oracle_tokens']}!)"
        out.append(f"| {r['model']} | {r['engine']} | {r['tokens']}{same} | {r['tokcount_ms']:.2f} | "
                   f"{r['transformers_ms']:.2f} | {r['raw_tokenizers_ms']:.2f} | "
                   f"{r['transformers_ms'] / r['tokcount_ms']:.1f}× | "
                   f"{r['raw_tokenizers_ms'] / r['tokcount_ms']:.1f}× |")
    out += ["", "OpenAI (gpt-4o, o200k_base): tokcount vs `litellm.token_counter` and raw tiktoken `encode_ordinary` "
            "on the concatenated text (target: at least as fast as raw tiktoken).", "",
            "| size | tokens (litellm) | tokcount ms | litellm ms | raw tiktoken ms | vs litellm | vs raw tiktoken |",
            "|---|---|---|---|---|---|---|"]
    for r in openai:
        out.append(f"| {r['size']} | {r['tokens']} ({r['litellm_tokens']}) | {r['tokcount_ms']:.2f} | "
                   f"{r['litellm_ms']:.2f} | {r['raw_tiktoken_ms']:.2f} | {r['litellm_ms'] / r['tokcount_ms']:.1f}× | "
                   f"{r['raw_tiktoken_ms'] / r['tokcount_ms']:.1f}× |")
    return [*out, ""]


def growing_table(rows: list[dict]) -> list[str]:
    out = _section("50-turn growing conversation (each request re-sends the history plus a ~2k-token turn)",
                   "`warm` = counted right after the previous turn was (what an agent does); `cold` = empty segment "
                   "cache. Counts are asserted equal. Target: turn 50 warm ≥ 20× faster than cold.",
                   ["model", "engine", "turn-50 tokens", "turn 50 cold ms", "turn 50 warm ms", "cold / warm",
                    "transformers turn 50 ms", "transformers / warm", "all 50 turns warm ms", "all 50 cold ms"])
    for r in rows:
        c, w = r["cold_ms"][-1], r["warm_ms"][-1]
        tf = r.get("transformers_last_ms")
        out.append(f"| {r['model']} | {r['engine']} | {r['final_tokens']} | {c:.2f} | {w:.2f} | {c / w:.1f}× | "
                   + (f"{tf:.1f} | {tf / w:.0f}× | " if tf else "- | - | ")
                   + f"{sum(r['warm_ms']):.1f} | {sum(r['cold_ms']):.1f} |")
    return [*out, ""]


def server_table(rows: list[dict]) -> list[str]:
    out = _section("Server under load (wrk, loopback, same StepFun body every request, qwen3.5)",
                   "`floor` = bare FastAPI + uvicorn that only parses the JSON (bench/floor_app.py), same workers. "
                   "Target: ≥ 1,000 req/s for ~1k-token chats on 2 workers, p99 < 50 ms at 64 connections.",
                   ["body", "workers", "connections", "tokcount req/s", "p50 ms", "p99 ms", "floor req/s",
                    "floor p99 ms", "tokcount / floor"])
    floor = {(r["workers"], r["size"], r["connections"]): r for r in rows if r["server"] == "floor"}
    for r in rows:
        if r["server"] != "tokcount":
            continue
        f = floor.get((r["workers"], r["size"], r["connections"]), {})
        bad = f" ({r['non_2xx']} non-2xx!)" if r["non_2xx"] else ""
        out.append(f"| ~{r['size'] // 1000}k tokens | {r['workers']} | {r['connections']} | {r['rps']:.0f}{bad} | "
                   f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {f.get('rps', float('nan')):.0f} | "
                   f"{f.get('p99_ms', float('nan')):.2f} | {r['rps'] / f['rps'] if f else float('nan'):.2f} |")
    return [*out, ""]


def rss_table(rows: list[dict]) -> list[str]:
    out = ["## Memory and first count per model (fresh process each)", "",
           "| model | RSS added MB | load + first 1k count s |", "|---|---|---|"]
    for r in rows:
        if "error" in r:
            out.append(f"| {r['model']} | error: {r['error']} | - |")
        else:
            out.append(f"| {r['model']} | {r['rss_mb']:.0f} | {r['first_count_s']:.2f} |")
    return [*out, ""]


def verdicts(cold: list[dict], openai: list[dict], grow: list[dict], load: list[dict]) -> list[str]:
    out = ["## Targets", ""]
    big = [r for r in cold if r["size"] >= 10_000]
    worst = min(big, key=lambda r: r["transformers_ms"] / r["tokcount_ms"]) if big else None
    if worst:
        met = [r for r in big if r["transformers_ms"] / r["tokcount_ms"] >= TARGET_COLD]
        out.append(f"- Cold ≥ {TARGET_COLD:.0f}× transformers at 10k/100k: met for {len(met)}/{len(big)} rows; worst "
                   f"{worst['model']} at {worst['size'] // 1000}k: "
                   f"{worst['transformers_ms'] / worst['tokcount_ms']:.1f}×.")
    if openai:
        ratios = [r["raw_tiktoken_ms"] / r["tokcount_ms"] for r in openai]
        out.append(f"- o200k at least as fast as raw tiktoken: {min(ratios):.1f}×–{max(ratios):.1f}× raw tiktoken's "
                   "speed.")
    for r in grow:
        ratio = r["cold_ms"][-1] / r["warm_ms"][-1]
        out.append(f"- Turn 50 warm ≥ {TARGET_TURN50:.0f}× cold, {r['model']}: {ratio:.1f}×"
                   + (" (met)." if ratio >= TARGET_TURN50 else " (missed)."))
    misses_cold = [r for r in big if r["transformers_ms"] / r["tokcount_ms"] < TARGET_COLD]
    reasons = {
        "tokenizers": "no engine is both exact and faster than `tokenizers` on this file (Gemma 3's "
                      "SentencePiece-style BPE: kitoken is exact but measured no faster), so the gain is only what "
                      "the segment cache, batching and the trie-based added-token split save",
        "kitoken": "kitoken is the only engine exact on DeepSeek's three chained split regexes, and is ~3-4x faster "
                   "than `tokenizers` on its own",
        "tiktoken": "tiktoken is ~4-5x faster than `tokenizers` on its own (quicktok is not exact on this "
                    "vocabulary: docs/exactness.md)",
    }
    for kind in sorted({r["engine"] for r in misses_cold}):
        models = ", ".join(sorted({f"{r['model']}@{r['size'] // 1000}k" for r in misses_cold if r["engine"] == kind}))
        out.append(f"  - Why the cold misses ({models}): {reasons.get(kind, 'the engine itself is the limit')}.")
    for r in grow:
        if "parse_render_ms" in r and r["cold_ms"][-1] / r["warm_ms"][-1] < TARGET_TURN50:
            out.append(f"  - Why turn 50 misses for {r['model']}: a warm count still parses the request and renders "
                       f"the whole conversation with the model's template ({r['parse_render_ms']:.2f} of its "
                       f"{r['warm_ms'][-1]:.2f} ms; templates may render earlier turns differently once later ones "
                       "exist, so no render is reused), while the cold count it is compared with is already "
                       f"{r.get('transformers_last_ms', float('nan')) / r['cold_ms'][-1]:.0f}x faster than "
                       "transformers'.")
        elif "parse_render_ms" not in r and r["cold_ms"][-1] / r["warm_ms"][-1] < TARGET_TURN50:
            out.append(f"  - Why turn 50 misses for {r['model']} (closed-model framing, no template): a warm count "
                       f"still parses the request and looks up every message's text ({r['warm_ms'][-1]:.2f} ms), "
                       f"while its cold count is already only {r['cold_ms'][-1]:.2f} ms for "
                       f"{r['final_tokens']} tokens.")
    two = [r for r in load if r["server"] == "tokcount" and r["workers"] == 2 and r["size"] == 1000]
    if two:
        best = max(r["rps"] for r in two)
        p99 = next((r["p99_ms"] for r in two if r["connections"] == 64), float("nan"))
        out.append(f"- Server 2 workers, ~1k tokens: best {best:.0f} req/s, p99 at 64 connections {p99:.1f} ms.")
    return [*out, ""]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="one round per point and 3 s of load (a smoke run)")
    ap.add_argument("--write", action="store_true", help="also write bench/RESULTS.md")
    ap.add_argument("--no-server", action="store_true", help="skip the load test (needs wrk)")
    ap.add_argument("--models", nargs="*", default=list(engine.OPEN_MODELS))
    args = ap.parse_args(argv)

    lines = ["# tokcount benchmark results", "", "Written by `python -m bench --write` (`./bench/run`). Every ratio "
             "compares alternatives measured in the same run on the same requests.", ""]
    lines += machine()
    print("\n".join(lines), flush=True)
    cold = engine.cold_counts(args.models, quick=args.quick)
    openai = engine.openai_counts(quick=args.quick)
    part = cold_table(cold, openai)
    print("\n".join(part), flush=True)
    lines += part
    grow = [engine.growing(m, quick=args.quick) for m in ("qwen3.5", "qwen3-8b", "deepseek-v3.2", "gpt-4o")]
    part = growing_table(grow)
    print("\n".join(part), flush=True)
    lines += part
    load: list[dict] = []
    if not args.no_server:
        load = server.load(seconds=3 if args.quick else 10)
        part = server_table(load)
        print("\n".join(part), flush=True)
        lines += part
    part = rss_table(engine.rss_per_model(["qwen3.5", "qwen3-8b", "deepseek-v3.2", "glm-4.7-flash", "gpt-4o"]))
    print("\n".join(part), flush=True)
    lines += part
    part = verdicts(cold, openai, grow, load)
    print("\n".join(part), flush=True)
    lines += part
    if args.write:
        (HERE / "RESULTS.md").write_text("\n".join(lines), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
