"""Helpful answers over a real server on loopback: offline docs, one model by id, 404/405 in an error shape,
the context window and whether the request fits on every count, and one rule for unknown chat-message keys."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

import tokcount
from support.serverkit import running_server
from tokcount.errors import InvalidRequest
from tokcount.settings import Settings

KEY = "sk-helpful-7d1"
CHAT = {"model": "qwen3.5", "messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with running_server(Settings(default_model="qwen3.5")) as url:
        yield url


# ------------------------------------------------------------------ offline docs
def _assets(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html) + re.findall(r"""url:\s*['"]([^'"]+)""",
                                                                                       html)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_reference_no_external_host(page: str) -> None:
    """With auth on, the docs page and every asset it references load from this server alone."""
    with running_server(Settings(default_model="qwen3.5", api_keys=(KEY,))) as url:
        auth = {"Authorization": f"Bearer {KEY}"}
        assert httpx.get(url + page, timeout=10).status_code == 401  # behind the keys
        r = httpx.get(url + page, headers=auth, timeout=10)
        assert r.status_code == 200
        own = urlsplit(url).netloc
        hosts = {urlsplit(u).netloc for u in re.findall(r"https?://[^\s\"'<>)]+", r.text)}
        assert hosts <= {own}, hosts
        assets = _assets(r.text)
        assert any(a.endswith(".js") for a in assets)
        for asset in assets:
            full = urljoin(url + page, asset)
            assert urlsplit(full).netloc == own
            got = httpx.get(full, headers=auth, timeout=10)
            assert got.status_code == 200, (asset, got.status_code)
            assert got.content


# ------------------------------------------------------------------ one model
def test_one_model_has_the_list_fields(base: str) -> None:
    listing = {m["id"]: m for m in httpx.get(base + "/v1/models", timeout=30).json()["data"]}
    r = httpx.get(base + "/v1/models/qwen3.5", timeout=30)
    assert r.status_code == 200
    assert r.json() == listing["qwen3.5"]
    assert httpx.get(base + "/v1/models/default", timeout=30).json()["id"] == "qwen3.5"


def test_unknown_model_is_a_404_with_suggestions(base: str) -> None:
    r = httpx.get(base + "/v1/models/gpt-9000x", timeout=30)
    assert r.status_code == 404
    err = r.json()["error"]
    assert err["code"] == "model_not_found" and "Did you mean" in err["message"] and "gpt-5" in err["message"]


def test_one_model_is_behind_auth() -> None:
    with running_server(Settings(default_model="qwen3.5", api_keys=(KEY,))) as url:
        assert httpx.get(url + "/v1/models/qwen3.5", timeout=10).status_code == 401
        ok = httpx.get(url + "/v1/models/qwen3.5", headers={"x-api-key": KEY}, timeout=10)
        assert ok.status_code == 200 and ok.json()["id"] == "qwen3.5"


# ------------------------------------------------------------------ 404 / 405
@pytest.mark.parametrize(("method", "path", "status", "shape"), [
    ("GET", "/v2/nothing", 404, "openai"),
    ("POST", "/v1/chat/completions", 404, "openai"),
    ("GET", "/v1/token/count", 405, "openai"),
    ("GET", "/tokenize", 405, "openai"),
    ("POST", "/v1/messages", 404, "anthropic"),
    ("GET", "/v1/messages/count_tokens", 405, "anthropic"),
    ("GET", "/v1beta/models/gemini-2.5-flash:countTokens", 405, "google"),
    ("GET", "/v1beta/nothing", 404, "google"),
    ("GET", "/v1/models/gemini-2.5-flash:countTokens", 405, "google"),
    ("DELETE", "/v1/models", 405, "openai"),
])
def test_unknown_routes_and_methods_answer_an_error_shape(base: str, method: str, path: str, status: int,
                                                          shape: str) -> None:
    r = httpx.request(method, base + path, timeout=10)
    assert r.status_code == status
    body = r.json()
    assert "detail" not in body
    if shape == "openai":
        assert set(body["error"]) == {"message", "type", "param", "code"}
        assert path in body["error"]["message"]
    elif shape == "anthropic":
        assert body["type"] == "error" and set(body["error"]) == {"type", "message"}
        assert body["error"]["type"] == ("not_found_error" if status == 404 else "invalid_request_error")
    else:
        assert body["error"]["code"] == status and body["error"]["status"] and body["error"]["message"]
    if status == 405:
        assert r.headers["allow"]


# ------------------------------------------------------------------ context window
@pytest.mark.parametrize(("path", "body"), [
    ("/v1/token/count", CHAT),
    ("/v1/tokenizers/estimate-token-count", CHAT),
    ("/v1/messages/count_tokens", CHAT),
    ("/v1/responses/input_tokens", {"model": "qwen3.5", "input": "Hi"}),
    ("/v1/count_tokens", {"model": "qwen3.5", "input": "Hi"}),
    ("/v1beta/models/qwen3.5:countTokens", {"contents": [{"parts": [{"text": "Hi"}]}]}),
    ("/tokenize", {"model": "qwen3.5", "prompt": "Hi"}),
])
def test_every_count_says_its_window_and_that_it_fits(base: str, path: str, body: dict) -> None:
    r = httpx.post(base + path, json=body, timeout=60)
    assert r.status_code == 200, r.text
    assert r.headers["x-tokcount-context-window"] == "262144"
    assert r.headers["x-tokcount-fits"] == "true"


def test_a_request_over_the_window_is_flagged(base: str) -> None:
    """~300k tokens against qwen3.5's 262,144: still counted (200), but said not to fit, in body and headers."""
    big = "hello " * 300_000
    r = httpx.post(base + "/v1/count_tokens", json={"model": "qwen3.5", "input": big}, timeout=120)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["input_tokens"] > 262_144
    assert out["extra_fields"]["context_window"] == 262_144 and out["extra_fields"]["fits"] is False
    assert r.headers["x-tokcount-fits"] == "false"
    v = httpx.post(base + "/tokenize", json={"model": "qwen3.5", "prompt": big}, timeout=120)
    assert v.json()["max_model_len"] == 262_144 and v.headers["x-tokcount-fits"] == "false"


def test_decode_has_no_window_headers(base: str) -> None:
    r = httpx.post(base + "/detokenize", json={"model": "qwen3.5", "tokens": [9419]}, timeout=30)
    assert r.status_code == 200 and "x-tokcount-fits" not in r.headers


# ------------------------------------------------------------------ unknown message keys: one rule
TYPO = [{"role": "user", "contnet": "Hi"}]


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/token/count", {"model": "qwen3.5", "messages": TYPO}),
    ("/v1/tokenizers/estimate-token-count", {"model": "qwen3.5", "messages": TYPO}),
    ("/tokenize", {"model": "qwen3.5", "messages": TYPO}),
])
def test_a_misspelled_message_key_is_a_400_naming_it(base: str, path: str, body: dict) -> None:
    r = httpx.post(base + path, json=body, timeout=30)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["param"] == "messages[0].contnet"
    assert "'contnet'" in err["message"] and "'content'" in err["message"]


def test_the_library_applies_the_same_rule() -> None:
    with pytest.raises(InvalidRequest) as exc:
        tokcount.count("qwen3.5", {"messages": TYPO})
    assert exc.value.param == "messages[0].contnet"


def test_echoed_assistant_fields_are_accepted_and_not_counted(base: str) -> None:
    plain = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    echoed = [plain[0], {**plain[1], "refusal": None, "annotations": [], "audio": None}]
    a = httpx.post(base + "/v1/token/count", json={"model": "qwen3.5", "messages": plain}, timeout=30)
    b = httpx.post(base + "/v1/token/count", json={"model": "qwen3.5", "messages": echoed}, timeout=30)
    assert a.status_code == b.status_code == 200
    assert a.json() == b.json()


def test_unknown_top_level_fields_stay_ignored(base: str) -> None:
    a = httpx.post(base + "/v1/token/count", json=CHAT, timeout=30)
    b = httpx.post(base + "/v1/token/count", json={**CHAT, "temperature": 0.2, "stream": True}, timeout=30)
    assert a.status_code == b.status_code == 200 and a.json() == b.json()
