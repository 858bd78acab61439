"""Answers that say what they are (issue 26), over a real server on loopback: Bifrost's ``tokens`` says when it is
not the whole prompt, an image URL at a refused address is refused for every model (not counted at an assumed
size), and Gemini's countTokens refuses an empty conversation as every other route does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import tokcount
from support.serverkit import running_server
from tokcount.errors import InvalidRequest
from tokcount.settings import Settings

INPUT = [{"role": "system", "content": "You are a helpful assistant who answers briefly."},
         {"role": "user", "content": "Hello there, how are you today?"}]


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with running_server(Settings.load()) as base:
        yield base


def _post(url: str, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(url + path, json=body, timeout=60)


# ------------------------------------------------------------------------------------- Bifrost's token ids
@pytest.mark.parametrize("model", ["openai/gpt-4o", "anthropic/claude-sonnet-4-5", "gemini/gemini-2.5-flash",
                                   "qwen/qwen3.5"])
def test_bifrost_says_whether_tokens_is_the_whole_prompt(url: str, model: str) -> None:
    """gpt-4o listed its messages' text ids only (17 of 28 here), Claude none, and nothing said so."""
    r = _post(url, "/v1/count_tokens", {"model": model, "input": INPUT})
    assert r.status_code == 200, r.text
    body = r.json()
    extra, n, ids = body["extra_fields"], body["input_tokens"], body["tokens"]
    assert extra["tokens_complete"] is (len(ids) == n), (model, len(ids), n, extra)
    if len(ids) == n:
        assert "tokens_note" not in extra
    else:
        assert f"{len(ids)} of {n}" in extra["tokens_note"] or (not ids and f"none of the {n}" in extra["tokens_note"])


# ---------------------------------------------------------------------------- images at refused addresses
BLOCKED = ["http://169.254.169.254/latest/meta-data/x.png", "http://127.0.0.1:9/x.png", "http://[::1]/x.png"]


def _image_bodies(image: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("/v1/token/count", {"model": "qwen3.5", "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": image}}]}]}),
        ("/v1/responses/input_tokens", {"model": "gpt-4o", "input": [
            {"role": "user", "content": [{"type": "input_image", "image_url": image}]}]}),
        ("/v1/count_tokens", {"model": "openai/gpt-4o", "input": [
            {"role": "user", "content": [{"type": "input_image", "image_url": image}]}]}),
        ("/v1/messages/count_tokens", {"model": "claude-sonnet-4-5", "messages": [
            {"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": image}}]}]}),
        ("/v1beta/models/gemini-2.5-flash:countTokens", {"contents": [
            {"role": "user", "parts": [{"fileData": {"fileUri": image, "mimeType": "image/png"}}]}]}),
    ]


@pytest.mark.parametrize("image", BLOCKED)
def test_an_image_at_a_refused_address_is_refused_for_every_model(url: str, image: str) -> None:
    """Open models answered 400; gpt-4o 200 (772, an assumed 1024x1024), Gemini 200 (259), Claude 200 (1604)."""
    for path, body in _image_bodies(image):
        r = _post(url, path, body)
        assert r.status_code == 400, (path, r.status_code, r.text)
        assert "non-public address" in r.text, (path, r.text)


def test_an_image_that_cannot_be_read_is_still_estimated_for_closed_models(url: str) -> None:
    """What stays as it was: an unreadable image (not a refused address) costs a closed model its documented
    fallback size, labelled an estimate, while an open model refuses it."""
    unreadable = "data:image/png;base64,AAAA"
    answers = {path: _post(url, path, body) for path, body in _image_bodies(unreadable)}
    assert answers["/v1/token/count"].status_code == 400
    gpt = answers["/v1/responses/input_tokens"]
    assert gpt.status_code == 200 and gpt.headers["x-tokcount-exact"] == "false", gpt.text


# ------------------------------------------------------------------------------- Gemini's empty conversation
@pytest.mark.parametrize(("body", "message"), [
    ({"contents": []}, "contents must not be empty."),
    ({"generateContentRequest": {"model": "models/gemini-2.5-flash", "contents": [],
                                 "systemInstruction": {"parts": [{"text": "Be brief."}]}}},
     "generateContentRequest.contents must not be empty."),
])
def test_gemini_refuses_an_empty_conversation(url: str, body: dict[str, Any], message: str) -> None:
    r = _post(url, "/v1beta/models/gemini-2.5-flash:countTokens", body)
    assert r.status_code == 400, r.text
    assert r.json() == {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}


def test_the_library_refuses_an_empty_chat_for_gemini_too() -> None:
    with pytest.raises(InvalidRequest, match="messages must not be empty"):
        tokcount.count("gemini-2.5-flash", [])
