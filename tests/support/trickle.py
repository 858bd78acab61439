"""An image host that trickles its response headers one byte at a time, on 127.0.0.2: the slow peer of the
slow-peer and soak tests."""

from __future__ import annotations

import socket
import threading
import time


class TricklingServer:
    """Answers every connection with a status line and headers sent one byte per ``interval`` seconds, forever
    (until the client goes away): each byte arrives well inside any per-read timeout. Counts connections."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.connections = 0
        self.started: list[float] = []  # time.monotonic() of each connection
        self.paths: list[tuple[float, str]] = []  # (time.monotonic(), path) of each request
        self.active = 0
        self.peak = 0
        self._lock = threading.Lock()
        self._sock = socket.create_server(("127.0.0.2", 0))
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self._sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with self._lock:
            self.connections += 1
            self.started.append(time.monotonic())
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            request = conn.recv(65536)
            with self._lock:
                self.paths.append((time.monotonic(), request.split(b" ")[1].decode() if b" " in request else ""))
            head = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nX-Padding: " + b"a" * 100_000
            for i in range(len(head)):
                if self._stop.is_set():
                    return
                conn.sendall(head[i:i + 1])
                time.sleep(self.interval)
        except OSError:
            return  # the client hung up: what a deadline should make it do
        finally:
            with self._lock:
                self.active -= 1
            conn.close()

    def url(self, name: str) -> str:
        return f"http://127.0.0.2:{self.port}/{name}.png"

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
