"""Slow peers on loopback cannot hold a request past its deadlines: an image server trickling its response headers one
byte at a time is cut off at the fetch's total deadline, the images of one request are fetched concurrently (eight
slow images cost about one deadline, not eight) under a per-request cap and deadline, and the server times out clients
that send their headers or body at one byte a second while fast clients, large bodies included, are served."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from orjson import dumps as orjson_dumps

from support.serverkit import read_until_closed, running_server
from support.trickle import TricklingServer
from tokcount.errors import MediaError
from tokcount.media.sources import CACHE, FAILURES, FetchPolicy, image_size, prefetch
from tokcount.settings import Settings


@pytest.fixture
def trickle() -> Iterator[TricklingServer]:
    server = TricklingServer()
    CACHE.clear()
    FAILURES.clear()
    try:
        yield server
    finally:
        server.close()


POLICY = FetchPolicy(allow_networks=("127.0.0.2/32",), timeout=1.0, deadline=2.0)


def test_trickled_headers_hit_the_total_deadline(trickle: TricklingServer) -> None:
    t0 = time.monotonic()
    with pytest.raises(MediaError, match="longer than 2 s"):
        image_size(trickle.url("one"), policy=POLICY, where="messages[0].content[0]")
    elapsed = time.monotonic() - t0
    assert 1.9 < elapsed < 3.0, elapsed  # the deadline, though each byte came well within the 1 s read timeout


def test_eight_slow_images_cost_about_one_deadline(trickle: TricklingServer) -> None:
    sources = [(f"messages[0].content[{i}]", trickle.url(f"img{i}")) for i in range(8)]
    t0 = time.monotonic()
    results = prefetch(sources, POLICY)
    elapsed = time.monotonic() - t0
    assert set(results) == {w for w, _ in sources}
    assert all(isinstance(r, MediaError) and "longer than 2 s" in r.message for r in results.values()), results
    assert elapsed < 2 * POLICY.deadline, elapsed  # concurrent: one deadline (sequential would be 16 s)
    assert trickle.peak == 8
    # the per-part reads after the prefetch are answered from memory: no second round of fetches
    t1 = time.monotonic()
    with pytest.raises(MediaError, match="longer than 2 s"):
        image_size(trickle.url("img3"), policy=POLICY, where="x")
    assert time.monotonic() - t1 < 0.5 and trickle.connections == 8


def test_per_request_cap_and_deadline(trickle: TricklingServer) -> None:
    policy = FetchPolicy(allow_networks=("127.0.0.2/32",), timeout=1.0, deadline=2.0, max_concurrent_fetches=2,
                         request_deadline=3.0)
    sources = [(f"messages[{i}].content[0]", trickle.url(f"capped{i}")) for i in range(8)]
    t0 = time.monotonic()
    results = prefetch(sources, policy)
    elapsed = time.monotonic() - t0
    assert 2.9 < elapsed < 4.0, elapsed  # the request's deadline, not 4 rounds x 2 s
    waves = [round(t - t0) for t in trickle.started]
    assert sorted(waves) == [0, 0, 2, 2], trickle.started  # two at a time: the next two once the first ended
    late = [r for r in results.values() if isinstance(r, MediaError) and "took longer than 3 s" in r.message]
    assert len(late) >= 4, results  # the images never started (or unfinished) by then say so
    time.sleep(policy.deadline)  # fetches that had started end by their own deadline; nothing queued starts
    assert trickle.connections <= 4


def test_slow_images_through_the_server(trickle: TricklingServer) -> None:
    parts = [{"type": "image_url", "image_url": {"url": trickle.url(f"srv{i}")}} for i in range(8)]
    body = {"model": "qwen3.5", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, *parts]}]}
    settings = Settings(default_model="qwen3.5", media_allow_networks=("127.0.0.2/32",), media_deadline=2)
    with running_server(settings) as base:
        warm = {"model": "qwen3.5", "messages": [{"role": "user", "content": "hi"}]}
        assert httpx.post(base + "/v1/token/count", json=warm, timeout=60).status_code == 200  # model loaded
        t0 = time.monotonic()
        r = httpx.post(base + "/v1/token/count", json=body, timeout=60)
        elapsed = time.monotonic() - t0
        assert r.status_code == 400, r.text
        assert "longer than 2 s" in r.json()["error"]["message"]
        assert elapsed < 4.0, elapsed  # about one 2 s deadline for all eight
        assert httpx.get(base + "/healthz", timeout=5).status_code == 200


@pytest.mark.parametrize("model", ["gpt-4o", "claude-sonnet-4", "gemini-2.5-flash"])
def test_closed_models_fetch_a_requests_images_concurrently(trickle: TricklingServer, model: str,
                                                            use_settings) -> None:
    import tokcount

    use_settings(media_allow_networks=("127.0.0.2/32",), media_deadline=1.5)
    parts = [{"type": "image_url", "image_url": {"url": trickle.url(f"{model}-{i}")}} for i in range(6)]
    tokcount.count(model, {"messages": [{"role": "user", "content": "warm up"}]})  # the tokenizer is loaded
    t0 = time.monotonic()
    result = tokcount.count(model, {"messages": [{"role": "user", "content": parts}]})
    elapsed = time.monotonic() - t0
    assert elapsed < 3.0, elapsed  # one 1.5 s deadline for the six, and no second fetch by the framing
    assert trickle.connections == 6
    assert any("unknown size" in n for n in result.notes), result.notes  # the estimate goes on at the fallback


def _image_body(urls: list[str]) -> dict:
    parts = [{"type": "image_url", "image_url": {"url": u}} for u in urls]
    return {"model": "qwen3.5", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, *parts]}]}


def _ordinary(n: int) -> dict:
    """An ordinary count as the issue's probe timed it: ~25 kB of text, no URL (above the event loop's 16 KiB, so
    counted on a thread), distinct for each ``n`` (the answer memo would answer a repeat on the event loop)."""
    return {"model": "qwen3.5", "messages": [{"role": "user", "content": f"Ordinary words {n}. " * 1300}]}


def _post_all(base: str, bodies: list[dict], out: list) -> list[threading.Thread]:
    def post(body: dict) -> None:
        t0 = time.monotonic()
        r = httpx.post(base + "/v1/token/count", json=body, timeout=60)
        out.append((r.status_code, r.json(), time.monotonic() - t0))

    threads = [threading.Thread(target=post, args=(b,), daemon=True) for b in bodies]
    for t in threads:
        t.start()
    return threads


def test_slow_image_hosts_never_hold_the_counting_threads(trickle: TricklingServer) -> None:
    """Issue 21 item 2: three requests naming 64 trickling image URLs each are in flight (each would hold a
    counting thread for its whole 4 s request deadline if fetched there); an ordinary 25 kB count meanwhile answers
    at once, and the image requests still end at their deadline with an error naming the part."""
    settings = Settings(default_model="qwen3.5", media_allow_networks=("127.0.0.2/32",), media_deadline=2,
                        media_request_deadline=4)
    with running_server(settings) as base:
        assert httpx.post(base + "/v1/token/count", json=_ordinary(0), timeout=60).status_code == 200  # model loaded
        answers: list = []
        threads = _post_all(base, [_image_body([trickle.url(f"r{r}-{i}") for i in range(64)]) for r in range(3)],
                            answers)
        deadline = time.monotonic() + 5
        while trickle.active < 8 and time.monotonic() < deadline:  # the fetches are under way
            time.sleep(0.05)
        timings = []
        for _ in range(3):
            t0 = time.monotonic()
            r = httpx.post(base + "/v1/token/count", json=_ordinary(len(timings) + 1), timeout=60)
            timings.append(time.monotonic() - t0)
            assert r.status_code == 200, r.text
        for t in threads:
            t.join(timeout=30)
    assert max(timings) < 2.0, timings
    assert len(answers) == 3, answers
    for status, body, elapsed in answers:
        assert status == 400 and "took longer than" in body["error"]["message"], body
        assert 3.5 < elapsed < 8.0, elapsed  # the request's 4 s deadline bounds it, as before


def test_fetches_are_bounded_per_process_and_per_request(trickle: TricklingServer) -> None:
    """``media_total_concurrency`` caps the connections open at once over all requests; each request keeps at most
    ``media_concurrency`` of them."""
    settings = Settings(default_model="qwen3.5", media_allow_networks=("127.0.0.2/32",), media_deadline=1.5,
                        media_request_deadline=3, media_concurrency=6, media_total_concurrency=10)
    with running_server(settings) as base:
        assert httpx.post(base + "/v1/token/count", json=_ordinary(0), timeout=60).status_code == 200
        answers: list = []
        threads = _post_all(base, [_image_body([trickle.url(f"b{r}-{i}") for i in range(40)]) for r in range(3)],
                            answers)
        for t in threads:
            t.join(timeout=30)
        assert all(status == 400 for status, _, _ in answers) and len(answers) == 3, answers
    # every fetch lasts its whole 1.5 s deadline (the host never finishes its headers): how many were open at once
    # follows from when each started (the host's own count of open sockets lags the client's closes)
    assert _most_open(trickle.paths, 1.4) == 10, trickle.paths  # 3 requests x 6 would be 18
    for r in range(3):
        assert _most_open([(t, p) for t, p in trickle.paths if p.startswith(f"/b{r}-")], 1.4) <= 6
    assert len(trickle.paths) <= 3 * 6 * 2  # two waves of 6 per request fit in a 3 s deadline, no more


def _most_open(starts: list[tuple[float, str]], lasting: float) -> int:
    """The most of ``starts`` open at one moment, each open for ``lasting`` seconds after it started."""
    times = sorted(t for t, _ in starts)
    return max((sum(1 for u in times if t <= u < t + lasting) for t in times), default=0)


def test_a_small_body_with_an_escaped_url_never_fetches_on_the_event_loop(trickle: TricklingServer) -> None:
    """``http:\\/\\/`` is a URL once JSON is parsed though its bytes hold no ``://``: such a small body was
    counted on the event loop, which then waited on the image host; /healthz answers at once meanwhile now."""
    settings = Settings(default_model="qwen3.5", media_allow_networks=("127.0.0.2/32",), media_deadline=2)
    raw = orjson_dumps(_image_body([trickle.url("escaped")])).replace(b"://", b":\\/\\/")
    assert b"://" not in raw
    with running_server(settings) as base:
        assert httpx.post(base + "/v1/token/count", json=_ordinary(0), timeout=60).status_code == 200
        answers: list = []

        def post() -> None:
            r = httpx.post(base + "/v1/token/count", content=raw, timeout=60,
                           headers={"content-type": "application/json"})
            answers.append((r.status_code, r.json()))

        thread = threading.Thread(target=post, daemon=True)
        thread.start()
        deadline = time.monotonic() + 5
        while trickle.active < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        t0 = time.monotonic()
        assert httpx.get(base + "/healthz", timeout=10).status_code == 200
        health = time.monotonic() - t0
        thread.join(timeout=30)
    assert health < 0.5, health
    assert answers and answers[0][0] == 400 and "longer than 2 s" in answers[0][1]["error"]["message"], answers


def test_deferred_counts_name_every_unread_source_and_fetch_nothing(trickle: TricklingServer) -> None:
    """Inside ``deferred`` (the server's counting threads) no connection is made: the sizes not given raise
    NeedsFetch naming each of them, once; given ones (sizes and failures) answer each part."""
    from tokcount.media.sources import ImageInfo, NeedsFetch, deferred

    sources = [(f"messages[0].content[{i}]", trickle.url(f"d{i}")) for i in range(3)]
    with deferred({sources[0][1]: ImageInfo(10, 20, "png")}), pytest.raises(NeedsFetch) as need:
        prefetch(sources, POLICY)
    assert need.value.sources == sources[1:]
    failed = MediaError("messages[9].content[0]: gone.", param="messages[9].content[0]")
    known = {sources[0][1]: ImageInfo(10, 20, "png"), sources[1][1]: failed, sources[2][1]: ImageInfo(1, 1, "gif")}
    with deferred(known):
        got = prefetch(sources, POLICY)
        with pytest.raises(MediaError, match=r"^x: gone"):
            image_size(sources[1][1], policy=POLICY, where="x")
    assert got[sources[0][0]] == ImageInfo(10, 20, "png")
    assert isinstance(got[sources[1][0]], MediaError) and got[sources[1][0]].message.startswith(sources[1][0])
    time.sleep(0.3)
    assert trickle.connections == 0


def test_refusals_name_the_host_not_its_addresses(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="tokcount.media"), \
            pytest.raises(MediaError, match="refusing to fetch from 'localhost'") as err:
        image_size("http://localhost:9/x.png", policy=FetchPolicy(), where="messages[0].content[0]")
    assert "127.0.0.1" not in err.value.message and "::1" not in err.value.message
    assert any("127.0.0.1" in rec.getMessage() or "::1" in rec.getMessage() for rec in caplog.records)


# ------------------------------------------------------------------------------------------- slow clients
HEADER_TIMEOUT = 1.5
BODY_TIMEOUT = 2.0


@pytest.fixture(scope="module")
def strict() -> Iterator[tuple[str, int]]:
    settings = Settings(default_model="qwen3.5", header_timeout=HEADER_TIMEOUT, body_timeout=BODY_TIMEOUT)
    with running_server(settings) as url:
        yield url, int(url.rsplit(":", 1)[1])


def _drip(sock: socket.socket, data: bytes, interval: float, stop: threading.Event) -> None:
    for i in range(len(data)):
        if stop.is_set():
            return
        try:
            sock.sendall(data[i:i + 1])
        except OSError:
            return  # closed by the server: what the deadline should do
        time.sleep(interval)


def test_headers_at_one_byte_a_second_are_cut_off(strict: tuple[str, int]) -> None:
    url, port = strict
    request = (b"POST /v1/token/count HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: 2\r\n\r\n{}")
    stop = threading.Event()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        t0 = time.monotonic()
        threading.Thread(target=_drip, args=(sock, request, 1.0, stop), daemon=True).start()
        answer = read_until_closed(sock, 30)
        elapsed = time.monotonic() - t0
        stop.set()
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"request headers were not received within 1.5 s" in answer
    assert HEADER_TIMEOUT - 0.1 < elapsed < HEADER_TIMEOUT + 1.0, elapsed
    assert httpx.get(url + "/healthz", timeout=5).status_code == 200


def test_a_silent_connection_is_closed(strict: tuple[str, int]) -> None:
    _, port = strict
    with socket.create_connection(("127.0.0.1", port)) as sock:
        t0 = time.monotonic()
        answer = read_until_closed(sock, 30)
        elapsed = time.monotonic() - t0
    assert answer.startswith(b"HTTP/1.1 408") and elapsed < HEADER_TIMEOUT + 1.0, (answer, elapsed)


@pytest.mark.parametrize(("path", "error_type"), [("/v1/messages/count_tokens", b'"type":"error"'),
                                                  ("/v1/token/count", b'"error":{"message"')])
def test_a_body_at_one_byte_a_second_gets_a_408_in_the_routes_shape(strict: tuple[str, int], path: str,
                                                                    error_type: bytes) -> None:
    _, port = strict
    body = b'{"model": "qwen3.5", "messages": [{"role": "user", "content": "' + b"x" * 200 + b'"}]}'
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    stop = threading.Event()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head)  # the headers at once: only the body is slow
        t0 = time.monotonic()
        threading.Thread(target=_drip, args=(sock, body, 1.0, stop), daemon=True).start()
        answer = read_until_closed(sock, 30)
        elapsed = time.monotonic() - t0
        stop.set()
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert error_type in answer and b"not received within 2 s" in answer
    assert b"connection: close" in answer.lower()
    assert BODY_TIMEOUT - 0.1 < elapsed < BODY_TIMEOUT + 1.0, elapsed


def test_keep_alive_requests_get_the_header_deadline_too(strict: tuple[str, int]) -> None:
    _, port = strict
    body = b'{"model": "qwen3.5", "messages": [{"role": "user", "content": "hi"}]}'
    request = (f"POST /v1/token/count HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    stop = threading.Event()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(request)
        sock.settimeout(30)
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200"), first
        t0 = time.monotonic()
        threading.Thread(target=_drip, args=(sock, request, 0.5, stop), daemon=True).start()
        answer = read_until_closed(sock, 30)
        elapsed = time.monotonic() - t0
        stop.set()
    assert answer.startswith(b"HTTP/1.1 408") and elapsed < HEADER_TIMEOUT + 1.0, (answer, elapsed)


def test_fast_clients_and_large_bodies_still_work(strict: tuple[str, int]) -> None:
    url, _ = strict
    small = {"model": "qwen3.5", "messages": [{"role": "user", "content": "Hello there"}]}
    with httpx.Client(timeout=60) as client:  # one keep-alive connection, several requests
        counts = [client.post(url + "/v1/token/count", json=small).json() for _ in range(5)]
    assert len({c["input_tokens"] if "input_tokens" in c else str(c) for c in counts}) == 1
    text = "The quick brown fox jumps over the lazy dog. " * 100_000  # 4.5 MB
    big = {"model": "qwen3.5", "prompt": text}
    t0 = time.monotonic()
    r = httpx.post(url + "/tokenize", json=big, timeout=120)
    assert r.status_code == 200, r.text[:300]
    assert r.json()["count"] > 900_000
    print(f"4.5 MB body counted in {time.monotonic() - t0:.2f} s")


def test_serve_with_two_workers_has_the_header_deadline(tmp_path) -> None:
    """``tokcount serve --workers 2`` names the protocol by import path (the config is pickled to the workers) and
    each worker takes the deadline from its settings."""
    import os
    import subprocess
    import sys

    from support.serverkit import free_port

    port = free_port()
    env = {**os.environ, "TOKCOUNT_HEADER_TIMEOUT": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "tokcount.cli", "serve", "--port", str(port), "--workers", "2"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        results = []
        for _ in range(4):  # the two workers share the port: each of them must hold the deadline
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.sendall(b"POST /v1/token/count HTTP/1.1\r\nHost: x\r\n")  # and then nothing more
                t0 = time.monotonic()
                answer = read_until_closed(sock, 30)
                results.append((answer[:12], time.monotonic() - t0))
        assert all(a == b"HTTP/1.1 408" and t < 2.0 for a, t in results), results
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
