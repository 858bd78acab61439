"""Gemini: Gemma 3 vocabulary, documented media rules, and the countTokens dialect (request, response, errors)."""

from __future__ import annotations

import base64

import pytest

from support.gemini_route import handle, handle_full
from tokcount.dialects import gemini
from tokcount.errors import InvalidRequest
from tokcount.templates.framings.gemini import image_tokens

FOX = "The quick brown fox jumps over the lazy dog."


def _png(w: int, h: int) -> str:
    """A whole PNG file (the media reader checks what it parses, so a bare header would not do)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (w, h)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def test_documented_fox_example() -> None:
    """Google's tokens guide counts this sentence as 10 on gemini-2.0-flash (the model its example uses)."""
    status, body = handle("models/gemini-2.0-flash", {"contents": [{"parts": [{"text": FOX}]}]})
    assert status == 200
    assert body == {"totalTokens": 10, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 10}]}


def test_exactness_headers() -> None:
    _, _, headers = handle_full("gemini-2.5-flash", {"contents": FOX})
    assert headers["x-tokcount-exact"] == "true"
    assert headers["x-tokcount-method"] == "gemini-local+content+1+gemma3-vocab+splintr"


def test_generate_content_request_wrapper_with_system_and_tools() -> None:
    plain = handle("gemini-2.5-flash", {"contents": [{"role": "user", "parts": [{"text": FOX}]}]})[1]
    wrapped = {"generateContentRequest": {
        "model": "models/gemini-2.5-flash",
        "contents": [{"role": "user", "parts": [{"text": FOX}]}],
        "systemInstruction": {"parts": [{"text": "You are terse."}]},
        "tools": [{"functionDeclarations": [{"name": "get_weather", "description": "Weather of a city",
                                             "parameters": {"type": "object",
                                                            "properties": {"city": {"type": "string"}}}}]}]}}
    status, body = handle("gemini-2.5-flash", wrapped)
    assert status == 200
    # system "You are terse." + the rendered declaration on top of the fox sentence
    assert body["totalTokens"] > plain["totalTokens"] + 20
    _, _, headers = handle_full("gemini-2.5-flash", wrapped)
    assert headers["x-tokcount-exact"] == "false"


def test_snake_case_and_function_parts() -> None:
    body = {"contents": [
        {"role": "user", "parts": [{"text": "weather?"}]},
        {"role": "model", "parts": [{"function_call": {"name": "get_weather", "args": {"city": "Paris"}}}]},
        {"role": "user", "parts": [{"function_response": {"name": "get_weather", "response": {"temp": "18C"}}}]}]}
    req = gemini.parse_count_tokens(body)
    assert [m.role for m in req.messages] == ["user", "assistant", "user"]
    status, out = handle("gemini-2.5-flash", body)
    assert status == 200 and out["totalTokens"] > 5


# The guide's tiles (960x540 -> 6) plus the overview tile gemini-2.0-flash was measured to add (640x480 -> 5 x 258)
@pytest.mark.parametrize(("size", "expected"), [((384, 384), 258), ((200, 100), 258), ((960, 540), 7 * 258),
                                                ((1024, 1024), 5 * 258)])
def test_image_rule(size: tuple[int, int], expected: int) -> None:
    assert image_tokens(*size) == expected


def test_image_modality_detail() -> None:
    body = {"contents": [{"parts": [{"inlineData": {"mimeType": "image/png", "data": _png(960, 540)}},
                                    {"text": FOX}]}]}
    status, out = handle("gemini-2.5-flash", body)
    assert status == 200
    # 10 text tokens + 1 for the Content (Gemini 2.5 / 3) + 258 for an image of any size (256 + 2, measured)
    assert out == {"totalTokens": 269, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 11},
                                                               {"modality": "IMAGE", "tokenCount": 258}]}
    assert handle("gemini-2.0-flash", body)[1]["totalTokens"] == 7 * 258 + 10  # tiles + overview, no Content
    assert handle("gemini-3-pro-preview", body)[1]["totalTokens"] == 1120 + 11


@pytest.mark.parametrize(("body", "fragment"), [
    ({}, "either contents or generateContentRequest"),
    ({"contents": [], "generateContentRequest": {}}, "mutually exclusive"),
    ({"contents": [{"role": "bot", "parts": [{"text": "x"}]}]}, "role"),
    ({"contents": [{"parts": [{"weird": 1}]}]}, "must have one of"),
    ({"contents": [{"parts": [{"text": 5}]}]}, "text"),
    ([], "body"),
])
def test_bad_requests_are_google_400s(body: object, fragment: str) -> None:
    status, out = handle("gemini-2.5-flash", body)
    assert status == 400
    assert out["error"]["code"] == 400 and out["error"]["status"] == "INVALID_ARGUMENT"
    assert fragment in out["error"]["message"]


def test_unknown_model_is_google_404() -> None:
    # a name of no closed family: an unlisted gemini-* name counts with its family's newest rules (labelled)
    status, out = handle("models/palm-0-nonexistent", {"contents": FOX})
    assert status == 404 and out["error"]["status"] == "NOT_FOUND"


def test_parse_rejects_bad_base64_image() -> None:
    with pytest.raises(InvalidRequest):
        gemini.parse_count_tokens({"contents": [{"parts": [{"inlineData": {"mimeType": "image/png",
                                                                           "data": "!!!not base64!!!"}}]}]})
