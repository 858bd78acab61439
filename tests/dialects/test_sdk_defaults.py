"""SDK and gateway defaults on a real server on loopback: every official SDK's count call with only its base URL
changed (anthropic ``messages.count_tokens``, openai ``responses.input_tokens.count``, google-genai
``models.count_tokens`` with ``api_version`` v1 and v1beta), the ``/v1/tokenize`` and ``/v1/detokenize`` aliases
LiteLLM's vLLM passthrough calls, standard and URL-safe base64 in every base64 field, and the
``x-tokcount-exact`` / ``x-tokcount-method`` headers on every route's answer."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import types
from PIL import Image

from support.serverkit import running_server
from tokcount import count
from tokcount.dialects import dialects
from tokcount.settings import Settings

KEY = "sdk-defaults-key"
FOX = "The quick brown fox jumps over the lazy dog."
AUTH = {"authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with running_server(Settings(default_model="qwen3.5", api_keys=(KEY,))) as base:
        yield base


def _png_with_urlsafe_chars() -> tuple[bytes, str, str]:
    """A PNG whose standard base64 has '+' or '/' (so its URL-safe form differs), with both encodings."""
    for shade in range(256):
        buf = io.BytesIO()
        Image.new("RGB", (640, 480), (shade, 90, 200)).save(buf, format="PNG")
        data = buf.getvalue()
        std = base64.b64encode(data).decode()
        if "+" in std and "/" in std:
            return data, std, base64.urlsafe_b64encode(data).decode().rstrip("=")
    raise AssertionError("no PNG with both characters")  # pragma: no cover


# ------------------------------------------------------------------------------------------- official SDKs
def test_anthropic_sdk_count_tokens(url: str) -> None:
    client = anthropic.Anthropic(api_key=KEY, base_url=url)
    messages = [{"role": "user", "content": FOX}]
    got = client.messages.count_tokens(model="claude-sonnet-4-5", messages=messages, system="Be brief.")
    local = count("claude-sonnet-4-5", {"messages": [{"role": "system", "content": "Be brief."}, *messages]})
    assert got.input_tokens == local.input_tokens > 0


def test_openai_sdk_responses_input_tokens_count(url: str) -> None:
    client = openai.OpenAI(api_key=KEY, base_url=f"{url}/v1")
    got = client.responses.input_tokens.count(model="gpt-4o", input=FOX)
    assert got.input_tokens == count("gpt-4o", {"messages": [{"role": "user", "content": FOX}]}).input_tokens > 0


@pytest.mark.parametrize("version", ["v1", "v1beta"])
def test_google_genai_sdk_on_both_api_versions(url: str, version: str) -> None:
    client = genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=url, api_version=version))
    assert client.models.count_tokens(model="gemini-2.0-flash", contents=FOX).total_tokens == 10  # Google's value
    data, _, _ = _png_with_urlsafe_chars()
    contents = [types.Content(role="user", parts=[types.Part.from_bytes(data=data, mime_type="image/png"),
                                                  types.Part(text=FOX)])]
    # Gemini 2.5 prices an image by its media resolution, whatever its size (recorded: 258 for 8x8 and for
    # 640x480); 10 text tokens, 1 for the Content
    assert client.models.count_tokens(model="gemini-2.5-flash", contents=contents).total_tokens == 11 + 258


def test_gemini_v1_answers_as_v1beta(url: str) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": FOX}]}]}
    a = httpx.post(f"{url}/v1/models/gemini-2.5-flash:countTokens", json=body, headers=AUTH, timeout=60)
    b = httpx.post(f"{url}/v1beta/models/gemini-2.5-flash:countTokens", json=body, headers=AUTH, timeout=60)
    assert a.status_code == b.status_code == 200
    assert a.json() == b.json()
    bad = httpx.post(f"{url}/v1/models/gemini-2.5-flash:countTokens", json={}, headers=AUTH, timeout=60)
    assert bad.status_code == 400 and bad.json()["error"]["status"] == "INVALID_ARGUMENT"  # Google's shape


# ------------------------------------------------------------------------------------------- vLLM under /v1
def test_v1_tokenize_and_detokenize_are_the_vllm_routes(url: str) -> None:
    body = {"model": "qwen3.5", "prompt": FOX, "return_token_strs": True}
    plain = httpx.post(f"{url}/tokenize", json=body, headers=AUTH, timeout=60)
    v1 = httpx.post(f"{url}/v1/tokenize", json=body, headers=AUTH, timeout=60)
    assert plain.status_code == v1.status_code == 200
    assert plain.json() == v1.json()
    ids = v1.json()["tokens"]
    back = httpx.post(f"{url}/v1/detokenize", json={"model": "qwen3.5", "tokens": ids}, headers=AUTH, timeout=60)
    assert back.status_code == 200 and back.json()["prompt"] == FOX
    assert back.headers["x-tokcount-method"] == "decode"
    chat = {"model": "qwen3.5", "messages": [{"role": "user", "content": FOX}]}
    assert httpx.post(f"{url}/v1/tokenize", json=chat, headers=AUTH, timeout=60).json()["count"] == \
        count("qwen3.5", chat).input_tokens
    refused = httpx.post(f"{url}/v1/tokenize", json={"model": "qwen3.5"}, headers=AUTH, timeout=60)
    assert refused.status_code == 400 and "error" in refused.json()


# ------------------------------------------------------------------------------------------- base64 forms
def test_urlsafe_and_unpadded_base64_count_as_standard(url: str) -> None:
    _, std, urlsafe = _png_with_urlsafe_chars()
    assert std.rstrip("=") != urlsafe

    def gemini(data: str) -> httpx.Response:
        return httpx.post(f"{url}/v1beta/models/gemini-2.5-flash:countTokens", headers=AUTH, timeout=60, json={
            "contents": [{"parts": [{"inlineData": {"mimeType": "image/png", "data": data}}, {"text": FOX}]}]})

    def claude(data: str) -> httpx.Response:
        return httpx.post(f"{url}/v1/messages/count_tokens", headers=AUTH, timeout=60, json={
            "model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}},
                {"type": "text", "text": FOX}]}]})

    def data_url(data: str) -> httpx.Response:
        return httpx.post(f"{url}/v1/token/count", headers=AUTH, timeout=60, json={
            "model": "gpt-4o", "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}},
                {"type": "text", "text": FOX}]}]})

    for send in (gemini, claude, data_url):
        answers = [send(d) for d in (std, urlsafe, std.rstrip("="))]
        assert [a.status_code for a in answers] == [200, 200, 200], [a.text for a in answers]
        assert answers[0].json() == answers[1].json() == answers[2].json()
    details = gemini(urlsafe).json()["promptTokensDetails"]
    assert {"modality": "IMAGE", "tokenCount": 258} in details  # images under IMAGE, not TEXT
    assert gemini("not*base64!").status_code == 400


# ------------------------------------------------------------------------------------------- provenance headers
def _routes() -> list[tuple[str, Any]]:
    return [(d.name, r) for d in dialects().values() for r in d.routes if r.path is not None]


@pytest.mark.parametrize(("name", "route"), _routes(), ids=[r.path for _, r in _routes()])
def test_every_route_answer_says_exact_and_method(url: str, name: str, route: Any) -> None:
    path = route.path.replace("{model}", "qwen3.5")
    r = httpx.post(url + path, json=route.example, headers=AUTH, timeout=120)
    assert r.status_code == 200, r.text
    assert r.headers["x-tokcount-exact"] in ("true", "false")
    method = r.headers["x-tokcount-method"]
    assert method
    body = r.json()
    where = body.get("data", body) if isinstance(body.get("data"), dict) else body
    if "exact" in where:  # where the body says it too, the headers agree with it
        assert r.headers["x-tokcount-exact"] == str(where["exact"]).lower()
    if "method" in where:
        assert method == where["method"]


def test_a_closed_model_estimate_says_so_in_the_headers(url: str) -> None:
    r = httpx.post(f"{url}/v1/messages/count_tokens", headers=AUTH, timeout=60,
                   json={"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": FOX}]})
    local = count("claude-sonnet-4-5", {"messages": [{"role": "user", "content": FOX}]})
    assert r.headers["x-tokcount-exact"] == str(local.exact).lower() == "false"
    assert r.headers["x-tokcount-method"] == local.method


def test_urlsafe_pdf_pages_count_as_standard(url: str) -> None:
    """A PDF's pages are read from its base64 (Anthropic ``document`` sources): URL-safe must not lose them."""
    pages = "".join(f"{i} 0 obj << /Type /Page /Note (\xff\xfe\xfb) >> endobj\n" for i in range(3))
    pdf = ("%PDF-1.4\n" + pages + "%%EOF").encode("latin-1")
    std = base64.b64encode(pdf).decode()
    urlsafe = base64.urlsafe_b64encode(pdf).decode()
    assert std != urlsafe

    def claude(data: str) -> int:
        r = httpx.post(f"{url}/v1/messages/count_tokens", headers=AUTH, timeout=60, json={
            "model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": [
                {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": data}},
                {"type": "text", "text": FOX}]}]})
        assert r.status_code == 200, r.text
        return r.json()["input_tokens"]

    three = claude(std)
    assert claude(urlsafe) == three
    one_page = base64.b64encode(b"%PDF-1.4\n0 0 obj << /Type /Page >> endobj\n%%EOF").decode()
    assert claude(one_page) < three  # the pages were read, not guessed
