"""Each route's conversions, over HTTP and through the official SDKs, equal the engine's count of the equivalent
canonical request; plus /v1/models, health, OpenAPI docs, settings and the ``tokcount serve`` command."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
import tiktoken

import tokcount
from support.serverkit import free_port, running_server
from tokcount.settings import Settings
from tokcount.tokenizers.added import AddedToken, AddedTokens
from tokcount.tokenizers.core import Tokenizer
from tokcount.tokenizers.tiktoken_file import TiktokenEncoder

KEY = "sk-test-5f2c1e"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with running_server(Settings(default_model="qwen3.5", api_keys=(KEY,), preload=("qwen3.5",))) as url:
        yield url


def post(base: str, path: str, body: object) -> httpx.Response:
    return httpx.post(base + path, json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=60)


# ---------------------------------------------------------------- Anthropic
ANTHROPIC_CHAT = {
    "model": "qwen3.5",
    "system": "Be brief.",
    "tools": [{"name": "get_weather", "description": "Weather of a city.", "input_schema": SCHEMA}],
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?",
                                      "cache_control": {"type": "ephemeral"}}]},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "I should call the tool.", "signature": "sig"},
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C, sunny"},
            {"type": "text", "text": "And tomorrow?"},
        ]},
    ],
    "output_config": {"effort": "low"},
    "cache_control": {"type": "ephemeral"},
    "metadata": {"user_id": "u1"},
}
OPENAI_EQUIVALENT = {
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
        {"role": "assistant", "reasoning_content": "I should call the tool.",
         "content": [{"type": "text", "text": "Let me check."}],
         "tool_calls": [{"id": "toolu_1", "type": "function",
                         "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18C, sunny"},
        {"role": "user", "content": [{"type": "text", "text": "And tomorrow?"}]},
    ],
    "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city.",
                                                "parameters": SCHEMA}}],
}


def test_anthropic_blocks_convert_like_vllm(base: str) -> None:
    r = post(base, "/v1/messages/count_tokens", ANTHROPIC_CHAT)
    assert r.status_code == 200, r.text
    assert r.json()["input_tokens"] == tokcount.count("qwen3.5", OPENAI_EQUIVALENT).input_tokens


def test_anthropic_media_and_documents_do_not_crash(base: str) -> None:
    body = {"model": "qwen3.5", "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "A short note."},
         "title": "note"},
        {"type": "text", "text": "What do these say?"},
    ]}, {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "opaque"},
                                          {"type": "tool_use", "id": "t", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "is_error": True, "content": [
            {"type": "text", "text": "failed"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}]}]}]}
    r = post(base, "/v1/messages/count_tokens", body)
    assert r.status_code == 200, r.text
    assert r.json()["input_tokens"] > 0


def test_anthropic_sdk(base: str) -> None:
    client = anthropic.Anthropic(base_url=base, api_key=KEY, max_retries=0)
    kwargs = {k: ANTHROPIC_CHAT[k] for k in ("model", "system", "tools", "messages")}
    got = client.messages.count_tokens(**kwargs, thinking={"type": "disabled"})
    expected = tokcount.count("qwen3.5", {**OPENAI_EQUIVALENT, "chat_template_kwargs": {"enable_thinking": False}})
    assert got.input_tokens == expected.input_tokens
    beta = client.beta.messages.count_tokens(**kwargs, thinking={"type": "disabled"})  # POSTs ...?beta=true
    assert beta.input_tokens == expected.input_tokens
    with pytest.raises(anthropic.AuthenticationError) as err:
        anthropic.Anthropic(base_url=base, api_key="wrong", max_retries=0).messages.count_tokens(**kwargs)
    assert err.value.status_code == 401 and err.value.body["error"]["type"] == "authentication_error"
    with pytest.raises(anthropic.NotFoundError):
        client.messages.count_tokens(**{**kwargs, "model": "none-such-model"})  # claude-* names fail open


# ---------------------------------------------------------------- OpenAI Responses / Bifrost
RESPONSES_INPUT = [
    {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
    {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Use the tool."}]},
    {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\": \"Paris\"}"},
    {"type": "function_call_output", "call_id": "call_1", "output": "18C, sunny"},
    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "It is sunny."}]},
    {"role": "user", "content": "Thanks"},
]
RESPONSES_EQUIVALENT = {
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
        {"role": "assistant", "reasoning_content": "Use the tool.", "content": None,
         "tool_calls": [{"id": "call_1", "type": "function",
                         "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C, sunny"},
        {"role": "assistant", "content": [{"type": "text", "text": "It is sunny."}]},
        {"role": "user", "content": "Thanks"},
    ],
    "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city.",
                                                "parameters": SCHEMA}}],
}
FLAT_TOOL = {"type": "function", "name": "get_weather", "description": "Weather of a city.", "parameters": SCHEMA}


def test_openai_sdk_input_tokens(base: str) -> None:
    client = openai.OpenAI(base_url=base + "/v1", api_key=KEY, max_retries=0)
    got = client.responses.input_tokens.count(model="qwen3.5", instructions="Be brief.", input=RESPONSES_INPUT,
                                              tools=[FLAT_TOOL])
    assert got.object == "response.input_tokens"
    assert got.input_tokens == tokcount.count("qwen3.5", RESPONSES_EQUIVALENT).input_tokens
    simple = client.responses.input_tokens.count(model="minimax-m2.5", input="Tell me a joke.")
    assert simple.input_tokens == tokcount.count(
        "minimax-m2.5", {"messages": [{"role": "user", "content": "Tell me a joke."}]}).input_tokens
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=base + "/v1", api_key="wrong", max_retries=0).responses.input_tokens.count(
            model="qwen3.5", input="x")
    with pytest.raises(openai.NotFoundError) as err:
        client.responses.input_tokens.count(model="gpt-none-such", input="x")
    assert err.value.body["code"] == "model_not_found"


def test_openai_input_tokens_default_model(base: str) -> None:
    r = post(base, "/v1/responses/input_tokens", {"input": "Hello"})
    assert r.json() == {"object": "response.input_tokens", "input_tokens": tokcount.count(
        "qwen3.5", {"messages": [{"role": "user", "content": "Hello"}]}).input_tokens}


def test_bifrost_items_and_both_tool_shapes(base: str) -> None:
    expected = tokcount.count("qwen3.5", RESPONSES_EQUIVALENT, return_tokens=True)
    nested = {"type": "function", "function": {k: v for k, v in FLAT_TOOL.items() if k != "type"}}
    for tool in (FLAT_TOOL, nested):
        body = {"model": "qwen/qwen3.5", "instructions": "Be brief.", "input": RESPONSES_INPUT, "tools": [tool],
                "temperature": 0.2, "store": False}
        r = post(base, "/v1/count_tokens", body)
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["input_tokens"] == expected.input_tokens
        assert out["tokens"] == expected.tokens and out["token_strings"] == expected.token_strings


@pytest.mark.parametrize("model", ["qwen/qwen3.5", "openai/gpt-4o", "gemini/gemini-2.5-flash"])
def test_bifrost_reports_image_tokens(base: str, model: str) -> None:
    from PIL import Image

    buf = __import__("io").BytesIO()
    Image.new("RGB", (640, 480)).save(buf, format="PNG")
    url = "data:image/png;base64," + __import__("base64").b64encode(buf.getvalue()).decode()
    body = {"model": model, "input": [{"role": "user", "content": [
        {"type": "input_text", "text": "What is in this picture?"}, {"type": "input_image", "image_url": url}]}]}
    details = post(base, "/v1/count_tokens", body).json()
    text_only = post(base, "/v1/count_tokens", {"model": model, "input": [{"role": "user", "content": [
        {"type": "input_text", "text": "What is in this picture?"}]}]}).json()
    d = details["input_tokens_details"]
    assert d["image_tokens"] > 0
    assert d["text_tokens"] + d["image_tokens"] == details["input_tokens"]
    assert text_only["input_tokens_details"]["image_tokens"] == 0


def test_unknown_tool_types_are_refused_by_name(base: str) -> None:
    """Hosted tools (web_search, ...) are accepted and left out of the count (tests/dialects/test_accepted_bodies.py); a
    type the API does not have is still a 400 naming the field."""
    r = post(base, "/v1/responses/input_tokens", {"input": "x", "tools": [{"type": "web_serch"}]})
    assert r.status_code == 400 and "tools[0].type" in r.json()["error"]["message"]


# ---------------------------------------------------------------- vLLM /tokenize, /detokenize
def test_tokenize_prompt_and_messages(base: str) -> None:
    text = "Hello <|im_start|> world"
    r = post(base, "/tokenize", {"model": "qwen3.5", "prompt": text})
    expected = tokcount.count_text("qwen3.5", text, return_tokens=True)
    assert r.json() == {"count": expected.input_tokens, "max_model_len": 262144, "tokens": expected.tokens,
                        "token_strs": None}
    messages = [{"role": "user", "content": "Hi"}]
    r = post(base, "/tokenize", {"model": "qwen3.5", "messages": messages, "return_token_strs": True,
                                 "tools": OPENAI_EQUIVALENT["tools"]})
    expected = tokcount.count("qwen3.5", {"messages": messages, "tools": OPENAI_EQUIVALENT["tools"]},
                              return_tokens=True)
    out = r.json()
    assert out["count"] == expected.input_tokens and out["tokens"] == expected.tokens
    assert out["token_strs"] == expected.token_strings
    no_gen = post(base, "/tokenize", {"model": "qwen3.5", "messages": messages, "add_generation_prompt": False})
    assert no_gen.json()["count"] < out["count"]  # the assistant prompt is gone
    both = post(base, "/tokenize", {"model": "qwen3.5", "prompt": "x", "messages": messages})
    assert both.status_code == 400


def test_detokenize_round_trip(base: str) -> None:
    text = "<|im_start|>user\nDéjà vu — 你好 🙂<|im_end|>"
    ids = post(base, "/tokenize", {"model": "qwen3.5", "prompt": text}).json()["tokens"]
    r = post(base, "/detokenize", {"model": "qwen3.5", "tokens": ids})
    assert r.status_code == 200 and r.json() == {"prompt": text}
    r = post(base, "/detokenize", {"model": "qwen3.5", "tokens": [1, 10**9]})
    assert r.status_code == 400 and "10" in r.json()["error"]["message"]


def test_tiktoken_decode_with_added_tokens() -> None:
    """The tiktoken-file path of Tokenizer.decode (Kimi-style files), on a byte-level vocabulary built here."""
    ranks = {bytes([i]): i for i in range(256)}
    enc = tiktoken.Encoding(name="bytes", pat_str=r"\S+|\s+", mergeable_ranks=ranks, special_tokens={})
    tok = Tokenizer("bytes", TiktokenEncoder("bytes", encoding=enc), AddedTokens([AddedToken("<|im_end|>", 256)]))
    text = "héllo<|im_end|> 你"
    ids = tok.encode(text)
    assert 256 in ids and tok.decode(ids) == text
    with pytest.raises(ValueError):
        tok.decode([999])


# ---------------------------------------------------------------- models, health, docs
def test_models_health_docs(base: str) -> None:
    r = httpx.get(base + "/v1/models", headers={"Authorization": f"Bearer {KEY}"})
    data = {m["id"]: m for m in r.json()["data"]}
    assert data["qwen3.5"]["available"] is True and data["qwen3.5"]["default"] is True
    assert data["step-3.7-flash"]["available"] is False  # no vocabulary anywhere here
    assert httpx.get(base + "/healthz").json() == {"status": "ok"}
    for _ in range(100):  # preload of qwen3.5 runs in the background
        ready = httpx.get(base + "/readyz")
        if ready.status_code == 200:
            break
        time.sleep(0.1)
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    auth = {"Authorization": f"Bearer {KEY}"}  # auth is on: the docs are behind it too
    spec = httpx.get(base + "/openapi.json", headers=auth).json()
    for path in ("/v1/token/count", "/v1/tokenizers/estimate-token-count", "/v1/messages/count_tokens",
                 "/v1/count_tokens", "/v1/responses/input_tokens", "/tokenize", "/detokenize", "/v1/models"):
        assert path in spec["paths"]
    assert httpx.get(base + "/docs", headers=auth).status_code == 200


def test_failed_preload_is_not_ready() -> None:
    with running_server(Settings(default_model="qwen3.5", preload=("step-3.7-flash",))) as url:
        for _ in range(100):
            r = httpx.get(url + "/readyz")
            if r.json()["status"] != "loading":
                break
            time.sleep(0.05)
        assert r.status_code == 503 and "step-3.7-flash" in r.json()["preload_errors"]
        assert r.json()["status"] == "failed"


# ---------------------------------------------------------------- settings and `tokcount serve`
def test_settings_sources(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("# ops keys\nfile-key\n\n", encoding="utf-8")
    cfg = tmp_path / "tokcount.toml"
    cfg.write_text(f'[server]\ndefault_model = "glm-4.7-flash"\napi_keys = ["toml-key"]\napi_keys_file = "{keys}"\n'
                   'max_body_bytes = 1000\npreload = ["qwen3.5"]\n', encoding="utf-8")
    s = Settings.load(cfg, env={})
    assert s.default_model == "glm-4.7-flash" and s.api_keys == ("toml-key", "file-key")
    assert s.max_body_bytes == 1000 and s.preload == ("qwen3.5",)
    s = Settings.load(cfg, env={"TOKCOUNT_DEFAULT_MODEL": "qwen3.5", "TOKCOUNT_API_KEYS": "a, b",
                                "TOKCOUNT_MAX_BODY_BYTES": "2048"})
    assert s.default_model == "qwen3.5" and s.api_keys == ("toml-key", "file-key", "a", "b")
    assert s.max_body_bytes == 2048
    assert Settings.load(env={}).api_keys == () and not Settings.load(env={}).auth_enabled
    bad = tmp_path / "bad.toml"
    bad.write_text("max_body_bytes = -1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="max_body_bytes"):
        Settings.load(bad, env={})


@pytest.mark.parametrize("workers", [1, 2])
def test_tokcount_serve_command(tmp_path: Path, workers: int) -> None:
    cfg = tmp_path / "tokcount.toml"
    cfg.write_text('default_model = "minimax-m2.5"\napi_keys = ["cli-key"]\n', encoding="utf-8")
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "tokcount.cli", "serve", "--port", str(port), "--workers",
                             str(workers), "--config", str(cfg)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        body = {"model": "default", "messages": [{"role": "user", "content": "Hi"}]}
        r = httpx.post(url + "/v1/messages/count_tokens", json=body, headers={"x-api-key": "cli-key"}, timeout=60)
        assert r.status_code == 200, r.text
        assert r.json()["input_tokens"] == tokcount.count("minimax-m2.5", body["messages"]).input_tokens
        assert httpx.post(url + "/v1/messages/count_tokens", json=body, timeout=60).status_code == 401
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert b"cli-key" not in out  # keys are never logged
