"""Issue 21 item 3: ``/v1/playground/count`` answers within bounds. Two calls at once of 8 models x 3 MB leave a
``tokcount serve --workers 1`` alive with its RSS growth under 1 GB while an ordinary count answers in under 2 s;
big requests get counts without token arrays, models x body bytes stay within the body limit, and the playground's
counts run on the server's bounded counting pools (one task per model, so other counts go in between)."""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path

import httpx
import pytest

from support.serverkit import running_server, serve_process
from tokcount.settings import Settings

#: eight models whose files ship with the ``offline`` extra (and are in ../shared)
MODELS = ["qwen3.5", "qwen3-8b", "qwen3.6", "glm-4.5v", "glm-4.7-flash", "glm-5", "minimax-m3", "deepseek-v3.1"]


def _text(size: int, seed: int) -> str:
    """``size`` characters or so of varied words (no cache or memo answers them)."""
    rng = random.Random(seed)
    words = ["token", "count", "model", "exact", "server", "über", "naïve", "日本語", "données", "window"]
    out, n = [], 0
    while n < size:
        w = rng.choice(words) + str(rng.randrange(1000))
        out.append(w)
        n += len(w) + 1
    return " ".join(out)


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def test_two_big_playground_calls_leave_the_worker_alive_small_and_counting() -> None:
    """The issue's probe on a real ``tokcount serve --workers 1``: before, each call answered 95 MB and the worker
    grew by 1.8 GB (two of them killed it where memory was tight)."""
    with serve_process("--workers", "1") as (proc, base):
        client = httpx.Client(timeout=300)
        warm = client.post(base + "/v1/playground/count", json={"dialect": "stepfun", "models": MODELS,
                                                                 "request": [{"role": "user", "content": "hi"}]})
        assert warm.status_code == 200 and all(r["status"] == 200 for r in warm.json()["results"]), warm.text[:500]
        assert client.post(base + "/v1/token/count", json=_ordinary(0)).status_code == 200
        time.sleep(0.3)
        before = _rss_kb(proc.pid)
        bodies = [json.dumps({"dialect": "stepfun", "models": MODELS, "request": {
            "messages": [{"role": "user", "content": _text(3_000_000, seed)}]}}).encode() for seed in (1, 2)]
        answers: list[httpx.Response] = []
        peak = [before]
        done = threading.Event()

        def call(body: bytes) -> None:
            answers.append(httpx.post(base + "/v1/playground/count", content=body, timeout=300,
                                      headers={"content-type": "application/json"}))

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], _rss_kb(proc.pid))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        calls = [threading.Thread(target=call, args=(b,)) for b in bodies]
        for t in calls:
            t.start()
        timings = []
        while any(t.is_alive() for t in calls) or not timings:
            t0 = time.monotonic()
            r = client.post(base + "/v1/token/count", json=_ordinary(len(timings) + 1))
            timings.append(time.monotonic() - t0)
            assert r.status_code == 200, r.text[:300]
            time.sleep(0.1)
        for t in calls:
            t.join()
        done.set()
        sampler.join()
        assert proc.poll() is None and client.get(base + "/healthz").status_code == 200
    growth_mb = (peak[0] - before) / 1024
    print(f"RSS {before / 1024:.0f} MB -> peak {peak[0] / 1024:.0f} MB; ordinary counts {timings}")
    assert growth_mb < 1024, growth_mb
    assert max(timings) < 2.0, timings
    for r in answers:
        assert r.status_code == 200, r.text[:300]
        assert len(r.content) < 100_000, len(r.content)  # counts only: no 12 MB of token arrays per model
        results = r.json()["results"]
        assert [x["model"] for x in results] == MODELS and all(x["status"] == 200 for x in results), results
        assert all(x["count"]["input_tokens"] > 500_000 and "tokens" not in x["count"] for x in results)
        assert all("64 KiB" in x["omitted"] for x in results)


def _ordinary(n: int) -> dict:
    """~25 kB of text, distinct for each ``n`` (the answer memo answers repeats on the event loop)."""
    return {"model": "qwen3.5", "messages": [{"role": "user", "content": f"Ordinary words {n}. " * 1300}]}


@pytest.fixture(scope="module")
def base() -> str:
    with running_server(Settings(max_body_bytes=400_000)) as url:
        yield url


def test_a_big_request_gets_its_counts_without_token_arrays(base: str) -> None:
    text = _text(70_000, 7)  # over the 64 KiB up to which the token view is returned
    request = {"messages": [{"role": "user", "content": text}]}
    r = httpx.post(f"{base}/v1/playground/count", json={"dialect": "stepfun", "models": ["qwen3.5", "gpt-4o"],
                                                         "request": request}, timeout=120)
    assert r.status_code == 200, r.text[:300]
    for x in r.json()["results"]:
        direct = httpx.post(f"{base}/v1/token/count", json={**request, "model": x["model"]}, timeout=120).json()
        assert x["count"]["input_tokens"] == direct["data"]["total_tokens"] == x["answer"]["data"]["total_tokens"]
        assert not {"tokens", "token_strings", "breakdown"} & set(x["count"]), x["count"].keys()
        assert "64 KiB" in x["omitted"]
    small = httpx.post(f"{base}/v1/playground/count", timeout=120, json={
        "dialect": "stepfun", "models": ["qwen3.5"], "request": {"messages": [{"role": "user", "content": "hi"}]}})
    one = small.json()["results"][0]
    assert "omitted" not in one and len(one["count"]["token_strings"]) == one["count"]["input_tokens"]
    assert one["count"]["breakdown"]["messages"]


def test_models_times_body_bytes_stay_within_the_body_limit(base: str) -> None:
    """The work of one playground call is at most that of one largest count: 400 kB here."""
    request = {"messages": [{"role": "user", "content": _text(120_000, 8)}]}
    ok = httpx.post(f"{base}/v1/playground/count", timeout=120,
                    json={"dialect": "stepfun", "models": ["qwen3.5", "gpt-4o", "qwen3-8b"], "request": request})
    assert ok.status_code == 200, ok.text[:300]
    r = httpx.post(f"{base}/v1/playground/count", timeout=120, json={
        "dialect": "stepfun", "models": ["qwen3.5", "gpt-4o", "qwen3-8b", "glm-5"], "request": request})
    assert r.status_code == 413, r.text[:300]
    err = r.json()["error"]
    assert err["param"] == "models" and "4 models" in err["message"] and "400000" in err["message"]


def test_playground_counts_run_on_the_bounded_counting_pools(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Four calls whose template runs to its 1 s render timeout: the counting pool's two threads take them in two
    waves (on a thread pool of their own, as before, all four ran at once), one task per model, so an ordinary
    count queued meanwhile waits for one render at most, not for every model of the calls ahead of it."""
    from support.hostile_models import installed, write_models
    from support.hostile_templates import HOSTILE

    env = write_models(tmp_path_factory.mktemp("pool"), {"runaway": HOSTILE["runaway"]})
    body = {"dialect": "stepfun", "request": [{"role": "user", "content": "Hello world"}]}
    with installed(env), running_server(Settings(render_timeout_s=1.0)) as url:
        assert httpx.post(f"{url}/v1/token/count", json=_ordinary(0), timeout=60).status_code == 200
        ends: list[float] = []
        t0 = time.monotonic()

        def call(models: list[str]) -> None:
            r = httpx.post(f"{url}/v1/playground/count", json={**body, "models": models}, timeout=60)
            assert r.status_code == 200 and all(x["status"] == 503 for x in r.json()["results"]), r.text
            ends.append(time.monotonic() - t0)

        calls = [threading.Thread(target=call, args=(["runaway"],)) for _ in range(4)]
        for t in calls:
            t.start()
        for t in calls:
            t.join()
        assert sorted(ends)[-1] > 1.8, ends  # two waves of two, not one wave of four
        calls = [threading.Thread(target=call, args=(["runaway"] * 4,)) for _ in range(2)]
        for t in calls:
            t.start()
        time.sleep(0.3)
        s0 = time.monotonic()
        r = httpx.post(f"{url}/v1/token/count", json=_ordinary(1), timeout=60)
        waited = time.monotonic() - s0
        for t in calls:
            t.join()
    assert r.status_code == 200
    assert waited < 2.0, waited  # one 1 s render ahead of it at most (a call as one task: 4 s)
