"""Issue 21's playground probe, measured: a ``tokcount serve --workers 1`` on loopback gets two playground calls at
once, each counting a ~3 MB conversation for 8 models, while an ordinary ~25 kB count is timed every 0.25 s.

Prints, as one JSON object: the worker's RSS after warm-up (its 8 models loaded), its peak RSS while the two calls
run (sampled every 20 ms from /proc, and the kernel's high-water mark ``VmHWM``), each call's status, time and
answer size, the ordinary count's slowest answer (a distinct body each time, so no memo answers it), and whether
the worker is still alive. Traffic never leaves
127.0.0.1; the server is stopped at the end.

    PYTHONPATH=src .venv/bin/python -m bench.playground_probe [--mb 3] [--calls 2]
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from .serving import serving

#: eight models whose files ship with the ``offline`` extra (no download)
MODELS = ["qwen3.5", "qwen3-8b", "qwen3.6", "glm-4.5v", "glm-4.7-flash", "glm-5", "minimax-m3", "deepseek-v3.1"]


def _rss_kb(pid: int, field: str = "VmRSS") -> int:
    """``field`` (kB) of ``/proc/<pid>/status``; 0 once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _text(mb: float, seed: int) -> str:
    """~``mb`` MB of varied English-like text (distinct words, so no cache answers it)."""
    rng = random.Random(seed)
    words = ["token", "count", "model", "exact", "server", "image", "budget", "window", "prompt", "render",
             "quick", "brown", "fox", "lazy", "dog", "über", "naïve", "日本語", "données", "🙂"]
    out: list[str] = []
    size = 0
    while size < mb * 1_000_000:
        w = rng.choice(words) + str(rng.randrange(1000))
        out.append(w)
        size += len(w) + 1
    return " ".join(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=3.0, help="MB of text in each playground call")
    ap.add_argument("--calls", type=int, default=2, help="playground calls sent at once")
    args = ap.parse_args()
    out: dict[str, Any] = {"mb": args.mb, "calls": args.calls, "models": len(MODELS)}
    with serving() as (proc, base):
        client = httpx.Client(timeout=600)
        def ordinary(n: int) -> dict[str, Any]:  # distinct each time: the answer memo would answer a repeat
            return {"model": "qwen3.5", "messages": [{"role": "user", "content": f"{n} " + _text(0.025, 99)}]}

        warm = client.post(base + "/v1/playground/count", json={"dialect": "stepfun", "models": MODELS,
                                                                 "request": {"messages": [
                                                                     {"role": "user", "content": "hi"}]}})
        assert warm.status_code == 200, warm.text[:300]
        assert client.post(base + "/v1/token/count", json=ordinary(0)).status_code == 200
        time.sleep(0.5)
        out["rss_after_warmup_mb"] = round(_rss_kb(proc.pid) / 1024)
        bodies = [json.dumps({"dialect": "stepfun", "models": MODELS, "request": {
            "messages": [{"role": "user", "content": _text(args.mb, seed)}]}}).encode() for seed in range(args.calls)]
        out["body_mb"] = round(len(bodies[0]) / 1e6, 2)
        calls: list[dict[str, Any]] = []
        peak = [0]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], _rss_kb(proc.pid))
                time.sleep(0.02)

        def call(body: bytes) -> None:
            t0 = time.monotonic()
            try:
                r = httpx.post(base + "/v1/playground/count", content=body, timeout=600,
                               headers={"content-type": "application/json"})
                results = r.json().get("results", []) if r.status_code == 200 else []
                calls.append({"status": r.status_code, "seconds": round(time.monotonic() - t0, 2),
                              "answer_mb": round(len(r.content) / 1e6, 3),
                              "counts": {x["model"]: x.get("count", {}).get("input_tokens", x.get("status"))
                                         for x in results}})
            except httpx.HTTPError as exc:
                calls.append({"error": type(exc).__name__, "seconds": round(time.monotonic() - t0, 2)})

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        workers = [threading.Thread(target=call, args=(b,)) for b in bodies]
        for w in workers:
            w.start()
        slowest = 0.0
        ordinary_n = 0
        while any(w.is_alive() for w in workers):
            t0 = time.monotonic()
            try:
                r = client.post(base + "/v1/token/count", json=ordinary(ordinary_n + 1), timeout=120)
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            slowest = max(slowest, time.monotonic() - t0 if ok else float("inf"))
            ordinary_n += 1
            time.sleep(0.25)
        for w in workers:
            w.join()
        stop.set()
        sampler.join()
        out["playground_calls"] = calls
        out["ordinary_counts"] = ordinary_n
        out["ordinary_slowest_s"] = round(slowest, 3)
        out["rss_peak_mb"] = round(peak[0] / 1024)
        out["vmhwm_mb"] = round(_rss_kb(proc.pid, "VmHWM") / 1024)
        out["rss_growth_mb"] = out["rss_peak_mb"] - out["rss_after_warmup_mb"]
        out["alive"] = proc.poll() is None and client.get(base + "/healthz", timeout=5).status_code == 200
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
