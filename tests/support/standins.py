"""Loopback stand-ins for the providers' own count endpoints: real HTTP servers on 127.0.0.1 that check each
request's path, key header and body shape the way the provider would, and answer in the provider's shape.

The body check runs tokcount's own parser for that provider's shape (the dialect modules, which follow the
providers' published schemas, /work/shared/seeds), so a translation the provider would refuse is refused here
too (HTTP 400 in the provider's error shape, and listed in ``problems``). Each stand-in also counts the requests
in flight at once (``peak``), can hang until released, answer an error status, or echo the key it was sent
(as some providers do in an error message) to prove that nothing echoes it further.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tokcount.dialects import dialects
from tokcount.errors import TokcountError
from tokcount.settings import Settings

#: the count every stand-in answers: far from any local count of the small test requests
ANSWER = 7777
PATHS = {
    "openai": re.compile(r"^/v1/responses/input_tokens$"),
    "anthropic": re.compile(r"^/v1/messages/count_tokens$"),
    "gemini": re.compile(r"^/v1beta/models/(?P<model>[A-Za-z0-9._-]+):countTokens$"),
    "moonshot": re.compile(r"^/v1/tokenizers/estimate-token-count$"),
    "stepfun": re.compile(r"^/v1/token/count$"),
}
DIALECT = {"openai": "openai-responses", "anthropic": "anthropic", "gemini": "gemini", "moonshot": "moonshot",
           "stepfun": "stepfun"}


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes


class StandIn:
    """One provider's count endpoint. ``mode``: ``"ok"``, ``"hang"`` (until :meth:`release`), ``"hold"`` (answer
    ok once released), an int status (answered in the provider's error shape), ``"echo-key"`` (401 whose message
    quotes the key received), ``("trickle", seconds)`` (a valid answer, one byte every ``seconds``, headers
    included) or a ``(status, bytes)`` raw reply."""

    def __init__(self, provider: str, key: str) -> None:
        self.provider, self.key = provider, key
        self.mode: Any = "ok"
        self.requests: list[Seen] = []
        self.problems: list[str] = []
        self.in_flight = 0
        self.peak = 0
        self._lock = threading.Lock()
        self._released = threading.Event()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                stand_in._handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True, name=f"standin-{provider}").start()

    def reset(self, mode: Any = "ok") -> None:
        with self._lock:
            self.mode, self.requests, self.problems, self.peak = mode, [], [], 0
            self._released = threading.Event()

    def release(self) -> None:
        self._released.set()

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()

    # ------------------------------------------------------------------ one request
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        raw = h.rfile.read(int(h.headers.get("content-length", 0)))
        headers = {k.lower(): v for k, v in h.headers.items()}
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        with self._lock:
            self.requests.append(Seen(h.path, headers, body, raw))
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            mode, released = self.mode, self._released
        try:
            problems = self.check(h.path, headers, body)
            if problems:
                with self._lock:
                    self.problems.extend(problems)
                return self._send(h, *self.error(400, "; ".join(problems)))
            if mode in ("hang", "hold"):
                released.wait(30)
                if mode == "hang":
                    return None  # never answered: the connection is closed when the handler returns
            if mode == "echo-key":
                got = headers.get("x-api-key") or headers.get("x-goog-api-key") or headers.get("authorization", "")
                return self._send(h, *self.error(401, f"Incorrect API key provided: {got}"))
            if isinstance(mode, int):
                return self._send(h, *self.error(mode, "upstream trouble"))
            if isinstance(mode, tuple) and mode[0] == "trickle":
                return self._trickle(h, mode[1], json.dumps(self.answer(ANSWER)).encode())
            if isinstance(mode, tuple):
                return self._send(h, mode[0], mode[1])
            return self._send(h, 200, json.dumps(self.answer(ANSWER)).encode())
        finally:
            with self._lock:
                self.in_flight -= 1

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, data: bytes) -> None:
        try:
            h.send_response(status)
            h.send_header("content-type", "application/json")
            h.send_header("content-length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    @staticmethod
    def _trickle(h: BaseHTTPRequestHandler, every: float, data: bytes) -> None:
        """A valid 200 answer sent one byte every ``every`` seconds, the status line and headers included (an
        HTTP client's read timeout restarts with each byte): until the client hangs up."""
        head = (f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(data)}\r\n"
                "x-padding: " + "." * 200 + "\r\n\r\n").encode()
        try:
            for i in range(len(head + data)):
                h.wfile.write((head + data)[i:i + 1])
                h.wfile.flush()
                time.sleep(every)
        except (BrokenPipeError, ConnectionResetError):
            pass
        h.close_connection = True

    # ------------------------------------------------------------------ the provider's rules
    def check(self, path: str, headers: dict[str, str], body: Any) -> list[str]:
        """What the provider would refuse about this request (empty: nothing)."""
        p = self.provider
        problems = []
        match = PATHS[p].match(path)
        if match is None:
            problems.append(f"wrong path {path!r}")
        if p == "anthropic":
            if headers.get("x-api-key") != self.key:
                problems.append("x-api-key is not the operator's key")
            if not headers.get("anthropic-version"):
                problems.append("anthropic-version header missing")
        elif p == "gemini":
            if headers.get("x-goog-api-key") != self.key:
                problems.append("x-goog-api-key is not the operator's key")
            if "key=" in path:
                problems.append("the key must not be in the URL")
        elif headers.get("authorization") != f"Bearer {self.key}":
            problems.append("Authorization is not the operator's key")
        if not isinstance(body, dict):
            return [*problems, "body is not a JSON object"]
        if p != "gemini" and not isinstance(body.get("model"), str):
            problems.append("model missing")
        if p == "gemini" and match is not None:
            gcr = body.get("generateContentRequest")
            if isinstance(gcr, dict) and gcr.get("model") != f"models/{match['model']}":
                problems.append("generateContentRequest.model does not name the URL's model")
        if problems:
            return problems
        route = dialects()[DIALECT[p]].routes[0]
        try:
            route.parse(body, Settings(), **({"model": match["model"]} if p == "gemini" and match else {}))
        except TokcountError as exc:
            problems.append(f"{p} would refuse the body: {exc.message}")
        return problems

    def answer(self, n: int) -> dict[str, Any]:
        if self.provider == "openai":
            return {"object": "response.input_tokens", "input_tokens": n}
        if self.provider == "anthropic":
            return {"input_tokens": n}
        if self.provider == "gemini":
            return {"totalTokens": n, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": n}]}
        return {"data": {"total_tokens": n}}

    def error(self, status: int, message: str) -> tuple[int, bytes]:
        p = self.provider
        if p == "anthropic":
            kind = {401: "authentication_error", 429: "rate_limit_error", 529: "overloaded_error"}.get(
                status, "api_error" if status >= 500 else "invalid_request_error")
            body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message}}
        elif p == "gemini":
            kind = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                    429: "RESOURCE_EXHAUSTED"}.get(status, "INTERNAL")
            body = {"error": {"code": status, "message": message, "status": kind}}
        else:
            kind = {401: "invalid_api_key", 429: "rate_limit_exceeded"}.get(
                status, "server_error" if status >= 500 else "invalid_request_error")
            body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
        return status, json.dumps(body).encode()


@contextmanager
def stand_ins(key_prefix: str = "op-key") -> Iterator[dict[str, StandIn]]:
    """A stand-in per provider, each expecting the operator key ``<key_prefix>-<provider>``."""
    servers = {p: StandIn(p, f"{key_prefix}-{p}") for p in PATHS}
    try:
        yield servers
    finally:
        for s in servers.values():
            s.close()
