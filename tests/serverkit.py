"""A real tokcount server on a free loopback port, run by uvicorn in a background thread, for the server tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from tokcount.server import create_app, uvicorn_options
from tokcount.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(settings: Settings) -> Iterator[str]:
    """Yields the base URL (``http://127.0.0.1:PORT``) of a started server; stops it afterwards."""
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning",
                            lifespan="on", **uvicorn_options(settings))  # the slow-client limits `serve` uses
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
