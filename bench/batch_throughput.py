"""Rows/s of ``tokcount batch`` on 1 and 2 worker processes (a quick measure, not part of ``bench/run``).

    PYTHONPATH=src python bench/batch_throughput.py [--rows 2000] [--model qwen3.5]

Writes a synthetic JSONL of tool-using chats (seeded) and counts it on a warmed pool of 1 and of 2 processes
(the pool ``tokcount batch`` builds), printing rows/s and tokens/s after start-up, and the start-up itself.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tokcount import batch


def write_rows(path: Path, n: int, seed: int = 3) -> None:
    rnd = random.Random(seed)
    words = ["alpha", "beta", "gamma", "tokens", "héllo", "日本", "42", "count", "budget"]
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            msgs: list[dict] = [{"role": "system", "content": "You are a helpful assistant."}]
            for t in range(rnd.randint(1, 4)):
                msgs.append({"role": "user", "content": " ".join(rnd.choices(words, k=rnd.randint(10, 120)))})
                if rnd.random() < 0.5:
                    msgs.append({"role": "assistant", "content": "", "tool_calls": [{"id": f"c{i}_{t}",
                                 "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}]})
                    msgs.append({"role": "tool", "tool_call_id": f"c{i}_{t}", "content": "result " * 10})
                msgs.append({"role": "assistant", "content": " ".join(rnd.choices(words, k=rnd.randint(5, 60)))})
            f.write(json.dumps({"messages": msgs}, ensure_ascii=False) + "\n")


def _pid(_: int) -> int:
    time.sleep(0.2)  # long enough that every process gets a task
    return os.getpid()


def steady(rows: list[tuple[int, dict]], model: str, workers: int) -> tuple[float, float, int]:
    """(start-up s, counting s, tokens): a pool of ``workers`` processes as ``tokcount batch`` builds it, warmed
    (model loaded in every process) before the clock starts, then every row in chunks of ``batch.CHUNK``."""
    ctx = multiprocessing.get_context("spawn")
    t0 = time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=batch._init_worker,
                             initargs=(model, "openai-chat", None)) as pool:
        seen: set[int] = set()
        while len(seen) < workers:  # a process answers only once its initializer (the model load) is done
            seen |= set(pool.map(_pid, range(workers * 2)))
        t1 = time.perf_counter()
        chunks = [rows[i:i + batch.CHUNK] for i in range(0, len(rows), batch.CHUNK)]
        tokens = sum(r["input_tokens"] for out in pool.map(batch._count_chunk, chunks) for r in out)
        return t1 - t0, time.perf_counter() - t1, tokens


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--model", default="qwen3.5")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "rows.jsonl"
        write_rows(src, args.rows)
        rows = list(batch.read_rows(str(src)))
        print(f"{args.rows} rows, model {args.model}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
        for workers in (1, 2):
            start, secs, tokens = steady(rows, args.model, workers)
            print(f"workers={workers}: {len(rows) / secs:,.0f} rows/s, {tokens / secs:,.0f} tokens/s "
                  f"({tokens:,} tokens in {secs:.1f} s; pool start-up and model load {start:.1f} s)")


if __name__ == "__main__":
    main()
