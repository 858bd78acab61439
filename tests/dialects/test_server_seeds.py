"""Every example of the seed API pages (../shared/seeds), sent as written to a real server over HTTP, answers in the
documented shape with the engine's own count for that model (tokcount.count on the equivalent canonical request).

Models are swapped only where the page's model has no vocabulary here: step-3.7-flash (StepFun) has none in
../shared/assets, so its examples run on qwen3.5 (vision) and minimax-m2.5 (text). Moonshot's run on kimi-k2.6.
Images are small data URLs instead of the pages' https URLs: the tests never touch the internet.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator

import httpx
import pytest

import tokcount
from support.seed_examples import (
    BEDROCK_EXAMPLES,
    BEDROCK_MODEL,
    BEDROCK_SYSTEM,
    BEDROCK_TURNS,
    KIMI_SYSTEM,
    PNG_1X1,
    SEED_001_AS_WRITTEN,
    SEED_002,
    SEED_003,
    STEPFUN_EXAMPLES,
    VERTEX_EXAMPLES,
    WEATHER_SCHEMA,
)
from support.serverkit import running_server
from tokcount.settings import Settings

DEFAULT_MODEL = "qwen3.5"


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with running_server(Settings(default_model=DEFAULT_MODEL)) as url:
        yield url


def post(base: str, path: str, body: object) -> httpx.Response:
    return httpx.post(base + path, json=body, timeout=60, headers={"Authorization": "Bearer $STEP_API_KEY"})


def engine(model: str, chat: dict) -> int:
    return tokcount.count(model, chat).input_tokens





@pytest.mark.parametrize("name", list(STEPFUN_EXAMPLES))
def test_stepfun_examples(base: str, name: str) -> None:
    body = copy.deepcopy(STEPFUN_EXAMPLES[name])
    body["model"] = "qwen3.5"  # step-3.7-flash has no vocabulary here
    r = post(base, "/v1/token/count", body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert set(out) == {"data"} and set(out["data"]) == {"total_tokens"}
    assert out["data"]["total_tokens"] == engine("qwen3.5", {"messages": body["messages"]})





def test_seed_001_as_written_is_malformed_json(base: str) -> None:
    """The page's example lacks a comma after "system": a 400 in Anthropic's error shape, not a 500."""
    r = httpx.post(base + "/v1/messages/count_tokens", content=SEED_001_AS_WRITTEN,
                   headers={"content-type": "application/json"})
    assert r.status_code == 400
    body = r.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert "JSON" in body["error"]["message"]


@pytest.mark.parametrize("query", ["", "?beta=true"])
def test_seed_001_with_the_comma(base: str, query: str) -> None:
    fixed = SEED_001_AS_WRITTEN.replace('when needed."\n"tools"', 'when needed.",\n"tools"')
    r = httpx.post(base + "/v1/messages/count_tokens" + query, content=fixed,
                   headers={"content-type": "application/json"}, timeout=60)
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"input_tokens"}
    chat = {
        "messages": [
            {"role": "system", "content": "You are a helpful assistant that can use tools when needed."},
            {"role": "user", "content": "What is the weather in Singapore today?"},
        ],
        "tools": [{"type": "function", "function": {
            "name": "get_weather", "description": "Get the current weather information for a given city.",
            "parameters": WEATHER_SCHEMA}}],
        "tool_choice": "auto",
    }
    assert r.json()["input_tokens"] == engine("minimax/minimax-m2.5", chat)




def test_seed_002_default_model(base: str) -> None:
    r = post(base, "/v1/messages/count_tokens", SEED_002)
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"input_tokens"}
    chat = {
        "messages": [
            {"role": "system", "content": "You are a tokenizer."},
            {"role": "user", "content": "Count tokens for this input."},
        ],
        "tools": [{"type": "function", "function": {
            "name": "get_weather", "description": "Get current weather for a city.",
            "parameters": SEED_002["tools"][0]["inputSchema"]}}],
        "chat_template_kwargs": {"enable_thinking": False},
    }
    assert r.json()["input_tokens"] == engine(DEFAULT_MODEL, chat)
    # the thinking switch reaches the template: Qwen3.5 writes an empty think block when it is off
    on = copy.deepcopy(SEED_002)
    on["thinking"] = {"type": "enabled", "budget_tokens": 2048}
    r_on = post(base, "/v1/messages/count_tokens", on)
    assert r_on.json()["input_tokens"] == engine(DEFAULT_MODEL, {**chat, "chat_template_kwargs": {
        "enable_thinking": True}})
    assert r_on.json()["input_tokens"] != r.json()["input_tokens"]


def test_seed_002_system_forms_are_equivalent(base: str) -> None:
    counts = set()
    for system in ("You are a tokenizer.", ["You are a tokenizer."], [{"text": "You are a tokenizer."}],
                   [{"type": "text", "text": "You are a tokenizer.", "cache_control": {"type": "ephemeral"}}]):
        r = post(base, "/v1/messages/count_tokens", {**SEED_002, "system": system})
        assert r.status_code == 200, r.text
        counts.add(r.json()["input_tokens"])
    assert len(counts) == 1
    r = post(base, "/v1/messages/count_tokens", {**SEED_002, "system": None})
    assert r.json()["input_tokens"] < counts.pop()




def test_seed_003_every_field(base: str) -> None:
    body = copy.deepcopy(SEED_003)
    body["model"] = "qwen/qwen3.5"  # the page's placeholder "<string>" names no model
    r = post(base, "/v1/count_tokens", body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert set(out) == {"object", "model", "input_tokens", "input_tokens_details", "tokens", "token_strings",
                        "output_tokens", "total_tokens", "extra_fields"}
    chat = {
        "messages": [{"role": "system", "content": "<string>"}, {"role": "user", "content": "<string>"}],
        "tools": [{"type": "function", "function": {"name": "<string>"}}],
        "chat_template_kwargs": {"enable_thinking": True},
    }
    expected = tokcount.count("qwen3.5", chat, return_tokens=True)
    assert out["input_tokens"] == expected.input_tokens == out["total_tokens"]
    assert out["tokens"] == expected.tokens and out["token_strings"] == expected.token_strings
    assert len(out["tokens"]) == out["input_tokens"]
    assert out["output_tokens"] is None
    assert out["model"] == "qwen3.5"
    assert set(out["input_tokens_details"]) == {"text_tokens", "image_tokens", "audio_tokens", "cached_tokens"}
    extra = out["extra_fields"]
    assert extra["provider"] == "qwen" and extra["request_type"] == "count_tokens"
    assert extra["model_requested"] == "qwen/qwen3.5"
    assert isinstance(extra["latency"], int) and extra["latency"] >= 0


@pytest.mark.parametrize(("model", "image"), [("openai/gpt-4o", 255), ("anthropic/claude-sonnet-4-5", 54),
                                              ("qwen/qwen3.5", None)])
def test_seed_003_image_tokens_are_the_counts_image_modality(base: str, model: str, image: int | None) -> None:
    """``input_tokens_details.image_tokens`` is what the renderer put under ``image`` (issue 11)."""
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (200, 200), (0, 120, 255)).save(buf, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    body = {"model": model, "input": [{"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "What is this?"}, {"type": "input_image", "image_url": url, "detail": "high"}]}]}
    r = post(base, "/v1/count_tokens", body)
    assert r.status_code == 200, r.text
    out = r.json()
    details = out["input_tokens_details"]
    chat = [{"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                         {"type": "image_url", "image_url": {"url": url, "detail": "high"}}]}]
    expected = tokcount.count(model.split("/", 1)[1], {"messages": chat})
    assert details["image_tokens"] == expected.modalities["image"] > 0
    if image is not None:
        assert details["image_tokens"] == image
    assert details["text_tokens"] + details["image_tokens"] == out["input_tokens"]


def test_seed_003_fallbacks_in_order(base: str) -> None:
    body = copy.deepcopy(SEED_003)
    body["model"] = "nobody/no-such-model-xyz"
    body["fallbacks"] = ["stepfun/step-3.7-flash", "minimax/minimax-m2.5"]  # unknown, then missing vocab, then ok
    r = post(base, "/v1/count_tokens", body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["model"] == "minimax-m2.5" and out["extra_fields"]["provider"] == "minimax"
    assert out["extra_fields"]["model_requested"] == "nobody/no-such-model-xyz"
    body["fallbacks"] = ["stepfun/step-3.7-flash"]
    r = post(base, "/v1/count_tokens", body)
    assert r.status_code == 404
    assert r.json()["is_bifrost_error"] is True and r.json()["error"]["type"] == "not_found_error"




def test_moonshot_plain_text_example(base: str) -> None:
    body = {
        "model": "kimi-k2.6",
        "messages": [
            {"role": "system", "content": KIMI_SYSTEM},
            {"role": "user", "content": "Hello, my name is Li Lei. What is 1+1?"},
        ],
    }
    r = post(base, "/v1/tokenizers/estimate-token-count", body)
    assert r.status_code == 200, r.text
    assert r.json() == {"data": {"total_tokens": engine("kimi-k2.6", {"messages": body["messages"]})}}
    assert r.headers["x-tokcount-exact"] == "true"


def test_moonshot_vision_example(base: str) -> None:
    payload = {
        "model": "kimi-k2.6",
        "messages": [
            {"role": "system", "content": KIMI_SYSTEM},
            {"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": PNG_1X1}},
                {"type": "text", "text": "Please describe the content of the image."},
            ]},
        ],
    }
    r = httpx.post(base + "/v1/tokenizers/estimate-token-count", content=json.dumps(payload),
                   headers={"Authorization": "Bearer sk-test", "Content-Type": "application/json"}, timeout=60)
    assert r.status_code == 200, r.text
    assert "error" not in r.json()
    assert r.json()["data"]["total_tokens"] == engine("kimi-k2.6", {"messages": payload["messages"]})
    assert r.headers["x-tokcount-exact"] == "true"  # MoonViT's rule: one <|media_pad|> for a 1x1 image


def test_moonshot_partial_mode(base: str) -> None:
    messages = [{"role": "user", "content": "Write a haiku."},
                {"role": "assistant", "content": "Autumn moonlight", "partial": True}]
    r = post(base, "/v1/tokenizers/estimate-token-count", {"model": "qwen3.5", "messages": messages})
    continued = tokcount.count("qwen3.5", {"messages": messages, "add_generation_prompt": False}).input_tokens
    assert r.json()["data"]["total_tokens"] == continued
    finished = [messages[0], {"role": "assistant", "content": "Autumn moonlight"}]
    r2 = post(base, "/v1/tokenizers/estimate-token-count", {"model": "qwen3.5", "messages": finished})
    assert r2.json()["data"]["total_tokens"] == tokcount.count(
        "qwen3.5", {"messages": finished, "add_generation_prompt": True}).input_tokens
    assert r2.json()["data"]["total_tokens"] > continued




@pytest.mark.parametrize("model", ["gemini-2.5-flash", "gemini-2.0-flash"])
@pytest.mark.parametrize("name", list(VERTEX_EXAMPLES))
def test_vertex_examples(base: str, name: str, model: str) -> None:
    """Vertex AI counts what the Gemini route counts less its 1 token per Content (2.5; 2.0 has none)."""
    body = VERTEX_EXAMPLES[name]
    r = post(base, f"/v1/projects/my-project/locations/us-central1/publishers/google/models/{model}:countTokens",
             body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert set(out) == {"totalTokens", "promptTokensDetails"}
    gemini = post(base, f"/v1beta/models/{model}:countTokens", body).json()["totalTokens"]
    contents = len(body["contents"]) + ("systemInstruction" in body)
    assert out["totalTokens"] == gemini - (contents if model == "gemini-2.5-flash" else 0)


@pytest.mark.parametrize("name", list(BEDROCK_EXAMPLES))
def test_bedrock_examples(base: str, name: str) -> None:
    r = post(base, f"/model/{BEDROCK_MODEL}/count-tokens", BEDROCK_EXAMPLES[name])
    assert r.status_code == 200, r.text
    messages = [{"role": "system", "content": BEDROCK_SYSTEM}, *({"role": role, "content": text}
                                                                 for role, text in BEDROCK_TURNS)]
    assert r.json() == {"inputTokens": engine("claude-3-5-haiku", {"messages": messages})}
    assert r.headers["x-tokcount-exact"] == "false"  # Claude: an estimate
