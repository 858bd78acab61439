"""Request heads are bounded (issue 21, item 1): a request line plus headers past ``max_header_bytes``, or with more
than ``max_headers`` fields, gets a 431 in JSON and a closed connection, on a real loopback server, with httptools
(what ``serve`` runs) and with h11 (uvicorn's fallback). Bodies, keep-alive and pipelined requests are not counted
against it; a flood of headers is cut off at the limit, so a worker does not grow (``tokcount serve`` measured by
its peak RSS); ``serve --workers 2`` takes the limits from its settings; a request uvicorn cannot parse is a JSON
400, never plain text."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from support.serverkit import free_port, read_until_closed, running_server
from tokcount.httpguard import timed_protocol
from tokcount.protocol import H11Guard, HeaderDeadlineProtocol
from tokcount.settings import Settings

LIMIT = 8192
FIELDS = 20
PROTOCOLS = {"httptools": HeaderDeadlineProtocol, "h11": H11Guard}


@pytest.fixture(scope="module", params=sorted(PROTOCOLS))
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    """A server with small head limits, on one of the two parsers."""
    settings = Settings(default_model="qwen3.5", max_header_bytes=LIMIT, max_headers=FIELDS)
    http = timed_protocol(settings.header_timeout, LIMIT, FIELDS, base=PROTOCOLS[request.param])
    with running_server(settings, http=http) as url:
        yield request.param, int(url.rsplit(":", 1)[1])


def _exchange(port: int, data: bytes, wait: float = 10.0) -> bytes:
    """Send ``data`` and read until the server closes the connection (or ``wait`` passes)."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        with contextlib.suppress(OSError):  # the server answered and closed before taking it all
            sock.sendall(data)
        return read_until_closed(sock, wait)


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def _json_body(answer: bytes) -> dict:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), head
    return json.loads(body)


def _head(size: int, path: str = "/healthz") -> bytes:
    """A complete GET head of exactly ``size`` bytes (padded with one header), closing the connection after."""
    start = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: ".encode()
    pad = size - len(start) - 4
    assert pad >= 0
    return start + b"a" * pad + b"\r\n\r\n"


def test_a_head_over_the_byte_limit_is_431(server: tuple[str, int]) -> None:
    _, port = server
    answer = _exchange(port, _head(LIMIT + 4096))
    assert _status(answer) == 431, answer[:200]
    error = _json_body(answer)["error"]
    assert str(LIMIT) in error["message"] and "max_header_bytes" in error["message"], error
    assert b"connection: close" in answer.lower()


def test_a_long_request_line_is_431(server: tuple[str, int]) -> None:
    _, port = server
    answer = _exchange(port, b"GET /healthz?q=" + b"a" * (2 * LIMIT) + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert _status(answer) == 431, answer[:200]


def test_the_byte_limit_is_exact(server: tuple[str, int]) -> None:
    _, port = server
    assert _status(_exchange(port, _head(LIMIT))) == 200
    assert _status(_exchange(port, _head(LIMIT + 1))) == 431


def test_too_many_header_fields_is_431(server: tuple[str, int]) -> None:
    _, port = server

    def fields(n: int) -> bytes:  # Host, Connection and n - 2 more
        return (b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                + b"".join(b"X-F%d: v\r\n" % i for i in range(n - 2)) + b"\r\n")

    assert _status(_exchange(port, fields(FIELDS))) == 200
    answer = _exchange(port, fields(FIELDS + 1))
    assert _status(answer) == 431, answer[:200]
    assert "max_headers" in _json_body(answer)["error"]["message"]


def test_a_header_flood_is_cut_off_at_the_limit(server: tuple[str, int]) -> None:
    """30 MB of one header that never ends: the server stops reading (431, closed) long before the client is
    through; without the limit it takes all of it and waits for more."""
    _, port = server
    sent = 0
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(10)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Flood: ")
        chunk = b"a" * 65536
        try:
            while sent < 30 * 2**20:
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
        try:
            answer = sock.recv(65536)
        except OSError:
            answer = b""
    assert sent < 20 * 2**20, sent  # socket buffers hold a few MB; the server read at most LIMIT + one read
    if answer:  # a reset can beat the answer to the client: the limit held either way
        assert _status(answer) == 431, answer[:200]


def test_bodies_keep_alive_and_pipelining_are_not_counted(server: tuple[str, int]) -> None:
    name, port = server
    body = json.dumps({"model": "qwen3.5", "messages": [{"role": "user", "content": "hello " * 40_000}]}).encode()
    assert len(body) > 20 * LIMIT
    post = (b"POST /v1/token/count HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body)
    small = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * (LIMIT // 3) + b"\r\n\r\n"
    last = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    # one write: a head and a body far over the limit, then five heads on the same connection that together are
    answer = _exchange(port, post + small * 5 + last, wait=60)
    statuses = [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)]
    assert statuses == [200] * 7, (name, statuses, answer[-300:])


def test_a_request_uvicorn_cannot_parse_is_a_json_400(server: tuple[str, int]) -> None:
    _, port = server
    answer = _exchange(port, b"NOT HTTP AT ALL\r\n\r\n")
    assert _status(answer) == 400, answer[:200]
    assert _json_body(answer)["error"]["code"] == "bad_request"


def test_served_with_defaults_a_normal_request_passes() -> None:
    """The defaults (64 KiB, 100 fields) let a browser-sized request through: 60 fields, 40 KB of cookies."""
    settings = Settings(default_model="qwen3.5")
    assert (settings.max_header_bytes, settings.max_headers) == (65536, 100)
    headers = {f"x-h{i}": "v" * 10 for i in range(57)} | {"cookie": "c=" + "z" * 40_000}
    with running_server(settings) as url:
        r = httpx.get(url + "/healthz", headers=headers, timeout=10)
        assert r.status_code == 200, r.text
        r = httpx.get(url + "/healthz", headers={"cookie": "c=" + "z" * 70_000}, timeout=10)
        assert r.status_code == 431 and r.json()["error"]["type"] == "request_too_large"


def _serve(port: int, env: dict[str, str], workers: int = 1) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "tokcount.cli", "serve", "--port", str(port), "--workers",
                             str(workers)], env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("tokcount serve did not start")


def _peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024


def test_serve_does_not_grow_under_a_header_flood() -> None:
    """``tokcount serve`` (one process): 50 MB of 100-byte header lines on one connection. Before the limit the
    process's peak RSS grew by ~125 MB and it answered 200; now it answers 431 and its peak stays put."""
    port = free_port()
    proc = _serve(port, {"TOKCOUNT_HEADER_TIMEOUT": "60"})
    try:
        before = _peak_rss_mb(proc.pid)
        lines = b"".join(b"X-H%05d: " % i + b"a" * 90 + b"\r\n" for i in range(600))
        sent = 0
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.settimeout(30)
            try:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                while sent < 50 * 2**20:
                    sock.sendall(lines)
                    sent += len(lines)
                sock.sendall(b"\r\n")
            except OSError:
                pass
            try:
                answer = sock.recv(300)
            except OSError:
                answer = b""
        time.sleep(0.5)
        grown = _peak_rss_mb(proc.pid) - before
        print(f"sent {sent / 2**20:.1f} MiB of headers; peak RSS {before:.0f} MiB -> +{grown:.1f} MiB; "
              f"answer {answer[:40]!r}")
        assert grown < 15, grown
        assert not answer or _status(answer) == 431, answer
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    finally:
        proc.terminate()
        proc.wait(30)


def test_serve_with_two_workers_takes_the_limits_from_its_settings() -> None:
    port = free_port()
    proc = _serve(port, {"TOKCOUNT_MAX_HEADER_BYTES": "2048", "TOKCOUNT_MAX_HEADERS": "8"}, workers=2)
    try:
        for _ in range(4):  # the two workers share the port: each must hold the limits
            assert _status(_exchange(port, _head(3000))) == 431
            many = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 8 + b"\r\n"
            assert _status(_exchange(port, many)) == 431
            assert _status(_exchange(port, _head(1000))) == 200
    finally:
        proc.terminate()
        proc.wait(30)
