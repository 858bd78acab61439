"""A soak on ``tokcount serve --workers 2`` (loopback only, bounded in count and time): hostile requests of every
kind the round-2 probe found, mixed with ordinary 25 kB counts, which must keep answering in under 2 s.

Hostile in flight together: templates that allocate or loop through operations the in-process sandbox does not
size, a tokenizer whose split regex backtracks, image URLs on a host that trickles its headers, header floods,
oversized playground calls, ``chat_template_kwargs`` that try to replace the messages. Asserted: every ordinary
count under 2 s, ``/healthz`` never stalled, no worker's peak RSS more than 1 GB over its start, each hostile
template answered within its render budget + 1 s, and no answer a 500 or plain text.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

import tokcount
from support.hostile_models import write_models
from support.hostile_tokenizers import BACKTRACKING, SLOW_TEXT, with_split
from support.serverkit import serve_process
from support.trickle import TricklingServer

RENDER_BUDGET_S = 2.0
SOAK_S = 20.0
#: templates whose single operations allocate gigabytes or run for seconds (tests/templates/test_render_isolation.py)
TEMPLATES = {
    "bytes-bomb": "{{ ('a'.encode() * 10**9)|length }}{{ messages[0].content }}",
    "split-bomb": "{{ ('a ' * 30000000).split()|length }}{{ messages[0].content }}",
    "chain-bomb": "{{ ('a' * 10000000)|map('upper')|select|map('lower')|list|length }}{{ messages[0].content }}",
    "runaway": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "plain": "{% for m in messages %}{{ m.content }}{% endfor %}",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[str, TricklingServer]]:
    root = tmp_path_factory.mktemp("soak")
    env = write_models(root, {**TEMPLATES, "backtracking": TEMPLATES["plain"]})
    with_split(root / "hub" / "tokcount-test" / "backtracking", BACKTRACKING)
    trickle = TricklingServer()
    env = {**env, "TOKCOUNT_RENDER_TIMEOUT": str(RENDER_BUDGET_S),
           "TOKCOUNT_PRELOAD": ",".join([*TEMPLATES, "backtracking", "qwen3.5"]),
           "TOKCOUNT_MEDIA_ALLOW_NETWORKS": "127.0.0.2/32", "TOKCOUNT_MEDIA_DEADLINE": "2",
           "TOKCOUNT_MEDIA_REQUEST_DEADLINE": "4",
           "PYTHONPATH": os.pathsep.join([str(Path(tokcount.__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    try:
        with serve_process("--workers", "2", env=env) as (proc, url):
            deadline = time.monotonic() + 90
            ready = 0
            while ready < 8:  # both workers ready, every model preloaded (each worker answers some of the probes)
                try:
                    ready = ready + 1 if httpx.get(f"{url}/readyz", timeout=1).status_code == 200 else 0
                except httpx.HTTPError:
                    ready = 0
                assert proc.poll() is None and time.monotonic() < deadline, "the 2-worker server did not start"
                time.sleep(0.1)
            yield url, trickle
    finally:
        trickle.close()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _workers(url: str) -> list[int]:
    port = int(url.rsplit(":", 1)[1])
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"serve" in cmd and str(port).encode() in cmd:
                # uvicorn's workers are multiprocessing spawns (not its resource tracker, not render processes)
                return [p for p in _children(int(entry.name))
                        if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]
    return []


def _ordinary_body() -> dict:
    words = "The quick brown fox jumps over the lazy dog while the server counts every token it is sent. "
    turns = [{"role": "user" if i % 2 == 0 else "assistant", "content": words * 26 + str(i)} for i in range(10)]
    body = {"model": "qwen3.5", "messages": turns}
    assert 24_000 < len(json.dumps(body)) < 26_000
    return body


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.bad: list[str] = []
        self.hostile_times: list[tuple[str, float]] = []

    def check(self, what: str, resp: httpx.Response) -> None:
        plain = not resp.headers.get("content-type", "").startswith("application/json")
        if (resp.status_code >= 500 and resp.status_code != 503) or (resp.status_code >= 400 and plain):
            with self.lock:
                self.bad.append(f"{what}: {resp.status_code} {resp.text[:200]}")


def _loop(stop: threading.Event, pause: float, work: Callable[[], None]) -> None:
    while not stop.is_set():
        # a refused or closed connection is an answer too; what matters is the ordinary counts
        with contextlib.suppress(httpx.HTTPError, OSError):
            work()
        stop.wait(pause)


def _header_flood(url: str) -> None:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        line = b"X-Flood: " + b"a" * 8000 + b"\r\n"
        try:
            for _ in range(4000):  # up to 32 MB, unless the server cuts it off first
                sock.sendall(line)
        except OSError:
            return


def test_soak_mixed_hostile_and_ordinary(server) -> None:
    url, trickle = server
    workers = _workers(url)
    assert len(workers) == 2, workers
    start_rss = {p: _status_kb(p, "VmRSS") for p in workers}
    rec = Recorder()
    stop = threading.Event()
    ordinary = _ordinary_body()
    client_opts = {"base_url": url, "timeout": 60}

    def hostile_template(model: str) -> Callable[[], None]:
        def work() -> None:
            with httpx.Client(**client_opts) as c:
                started = time.monotonic()
                resp = c.post("/v1/token/count", json={"model": model, "messages": [{"role": "user",
                                                                                     "content": "hi"}]})
                with rec.lock:
                    rec.hostile_times.append((model, time.monotonic() - started))
                rec.check(model, resp)
        return work

    def slow_media() -> None:
        parts = [{"type": "image_url", "image_url": {"url": trickle.url(f"i{i}-{time.monotonic()}")}}
                 for i in range(64)]
        with httpx.Client(**client_opts) as c:
            rec.check("media", c.post("/v1/messages/count_tokens", json={
                "model": "claude-sonnet-4-5", "max_tokens": 1,
                "messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "url",
                              "url": p["image_url"]["url"]}} for p in parts]}]}))

    def backtracking() -> None:
        with httpx.Client(**client_opts) as c:
            rec.check("regex", c.post("/v1/token/count", json={
                "model": "backtracking", "messages": [{"role": "user", "content": SLOW_TEXT}]}))

    def playground() -> None:
        with httpx.Client(**client_opts) as c:
            resp = c.post("/v1/playground/count", json={
                "text": "word " * 600_000, "models": ["qwen3.5", "glm-4.5v", "minimax-m2.7", "deepseek-v3.1",
                                                     "qwen3-8b", "glm-5", "qwen3.6", "glm-4.6v"]})
            rec.check("playground", resp)

    def kwargs_replace() -> None:
        with httpx.Client(**client_opts) as c:
            rec.check("kwargs", c.post("/tokenize", json={
                "model": "qwen3.5", "messages": [{"role": "user", "content": "x"}],
                "chat_template_kwargs": {"messages": [{"role": "user", "content": "x"}] * 20_000}}))

    loads: list[tuple[float, Callable[[], None]]] = [
        *[(0.2, hostile_template(m)) for m in ("bytes-bomb", "split-bomb", "chain-bomb", "runaway")],
        (0.2, slow_media), (0.2, slow_media), (0.5, backtracking), (0.5, lambda: _header_flood(url)),
        (1.0, playground), (0.5, kwargs_replace)]
    threads = [threading.Thread(target=_loop, args=(stop, pause, work), daemon=True) for pause, work in loads]
    for t in threads:
        t.start()
    time.sleep(1.0)  # the hostile load is in flight
    ordinary_times: list[float] = []
    health_times: list[float] = []
    soak_end = time.monotonic() + SOAK_S
    with httpx.Client(**client_opts) as c:
        while time.monotonic() < soak_end:
            ordinary["messages"][-1]["content"] += f" {len(ordinary_times)}"  # fresh: never the answer memo
            started = time.monotonic()
            resp = c.post("/v1/token/count", json=ordinary)
            ordinary_times.append(time.monotonic() - started)
            assert resp.status_code == 200, resp.text
            started = time.monotonic()
            assert c.get("/healthz").status_code == 200
            health_times.append(time.monotonic() - started)
            time.sleep(0.1)
    stop.set()
    for t in threads:
        t.join(30)
    peak_growth_mb = {p: (_status_kb(p, "VmHWM") - start_rss[p]) / 1024 for p in workers if Path(f"/proc/{p}").exists()}
    ordinary_times.sort()
    health_times.sort()
    print(f"\nsoak: {len(ordinary_times)} ordinary counts, max {ordinary_times[-1]:.3f} s, "
          f"p50 {ordinary_times[len(ordinary_times) // 2]:.3f} s; healthz max {health_times[-1]:.3f} s; "
          f"hostile requests {len(rec.hostile_times)}, slowest template {max(t for _, t in rec.hostile_times):.2f} s; "
          f"worker peak RSS growth (MB) {peak_growth_mb}")
    assert not rec.bad, rec.bad[:5]
    assert ordinary_times[-1] < 2.0, ordinary_times[-5:]
    assert health_times[-1] < 1.0, health_times[-5:]
    assert all(g < 1024 for g in peak_growth_mb.values()), peak_growth_mb
    slow = [(m, t) for m, t in rec.hostile_times if t > RENDER_BUDGET_S + 1]
    assert not slow, slow
