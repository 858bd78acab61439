"""A real tokcount server on a free loopback port, run by uvicorn in a background thread, for the server tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

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
