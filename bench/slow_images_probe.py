"""Issue 21's slow-image probe, measured: a ``tokcount serve --workers 1`` on loopback gets two requests naming
256 image URLs each on a loopback host (127.0.0.2) that trickles its response headers a byte every 0.2 s, with the
default fetch deadlines (10 s per image, 30 s per request); meanwhile an ordinary ~25 kB count (no URL, a distinct
body each time) is timed every 0.5 s. Prints, as one JSON object, the ordinary count's slowest and median answer,
the image requests' status and time, and how many connections the host saw.

    PYTHONPATH=src .venv/bin/python -m bench.slow_images_probe
"""

from __future__ import annotations

import json
import socket
import statistics
import threading
import time
from typing import Any

import httpx

from .serving import serving


class Trickler:
    """Answers each connection with headers sent one byte per 0.2 s, until the client goes away."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.2", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with self.lock:
            self.connections += 1
        try:
            conn.recv(65536)
            for b in b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nX-Pad: " + b"a" * 100_000:
                conn.sendall(bytes([b]))
                time.sleep(0.2)
        except OSError:
            pass
        finally:
            conn.close()


def main() -> None:
    host = Trickler()
    with serving(env={"TOKCOUNT_MEDIA_ALLOW_NETWORKS": "127.0.0.2/32"}) as (_, base):
        client = httpx.Client(timeout=120)

        def ordinary(n: int) -> dict[str, Any]:
            return {"model": "qwen3.5", "messages": [{"role": "user", "content": f"Ordinary words {n}. " * 1300}]}

        assert client.post(base + "/v1/token/count", json=ordinary(0)).status_code == 200
        images: list[dict[str, Any]] = []

        def heavy(r: int) -> None:
            parts = [{"type": "image_url", "image_url": {"url": f"http://127.0.0.2:{host.port}/{r}-{i}.png"}}
                     for i in range(256)]
            t0 = time.monotonic()
            resp = httpx.post(base + "/v1/token/count", timeout=120, json={
                "model": "qwen3.5", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"},
                                                                              *parts]}]})
            images.append({"status": resp.status_code, "seconds": round(time.monotonic() - t0, 2)})

        threads = [threading.Thread(target=heavy, args=(r,)) for r in range(2)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        timings = []
        while any(t.is_alive() for t in threads):
            t0 = time.monotonic()
            assert client.post(base + "/v1/token/count", json=ordinary(len(timings) + 1)).status_code == 200
            timings.append(time.monotonic() - t0)
            time.sleep(0.5)
        out = {"ordinary_counts": len(timings), "ordinary_slowest_s": round(max(timings), 3),
               "ordinary_median_s": round(statistics.median(timings), 3), "image_requests": images,
               "host_connections": host.connections}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
