"""Image sizes from data URLs, files and real HTTP servers on loopback: header-only reads, caps, timeouts,
redirects and the address guard each end as designed (never a hang)."""

from __future__ import annotations

import base64
import contextlib
import io
import ipaddress
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from PIL import Image

from tokcount.errors import AddressRefused, MediaError
from tokcount.media import fetch
from tokcount.media.sources import CACHE, FetchPolicy, image_size


def _encode(fmt: str, size: tuple[int, int], mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, (10, 20, 30) if mode == "RGB" else 0).save(buf, format=fmt)
    return buf.getvalue()


def _data_url(fmt: str, size: tuple[int, int], mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(_encode(fmt, size)).decode()


@pytest.mark.parametrize(("fmt", "mime"), [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp"),
                                           ("GIF", "image/gif"), ("BMP", "image/bmp")])
def test_data_urls_of_every_format(fmt: str, mime: str) -> None:
    for size in [(1, 1), (333, 77), (2049, 1025)]:
        info = image_size(_data_url(fmt, size, mime))
        assert (info.width, info.height) == size
        assert info.format == fmt.lower()


def test_data_url_errors_name_the_part() -> None:
    with pytest.raises(MediaError, match=r"messages\[1\]\.content\[0\].*base64"):
        image_size("data:image/png;base64,@@@not-base64@@@", where="messages[1].content[0]")
    with pytest.raises(MediaError, match="not a readable image"):
        image_size("data:image/png;base64," + base64.b64encode(b"hello, not an image").decode())
    with pytest.raises(MediaError, match="unsupported image format"):
        image_size("data:image/tiff;base64," + base64.b64encode(_encode("TIFF", (4, 4))).decode())
    with pytest.raises(MediaError, match="malformed"):
        image_size("data:image/png;base64")
    with pytest.raises(MediaError, match="empty"):
        image_size("  ")


def test_data_url_sizes_are_cached_by_content_hash() -> None:
    url = _data_url("PNG", (31, 17), "image/png")
    CACHE.clear()
    image_size(url)
    n = len(CACHE)
    image_size(url.replace("image/png", "image/x-png"))  # same bytes, other URL text: one entry
    assert len(CACHE) == n == 1


def test_local_paths_only_when_allowed(tmp_path) -> None:
    path = tmp_path / "pic.webp"
    path.write_bytes(_encode("WEBP", (120, 45)))
    with pytest.raises(MediaError, match="unsupported image source"):
        image_size(str(path))
    info = image_size(str(path), policy=FetchPolicy(allow_local=True))
    assert (info.width, info.height) == (120, 45)
    assert image_size(path.as_uri(), policy=FetchPolicy(allow_local=True)).width == 120
    with pytest.raises(MediaError, match="no such image file"):
        image_size(str(tmp_path / "missing.png"), policy=FetchPolicy(allow_local=True))


def test_other_schemes_are_refused() -> None:
    for url in ("ftp://example.com/a.png", "gopher://x/y", "javascript:alert(1)"):
        with pytest.raises(MediaError, match="unsupported image source"):
            image_size(url)


@pytest.mark.parametrize(("addr", "allowed"), [
    ("8.8.8.8", True), ("1.1.1.1", True), ("2606:4700:4700::1111", True),
    ("127.0.0.1", False), ("10.1.2.3", False), ("172.16.0.1", False), ("192.168.1.1", False),
    ("169.254.169.254", False), ("100.100.100.200", False), ("fd00:ec2::254", False), ("::1", False),
    ("::ffff:127.0.0.1", False), ("::ffff:10.0.0.1", False), ("0.0.0.0", False), ("224.0.0.1", False),
    ("fe80::1", False), ("100.64.0.1", False),
])
def test_address_guard(addr: str, allowed: bool) -> None:
    assert fetch.allowed(ipaddress.ip_address(addr), FetchPolicy()) is allowed


def test_allow_list_opens_only_the_named_network() -> None:
    policy = FetchPolicy(allow_networks=("127.0.0.2/32",))
    assert fetch.allowed(ipaddress.ip_address("127.0.0.2"), policy)
    assert not fetch.allowed(ipaddress.ip_address("127.0.0.1"), policy)


# ------------------------------------------------------------------------------------------------ HTTP servers
PNG = _encode("PNG", (640, 480))
JPEG = _encode("JPEG", (1999, 37))
HUGE_BODY = 64 * 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    hits: ClassVar[Counter] = Counter()
    sent: ClassVar[dict[str, int]] = {}

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes = b"", ctype: str = "application/octet-stream",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path
        type(self).hits[path] += 1
        port = self.server.server_address[1]
        if path.startswith("/img.png"):
            self._send(200, PNG, "image/png")
        elif path == "/img.jpg":
            self._send(200, JPEG, "image/jpeg")
        elif path == "/big.png":  # a real header followed by 64 MiB: the reader must stop after the header
            self.send_response(200)
            self.send_header("Content-Length", str(len(PNG) + HUGE_BODY))
            self.end_headers()
            sent = 0
            try:
                self.wfile.write(PNG)
                chunk = b"\0" * 65536
                while sent < HUGE_BODY:
                    self.wfile.write(chunk)
                    sent += len(chunk)
            except OSError:
                pass
            type(self).sent[path] = sent
        elif path == "/noise":  # a JPEG start, then 8 MiB without a size marker: only the byte cap ends it
            self._send(200, b"\xff\xd8\xff" + b"\0" * (8 * 1024 * 1024))
        elif path == "/zeros":  # not the start of any image format: refused after the first bytes
            self._send(200, b"\0" * (8 * 1024 * 1024))
        elif path == "/slow":  # answers only after 3 s
            time.sleep(3)
            with contextlib.suppress(OSError):  # the client gave up long ago, as it should
                self._send(200, PNG, "image/png")
        elif path == "/drip":  # headers at once, a JPEG start, then one byte every 0.1 s (bounded: 100 bytes)
            self.send_response(200)
            self.send_header("Content-Length", "103")
            self.end_headers()
            try:
                self.wfile.write(b"\xff\xd8\xff")
                for _ in range(100):
                    self.wfile.write(b"\0")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass
        elif path == "/redirect-ok":
            self._send(302, headers={"Location": "/img.jpg"})
        elif path == "/redirect-blocked":  # to the same machine through an address the guard does not allow
            self._send(302, headers={"Location": f"http://127.0.0.1:{port}/img.png"})
        elif path == "/redirect-ftp":
            self._send(302, headers={"Location": "ftp://127.0.0.2/img.png"})
        elif path.startswith("/loop"):
            n = int(path[5:] or 0)
            self._send(302, headers={"Location": f"/loop{n + 1}"})
        elif path == "/html":
            self._send(200, b"<html>hello</html>", "text/html")
        else:
            self._send(404, b"not found", "text/plain")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.2", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.2:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


ALLOW = FetchPolicy(allow_networks=("127.0.0.2/32",), timeout=1.0, deadline=2.0, max_bytes=2 * 1024 * 1024)


def test_fetches_the_size_of_served_images(server: str) -> None:
    CACHE.clear()
    assert (image_size(f"{server}/img.png", policy=ALLOW).width, image_size(f"{server}/img.jpg", policy=ALLOW).height) \
        == (640, 37)


def test_remote_sizes_are_cached_by_url(server: str) -> None:
    CACHE.clear()
    url = f"{server}/img.png?cache-test"
    before = _Handler.hits[url.split(server)[1]]
    for _ in range(3):
        assert image_size(url, policy=ALLOW).height == 480
    assert _Handler.hits[url.split(server)[1]] - before == 1


def test_reads_only_the_header_of_a_huge_body(server: str) -> None:
    info = image_size(f"{server}/big.png", policy=ALLOW)
    assert (info.width, info.height) == (640, 480)
    deadline = time.monotonic() + 5
    while "/big.png" not in _Handler.sent and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _Handler.sent["/big.png"] < HUGE_BODY // 4  # the server's writes failed once we hung up


def test_loopback_is_refused_without_the_allow_list(server: str) -> None:
    with pytest.raises(MediaError, match="non-public address"):
        image_size(f"{server}/img.png", policy=FetchPolicy())
    with pytest.raises(MediaError, match="non-public address"):  # refused before any connection is made
        image_size("http://localhost:9/x.png")


def test_redirects(server: str) -> None:
    assert image_size(f"{server}/redirect-ok", policy=ALLOW).width == 1999
    hits = _Handler.hits["/img.png"]
    with pytest.raises(MediaError, match="non-public address"):
        image_size(f"{server}/redirect-blocked", policy=ALLOW)
    assert _Handler.hits["/img.png"] == hits  # the blocked target was never contacted
    with pytest.raises(MediaError, match="refusing a redirect to a ftp URL"):
        image_size(f"{server}/redirect-ftp", policy=ALLOW)
    with pytest.raises(MediaError, match="more than 5 redirects"):
        image_size(f"{server}/loop", policy=ALLOW)


def test_slow_server_times_out(server: str) -> None:
    t0 = time.monotonic()
    with pytest.raises(MediaError, match="did not answer within 1 s"):
        image_size(f"{server}/slow", policy=ALLOW)
    assert time.monotonic() - t0 < 2.9  # gave up before the server's answer at 3 s


def test_dripping_body_hits_the_deadline(server: str) -> None:
    with pytest.raises(MediaError, match="longer than 2 s"):
        image_size(f"{server}/drip", policy=ALLOW)


def test_body_without_a_header_hits_the_byte_cap(server: str) -> None:
    with pytest.raises(MediaError, match="no image header in the first"):
        image_size(f"{server}/noise", policy=ALLOW)


def test_http_errors_and_non_images(server: str) -> None:
    with pytest.raises(MediaError, match="HTTP 404"):
        image_size(f"{server}/missing.png", policy=ALLOW)
    with pytest.raises(MediaError, match="not a readable image"):
        image_size(f"{server}/html", policy=ALLOW)
    with pytest.raises(MediaError, match="not a readable image"):
        image_size(f"{server}/zeros", policy=ALLOW)


def test_remote_fetch_can_be_switched_off(server: str) -> None:
    with pytest.raises(MediaError, match="disabled"):
        image_size(f"{server}/img.png", policy=FetchPolicy(allow_remote=False, allow_networks=("127.0.0.2/32",)))


# ------------------------------------------------------------------------------- closed models read sizes too
@pytest.mark.parametrize("model", ["gpt-4o", "claude-sonnet-4", "gemini-2.5-flash"])
def test_closed_models_read_remote_sizes_like_open_ones(server: str, model: str,
                                                        use_settings) -> None:
    import tokcount

    use_settings(media_allow_networks=("127.0.0.2/32",))

    def body(url: str) -> dict:
        return {"messages": [{"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                                          {"type": "image_url", "image_url": {"url": url}}]}]}

    remote = tokcount.count(model, body(f"{server}/img.png?closed={model}"))
    inline = tokcount.count(model, body(_data_url("PNG", (640, 480), "image/png")))
    assert remote.input_tokens == inline.input_tokens
    assert remote.image_tokens == inline.image_tokens > 0
    assert not any("unknown size" in n for n in remote.notes)
    # an address the guard refuses: refused for closed models as for open ones (issue 26; it was counted at the
    # documented fallback size), in the same words
    use_settings(media_allow_networks=())
    with pytest.raises(AddressRefused, match="non-public address"):
        tokcount.count(model, body(f"{server}/img.png?refused={model}"))


def test_closed_models_cap_image_parts() -> None:
    import tokcount
    from tokcount.errors import RequestTooLarge

    parts = [{"type": "image_url", "image_url": {"url": "https://example.invalid/a.png"}}] * 300
    with pytest.raises(RequestTooLarge):
        tokcount.count("gpt-4o", {"messages": [{"role": "user", "content": parts}]})
