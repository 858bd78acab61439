"""A ``tokcount serve`` subprocess on a free loopback port, for the probes (``playground_probe``,
``slow_images_probe``): started with this tree's ``src`` (or the ``PYTHONPATH`` given, to measure another tree),
ready when ``/healthz`` answers, stopped afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .server import _free_port, _wait_ready

REPO = Path(__file__).resolve().parents[1]


@contextmanager
def serving(workers: int = 1, env: dict[str, str] | None = None) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Yields the server process (its pid is the worker's with ``workers=1``) and its base URL."""
    port = _free_port()
    full = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH") or str(REPO / "src"), **(env or {})}
    proc = subprocess.Popen([sys.executable, "-m", "tokcount.cli", "serve", "--host", "127.0.0.1", "--port",
                             str(port), "--workers", str(workers)], cwd=REPO, env=full, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        _wait_ready(port, "/healthz")
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
