"""A real tokcount server on a free loopback port, run by uvicorn in a background thread, for the server tests (or
as ``tokcount serve`` in a subprocess, :func:`serve_process`, where a test measures the worker process itself)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

from tokcount.server import create_app, uvicorn_options
from tokcount.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(settings: Settings, **options: Any) -> Iterator[str]:
    """Yields the base URL (``http://127.0.0.1:PORT``) of a started server; stops it afterwards. ``options``
    override the uvicorn options ``serve`` uses (e.g. ``http=`` another protocol class)."""
    port = free_port()
    options = {**uvicorn_options(settings), **options}  # the slow-client and header limits `serve` uses
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning",
                            lifespan="on", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"tokcount-test-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def serve_process(*args: str, env: dict[str, str] | None = None) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``tokcount serve --port PORT *args`` in a subprocess (this process's environment plus ``env``); yields the
    process and its base URL once ``/healthz`` answers; terminated afterwards."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tokcount.cli", "serve", "--port", str(port), *args],
                            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("tokcount serve did not start") from None
                time.sleep(0.1)
        yield proc, base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def read_until_closed(sock: socket.socket, limit: float) -> bytes:
    """Everything the server sends until it closes the connection (or ``limit`` seconds pass)."""
    sock.settimeout(limit)
    got = b""
    try:
        while chunk := sock.recv(65536):
            got += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return got
