"""Every mounted route, walked with hostile inputs over a real loopback server (issue 21, item 8): long, unicode,
NUL-bearing and path-like model names (in bodies, in Gemini's and the models route's paths, in /v1/fit's query and
the playground's list), numbers past 64 bits, wrong types in every field of every route's example body, whole bodies
that are not objects, image headers that declare bombs. No answer is a 500 or anything but JSON, and the connection
is never reset. Then each class the walk found, by itself: a 300-character name, ``/v1/fit?budget=`` past 64 bits,
WebP and GIF headers declaring more pixels than the limit, and an exception escaping a route."""

from __future__ import annotations

import base64
import io
import json
import struct
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from PIL import Image

from support.serverkit import running_server
from tokcount.dialects import dialects
from tokcount.server import create_app
from tokcount.settings import Settings

SETTINGS = Settings(default_model="qwen3.5")

NAMES = [
    "a" * 300, "org/" + "a" * 300, "a" * 300 + "/x", "x" * 20_000, "org/" + "é" * 120, "org/" + "😀" * 60,
    "a/b\x00c", "\x00", "../../etc/passwd", "org/..", "org/./x", "qwen3.5\n", " ", "\u202eevil", "Qwen/" + "b" * 95,
    "Qwen/" + "b" * 200, "C:\\Windows\\system32", "%00", "a" * 255 + "/" + "b" * 255, "org/name/extra/more", "//",
    "con/aux", "qwen3.5" + "\x7f", "qwen3.5:countTokens",
]
NUMBERS: list[Any] = [2**64 - 1, 2**63, -(2**63), 10**30, 1e308, -1e308, 0, -1, 1.5]
WRONG: list[Any] = [None, True, "", "s" * 300, [], {}, [None], {"a": None}, [[[[[]]]]], ["\x00"]]


def _webp(width: int, height: int) -> bytes:
    chunk = (b"VP8X" + struct.pack("<I", 10) + b"\0\0\0\0" + (width - 1).to_bytes(3, "little")
             + (height - 1).to_bytes(3, "little"))
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def _gif_frame_bomb() -> bytes:
    """A 1x1 GIF whose first frame is 65535x65535 (Pillow's GIF plugin grows the image and checks it itself)."""
    return (b"GIF89a" + struct.pack("<HH", 1, 1) + b"\0\0\0" + b"," + struct.pack("<HHHH", 0, 0, 65535, 65535)
            + b"\0\x02\x02\x4c\x01\0;")


def _png(size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size).save(buf, "PNG")
    return buf.getvalue()


IMAGES = {"webp-bomb": _webp(16384, 16384), "webp-side": _webp(70000, 2), "gif-bomb": _gif_frame_bomb(),
          "truncated-png": _png((4, 4))[:20], "garbage": b"\xff\xd8\xff" + b"\0" * 64, "empty": b""}
URLS = ["http://[2002:7f00:1::]/x.png", "http://[64:ff9b::a9fe:a9fe]/x.png", "http://[::ffff:127.0.0.1]:1/x.png",
        "http://127.0.0.1:1/x.png", "file:///etc/passwd", "data:image/png;base64,%%%", "http://" + "a" * 300 + "/x"]


def _image_bodies(dialect: str, data: bytes | None, url: str | None) -> dict[str, Any] | None:
    """A body of ``dialect``'s shape holding one image (inline ``data`` or ``url``)."""
    b64 = base64.b64encode(data or b"").decode()
    data_url = url or f"data:image/png;base64,{b64}"
    if dialect in ("stepfun", "moonshot", "openai-chat"):
        return {"model": "qwen3.5", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": data_url}}]}]}
    if dialect == "anthropic":
        source = {"type": "url", "url": url} if url else {"type": "base64", "media_type": "image/png", "data": b64}
        return {"model": "qwen3.5", "messages": [{"role": "user", "content": [{"type": "image", "source": source}]}]}
    if dialect == "openai-responses":
        return {"model": "qwen3.5", "input": [{"role": "user", "content": [
            {"type": "input_image", "image_url": data_url}]}]}
    if dialect == "gemini":
        part = ({"file_data": {"mime_type": "image/png", "file_uri": url}} if url
                else {"inline_data": {"mime_type": "image/png", "data": b64}})
        return {"contents": [{"role": "user", "parts": [part]}]}
    return None


def _post_cases() -> Iterator[tuple[str, str, Any]]:
    """(path, dialect, body) for every dialect route: each example field replaced by each hostile value, the model
    by each hostile name, one image of each hostile kind, and bodies that are not objects."""
    for dialect in dialects().values():
        for route in dialect.routes:
            if route.path is None:
                continue
            paths = [route.path.replace("{model}", "qwen3.5")]
            if route.path_params:
                paths += [route.path.replace("{model}", quote(n, safe="")) for n in NAMES]
            example = route.example or {}
            for path in paths[1:]:
                yield path, dialect.name, example
            path = paths[0]
            for key in example:
                for value in [*NAMES, *NUMBERS, *WRONG]:
                    yield path, dialect.name, {**example, key: value}
            for extra in ("messages", "tokens", "prompt", "contents", "input", "fallbacks", "tools", "system"):
                for value in [*NUMBERS, *WRONG, [{"role": "user", "content": v} for v in NUMBERS]]:
                    yield path, dialect.name, {**example, extra: value}
            for data in IMAGES.values():
                body = _image_bodies(dialect.name, data, None)
                if body is not None:
                    yield path, dialect.name, body
            for url in URLS:
                body = _image_bodies(dialect.name, None, url)
                if body is not None:
                    yield path, dialect.name, body
            for raw in (b"", b"null", b"[]", b"1e999", b'"x"', b"\x00", b"\xff\xfe", b"9" * 5000,
                        b"[" * 100_000, b'{"model": "' + b"\\u0000" * 1000 + b'"}', json.dumps(2**64).encode()):
                yield path, dialect.name, raw


def _fit_cases() -> Iterator[tuple[str, Any]]:
    numbers = ["9" * 30, "-" + "9" * 30, "18446744073709551616", "9" * 5000, "1e5", "0x10", "nan", "inf", "\x00",
               "-1", "0", "９", " 5", "5 "]
    body = {"model": "qwen3.5", "messages": [{"role": "user", "content": "hi"}]}
    for n in numbers:
        yield f"/v1/fit?budget={quote(n)}", body
        yield f"/v1/fit?budget=100&reserve={quote(n)}", body
    for name in NAMES:
        yield f"/v1/fit?model={quote(name, safe='')}&budget=100", body
        yield f"/v1/fit?dialect={quote(name, safe='')}", body
    for dialect in dialects():
        yield f"/v1/fit?dialect={dialect}&budget={'9' * 30}", body
        yield f"/v1/fit?dialect={dialect}&model={quote(NAMES[0])}", body
    yield "/v1/fit?truncate=" + "x" * 1000, body
    for value in [*NUMBERS, *WRONG]:
        yield "/v1/fit?budget=100", value
        yield "/v1/fit?budget=100", {"model": "qwen3.5", "messages": value}


def _playground_cases() -> Iterator[Any]:
    chat = [{"role": "user", "content": "hi"}]
    for name in NAMES:
        yield {"dialect": "openai-chat", "models": [name], "request": {"messages": chat}}
        yield {"dialect": name, "models": ["qwen3.5"], "request": {"messages": chat}}
        yield {"dialect": "text", "models": [name], "request": "hi"}
        yield {"dialect": "gemini", "models": [name], "request": {"contents": [{"parts": [{"text": "hi"}]}]}}
    for value in [*NUMBERS, *WRONG]:
        yield {"dialect": "openai-chat", "models": value, "request": {"messages": chat}}
        yield {"dialect": "openai-chat", "models": ["qwen3.5"], "request": value}
        yield {"dialect": value, "models": ["qwen3.5"], "request": {"messages": chat}}
        yield value


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with running_server(SETTINGS) as url:
        yield url


def _check(r: httpx.Response, what: str, bad: list[str]) -> None:
    if r.status_code >= 500:
        bad.append(f"{r.status_code} {what}: {r.text[:160]}")
    elif r.status_code >= 400:
        try:
            body = r.json()
        except ValueError:
            bad.append(f"{r.status_code} not JSON {what}: {r.text[:160]}")
            return
        if not isinstance(body, dict) or r.headers.get("content-type", "").split(";")[0] != "application/json":
            bad.append(f"{r.status_code} not a JSON error object {what}: {r.text[:160]}")


def _send(client: httpx.Client, method: str, path: str, body: Any = None) -> httpx.Response:
    content = body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
    return client.request(method, path, content=content, headers={"content-type": "application/json"})


def test_every_mounted_route_is_walked() -> None:
    """The walk below covers every route the app mounts (a new route must be added to it, or this fails)."""
    walked = {r.path for d in dialects().values() for r in d.routes if r.path}
    walked |= {"/v1/fit", "/v1/playground/count", "/v1/models/{model_id:path}", "/playground/{name}", "/healthz",
               "/readyz", "/v1/models", "/metrics", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json",
               "/playground"}
    mounted = {r.path for r in create_app(SETTINGS).routes if hasattr(r, "methods") and r.path}
    assert mounted <= walked, mounted - walked


def test_hostile_inputs_on_every_route(base: str) -> None:
    bad: list[str] = []
    n = 0
    with httpx.Client(base_url=base, timeout=60) as client:
        for path, dialect, body in _post_cases():
            r = _send(client, "POST", path, body)
            _check(r, f"POST {path[:80]} ({dialect}) {str(body)[:100]!r}", bad)
            n += 1
        for path, body in _fit_cases():
            r = _send(client, "POST", path, body)
            _check(r, f"POST {path[:100]} {str(body)[:80]!r}", bad)
            n += 1
        for body in _playground_cases():
            r = _send(client, "POST", "/v1/playground/count", body)
            _check(r, f"POST /v1/playground/count {str(body)[:100]!r}", bad)
            n += 1
        for name in NAMES:
            for path in (f"/v1/models/{quote(name, safe='/')}", f"/v1/models/{quote(name, safe='')}",
                         f"/playground/{quote(name, safe='')}", f"/v1beta/models/{quote(name, safe='')}:countTokens"):
                r = client.get(path)
                _check(r, f"GET {path[:100]}", bad)
                n += 1
        for path in ("/healthz", "/readyz", "/v1/models", "/metrics", "/openapi.json", "/docs", "/redoc",
                     "/playground", "/docs/oauth2-redirect"):
            for query in ("", "?x=" + "\x00", "?key=" + "a" * 5000, "?" + "&".join(["a=b"] * 500)):
                r = client.get(path + query.replace("\x00", "%00"))
                _check(r, f"GET {path}{query[:40]}", bad)
                n += 1
    assert n > 3000, n
    assert not bad, f"{len(bad)} of {n} answers were 500s or not JSON:\n" + "\n".join(bad[:40])


# ---------------------------------------------------------------------------------------- each class by itself
def test_a_long_model_name_is_a_400_naming_the_limit(base: str) -> None:
    for name in ("a" * 300 + "/x", "org/" + "a" * 300):
        r = httpx.post(base + "/v1/messages/count_tokens", json={"model": name, "messages": [
            {"role": "user", "content": "hi"}]}, timeout=30)
        assert r.status_code == 400, r.text
        assert "at most 256 characters" in r.json()["error"]["message"]
        r = httpx.get(base + "/v1/models/" + name, timeout=30)
        assert r.status_code == 400, r.text
    # a repo id the Hub could not hold never becomes a path: unknown, not an error of the filesystem
    r = httpx.post(base + "/tokenize", json={"model": "Qwen/" + "b" * 200, "prompt": "hi"}, timeout=30)
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_model", r.text
    r = httpx.post(base + "/tokenize", json={"model": "org/" + "é" * 120, "prompt": "hi"}, timeout=30)
    assert r.status_code == 404, r.text


def test_fit_budgets_past_64_bits_are_a_400(base: str) -> None:
    body = {"model": "qwen3.5", "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client(base_url=base, timeout=30) as client:
        for query in ("budget=" + "9" * 30, "budget=100&reserve=-" + "9" * 30, "budget=18446744073709551616",
                      "budget=9007199254740992"):
            r = client.post("/v1/fit?" + query, json=body)
            assert r.status_code == 400, (query, r.text)
            assert r.json()["error"]["param"] in ("budget", "reserve")
        r = client.post("/v1/fit?budget=9007199254740991", json=body)  # the largest taken
        assert r.status_code == 200 and r.json()["budget"] == 2**53 - 1, r.text
        assert client.get("/healthz").status_code == 200  # the same connection: never reset


@pytest.mark.parametrize(("image", "status"), [("webp-bomb", 413), ("webp-side", 413), ("gif-bomb", 413)])
def test_bomb_headers_are_a_413_on_every_image_route(base: str, image: str, status: int) -> None:
    for dialect, path in (("stepfun", "/v1/token/count"), ("anthropic", "/v1/messages/count_tokens"),
                          ("gemini", "/v1beta/models/gemini-2.5-flash:countTokens"),
                          ("openai-responses", "/v1/responses/input_tokens")):
        body = _image_bodies(dialect, IMAGES[image], None)
        r = httpx.post(base + path, json=body, timeout=30)
        assert r.status_code == status, (dialect, r.text)
        assert "pixels" in r.text


def test_an_exception_escaping_any_route_is_json_in_its_shape() -> None:
    """The backstop itself: a route that raises (here a real app with one route made to fail) answers a JSON 500 in
    its own dialect's shape on a connection that stays usable, never Starlette's plain text."""
    app = create_app(SETTINGS)

    @app.post("/v1/messages/boom")
    async def boom() -> None:
        raise OSError(36, "File name too long")

    @app.post("/tokenize/boom")
    async def boom2() -> None:
        raise TypeError("Integer exceeds 64-bit range")

    import threading
    import time

    import uvicorn

    from support.serverkit import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            r = client.post("/v1/messages/boom")
            assert r.status_code == 500 and r.json()["type"] == "error", r.text  # Anthropic's shape
            assert r.json()["error"]["type"] == "api_error"
            r = client.post("/tokenize/boom")
            assert r.status_code == 500 and r.headers["content-type"] == "application/json", r.text
            assert "64-bit" not in r.text
            assert client.get("/healthz").status_code == 200
    finally:
        server.should_exit = True
        thread.join(10)
