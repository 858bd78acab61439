"""Gemini's ``POST /v1beta/models/{model}:countTokens`` on the real server, called by the official google-genai SDK
and by plain HTTP: Google's response shape, exactness headers, Google's error shape, x-goog-api-key auth."""

from __future__ import annotations

import httpx
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from support.serverkit import running_server
from tokcount import count
from tokcount.settings import Settings

KEY = "test-gemini-key"
FOX = "The quick brown fox jumps over the lazy dog."


@pytest.fixture(scope="module")
def url() -> str:
    with running_server(Settings(default_model="qwen3.5", api_keys=(KEY,))) as base:
        yield base


def _client(url: str, key: str = KEY) -> genai.Client:
    return genai.Client(api_key=key, http_options=types.HttpOptions(base_url=url, api_version="v1beta"))


def test_sdk_counts_the_documented_example(url: str) -> None:
    client = _client(url)  # kept in a name: a temporary Client closes its HTTP client before the call
    result = client.models.count_tokens(model="gemini-2.0-flash", contents=FOX)
    assert result.total_tokens == 10  # Google's documented value for this sentence (on gemini-2.0-flash)
    # Gemini 2.5 adds one token per Content (measured on recorded usageMetadata, ../shared/calibration)
    assert client.models.count_tokens(model="gemini-2.5-flash", contents=FOX).total_tokens == 11


def test_sdk_counts_a_conversation_with_system_and_tools(url: str) -> None:
    contents = [types.Content(role="user", parts=[types.Part(text="What is the weather in Paris?")]),
                types.Content(role="model", parts=[types.Part(text="Let me check.")])]
    client = _client(url)
    result = client.models.count_tokens(model="models/gemini-2.5-pro", contents=contents)
    local = count("gemini-2.5-pro", {"messages": [{"role": "user", "content": "What is the weather in Paris?"},
                                                  {"role": "assistant", "content": "Let me check."}]})
    assert result.total_tokens == local.input_tokens > 0


def test_http_shape_and_headers(url: str) -> None:
    r = httpx.post(f"{url}/v1beta/models/gemini-2.5-flash:countTokens", headers={"x-goog-api-key": KEY},
                   json={"contents": [{"role": "user", "parts": [{"text": FOX}]}]})
    assert r.status_code == 200
    assert r.json() == {"totalTokens": 11, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 11}]}
    assert r.headers["x-tokcount-exact"] == "true"
    assert r.headers["x-tokcount-method"].startswith("gemini-local")


@pytest.mark.parametrize(("body", "status"), [
    ({"contents": FOX, "generateContentRequest": {"contents": FOX}}, 400),
    ({}, 400),
    ({"contents": [{"parts": [{"bogus": 1}]}]}, 400),
    ([1, 2], 400),
])
def test_bad_bodies_get_googles_error_shape(url: str, body: object, status: int) -> None:
    r = httpx.post(f"{url}/v1beta/models/gemini-2.5-flash:countTokens", headers={"x-goog-api-key": KEY}, json=body)
    assert r.status_code == status
    err = r.json()["error"]
    assert err["code"] == status and err["status"] == "INVALID_ARGUMENT" and err["message"]


def test_unknown_model_and_missing_key(url: str) -> None:
    r = httpx.post(f"{url}/v1beta/models/no-such-model:countTokens", headers={"x-goog-api-key": KEY},
                   json={"contents": FOX})
    assert r.status_code == 404 and r.json()["error"]["status"] == "NOT_FOUND"
    r = httpx.post(f"{url}/v1beta/models/gemini-2.5-flash:countTokens", json={"contents": FOX})
    assert r.status_code == 401 and r.json()["error"]["status"] == "UNAUTHENTICATED"
    client = _client(url, key="wrong")
    with pytest.raises(genai_errors.ClientError) as info:
        client.models.count_tokens(model="gemini-2.5-flash", contents=FOX)
    assert info.value.code == 401


def _png_bytes(width: int, height: int) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), (40, 90, 200)).save(buf, format="PNG")
    return buf.getvalue()


def test_sdk_image_tokens_are_reported_under_image(url: str) -> None:
    """The served answer splits the count by modality from the count itself (issue 11: images were under TEXT).
    The SDK keeps only totalTokens, so the body it received is read with an httpx response hook."""
    bodies: list[dict] = []

    def keep(response: httpx.Response) -> None:
        response.read()
        bodies.append(response.json())

    http = httpx.Client(event_hooks={"response": [keep]})
    client = genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=url, api_version="v1beta",
                                                                      httpx_client=http))
    contents = [types.Content(role="user", parts=[types.Part.from_bytes(data=_png_bytes(960, 540),
                                                                        mime_type="image/png"),
                                                  types.Part(text=FOX)])]
    result = client.models.count_tokens(model="gemini-2.5-flash", contents=contents)
    # 10 text tokens + 1 for the Content + 258: Gemini 2.5 prices an image by media_resolution, whatever its size
    assert result.total_tokens == 11 + 258
    assert bodies[-1]["promptTokensDetails"] == [{"modality": "TEXT", "tokenCount": 11},
                                                 {"modality": "IMAGE", "tokenCount": 258}]
    # Gemini 3 prices the same image by media_resolution (default 1120)
    result = client.models.count_tokens(model="gemini-3-pro-preview", contents=contents)
    assert result.total_tokens == 11 + 1120
    assert bodies[-1]["promptTokensDetails"] == [{"modality": "TEXT", "tokenCount": 11},
                                                 {"modality": "IMAGE", "tokenCount": 1120}]
    http.close()


def test_http_pdf_pages_are_reported_under_document(url: str) -> None:
    import base64

    pdf = b"%PDF-1.4\n1 0 obj << /Type /Page >> endobj\n2 0 obj << /Type /Page >> endobj\n%%EOF"
    body = {"contents": [{"role": "user", "parts": [
        {"inlineData": {"mimeType": "application/pdf", "data": base64.b64encode(pdf).decode()}}, {"text": FOX}]}]}
    r = httpx.post(f"{url}/v1beta/models/gemini-2.5-flash:countTokens", headers={"x-goog-api-key": KEY}, json=body)
    assert r.status_code == 200
    out = r.json()
    assert out["promptTokensDetails"] == [{"modality": "TEXT", "tokenCount": 11},
                                          {"modality": "DOCUMENT", "tokenCount": 2 * 258}]
    assert out["totalTokens"] == 11 + 2 * 258
