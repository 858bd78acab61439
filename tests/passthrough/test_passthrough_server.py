"""The upstream passthrough through the real tokcount server: requests in several dialects, for models of each
provider, forwarded to loopback stand-ins of the providers (tests/support/standins.py) in the provider's own shape, the
answer used and labelled; timeouts, error statuses and a full concurrency gate answered by the local count,
labelled; nothing forwarded unless configured; the caller's key never forwarded, the operator's never echoed."""

from __future__ import annotations

import base64
import io
import json
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import types
from PIL import Image

from support.serverkit import running_server
from support.standins import ANSWER, StandIn, stand_ins
from tokcount import jobs
from tokcount.dialects import dialects
from tokcount.passthrough import Upstream
from tokcount.settings import Settings

TOOL_ANTHROPIC = {"name": "get_weather", "description": "Weather of a city",
                  "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                                   "required": ["city"]}}
TOOL_RESPONSES = {"type": "function", "name": "get_weather", "description": "Weather of a city",
                  "parameters": TOOL_ANTHROPIC["input_schema"]}
ROUTES = {"anthropic": "/v1/messages/count_tokens", "openai-responses": "/v1/responses/input_tokens",
          "bifrost": "/v1/count_tokens", "stepfun": "/v1/token/count",
          "moonshot": "/v1/tokenizers/estimate-token-count", "vllm": "/tokenize"}


def configured(servers: dict[str, StandIn], **overrides: Any) -> Settings:
    """Settings with every stand-in configured as its provider's upstream."""
    ups = tuple(Upstream(p, s.url, s.key, **overrides) for p, s in servers.items())
    return Settings(upstreams=ups)


@pytest.fixture(scope="module")
def providers() -> Iterator[dict[str, StandIn]]:
    with stand_ins() as servers:
        yield servers


@pytest.fixture(scope="module")
def server(providers: dict[str, StandIn]) -> Iterator[str]:
    with running_server(configured(providers, timeout=10.0)) as url:
        yield url


@pytest.fixture(autouse=True)
def fresh(providers: dict[str, StandIn]) -> None:
    for s in providers.values():
        s.reset()


def post(url: str, path: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(url + path, json=body, headers=headers, timeout=60)


def local_answer(dialect: str, body: Any, path_params: dict[str, str] | None = None) -> jobs.Answer:
    """What the route answers with no upstream configured (the same code path, in-process)."""
    d = dialects()[dialect]
    return jobs.answer(d, d.routes[0], body, Settings(), path_params=path_params)


@dataclass
class Case:
    id: str
    dialect: str  # the route the request comes in on, or "gemini"
    body: dict[str, Any]
    provider: str
    check: Callable[[Any], None]  # on the body the provider received
    read: Callable[[dict[str, Any]], int]  # the count in the route's answer
    model: str = ""  # Gemini route: the model in the URL


def _roles(items: list[dict[str, Any]]) -> list[str]:
    return [i.get("role", i.get("type")) for i in items]


def _check_anthropic_to_openai(b: dict[str, Any]) -> None:
    assert b["model"] == "gpt-4o"
    assert _roles(b["input"]) == ["system", "user", "function_call", "function_call_output"]
    assert b["input"][2]["arguments"] == '{"city": "Paris"}' and b["input"][3]["call_id"] == "toolu_1"
    assert b["tools"][0]["name"] == "get_weather" and b["tools"][0]["parameters"]["required"] == ["city"]


def _check_native_responses(b: dict[str, Any]) -> None:
    # the caller's own body, its model named as sent, and no field that reaches the operator's stored data
    assert b == {"model": "gpt-4o-2024-08-06", "input": "Hi", "instructions": "Be brief.", "tools": [TOOL_RESPONSES]}


def _check_responses_to_anthropic(b: dict[str, Any]) -> None:
    assert b["model"] == "claude-sonnet-4-5-20250929"
    assert b["system"] == "Be brief."
    assert [m["role"] for m in b["messages"]] == ["user"]
    assert b["tools"] == [TOOL_ANTHROPIC]


def _check_native_anthropic(b: dict[str, Any]) -> None:
    assert set(b) == {"model", "messages", "system", "tools", "tool_choice", "thinking"}  # mcp_servers dropped
    assert b["thinking"] == {"type": "enabled", "budget_tokens": 2048} and b["tool_choice"] == {"type": "any"}


def _check_native_gemini(b: dict[str, Any]) -> None:
    g = b["generateContentRequest"]
    assert g["model"] == "models/gemini-2.5-flash" and g["systemInstruction"] == {"parts": [{"text": "Be brief."}]}


def _check_stepfun_to_gemini(b: dict[str, Any]) -> None:
    g = b["generateContentRequest"]
    assert g["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert [c["role"] for c in g["contents"]] == ["user", "model", "user"]


def _check_native_moonshot(b: dict[str, Any]) -> None:
    assert b == {"model": "kimi-k2.6", "messages": [{"role": "system", "content": "Be brief."},
                                                    {"role": "user", "content": "Hi"}]}


def _check_bifrost_to_openai(b: dict[str, Any]) -> None:
    assert b["model"] == "gpt-4o" and "fallbacks" not in b
    assert _roles(b["input"]) == ["user"]


def _check_responses_to_stepfun(b: dict[str, Any]) -> None:
    assert b["model"] == "step-3.5-flash"
    assert b["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]


def _check_anthropic_to_moonshot(b: dict[str, Any]) -> None:
    assert b["model"] == "kimi-k2.6"
    assert [m["role"] for m in b["messages"]] == ["system", "user"]


ANTHROPIC_CHAT = {"system": "Be brief.", "tools": [TOOL_ANTHROPIC], "messages": [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                                       "input": {"city": "Paris"}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": '{"temp_c": 18}'}]}]}
STEPFUN_CHAT = {"messages": [
    {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {
        "name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
    {"role": "tool", "tool_call_id": "c1", "content": '{"temp_c": 18}'}], "tools": [
    {"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                      "parameters": TOOL_ANTHROPIC["input_schema"]}}]}
SIMPLE_CHAT = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]}

CASES = [
    Case("anthropic->openai", "anthropic", {"model": "gpt-4o", **ANTHROPIC_CHAT}, "openai",
         _check_anthropic_to_openai, lambda a: a["input_tokens"]),
    Case("responses->openai native", "openai-responses",
         {"model": "gpt-4o-2024-08-06", "input": "Hi", "instructions": "Be brief.", "tools": [TOOL_RESPONSES],
          "previous_response_id": "resp_1", "conversation": "conv_1", "store": True, "temperature": 0.2},
         "openai", _check_native_responses, lambda a: a["input_tokens"]),
    Case("responses->anthropic", "openai-responses",
         {"model": "claude-sonnet-4-5-20250929", "instructions": "Be brief.", "input": "Hi",
          "tools": [TOOL_RESPONSES]}, "anthropic", _check_responses_to_anthropic, lambda a: a["input_tokens"]),
    Case("anthropic native", "anthropic",
         {"model": "claude-sonnet-4-5", **ANTHROPIC_CHAT, "tool_choice": {"type": "any"},
          "thinking": {"type": "enabled", "budget_tokens": 2048},
          "mcp_servers": [{"type": "url", "url": "http://169.254.169.254/", "name": "x"}]},
         "anthropic", _check_native_anthropic, lambda a: a["input_tokens"]),
    Case("gemini native", "gemini",
         {"generateContentRequest": {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
                                     "systemInstruction": {"parts": [{"text": "Be brief."}]}}},
         "gemini", _check_native_gemini, lambda a: a["totalTokens"], model="gemini-2.5-flash"),
    Case("stepfun->gemini", "stepfun", {"model": "gemini-2.5-flash", **STEPFUN_CHAT}, "gemini",
         _check_stepfun_to_gemini, lambda a: a["data"]["total_tokens"]),
    Case("moonshot native", "moonshot", {"model": "moonshot/kimi-k2.6", **SIMPLE_CHAT}, "moonshot",
         _check_native_moonshot, lambda a: a["data"]["total_tokens"]),
    Case("bifrost->openai", "bifrost", {"model": "openai/gpt-4o", "input": [{"role": "user", "content": "Hi"}],
                                        "fallbacks": ["qwen/qwen3.5"]}, "openai",
         _check_bifrost_to_openai, lambda a: a["input_tokens"]),
    Case("responses->stepfun", "openai-responses",
         {"model": "step-3.5-flash", "instructions": "Be brief.", "input": "Hi"}, "stepfun",
         _check_responses_to_stepfun, lambda a: a["input_tokens"]),
    Case("anthropic->moonshot", "anthropic",
         {"model": "kimi-k2.6", "system": "Be brief.", "messages": [{"role": "user", "content": "Hi"}]},
         "moonshot", _check_anthropic_to_moonshot, lambda a: a["input_tokens"]),
]


def _png() -> str:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), "red").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


PNG = _png()


def _check_media_to_anthropic(b: dict[str, Any]) -> None:
    (msg,) = b["messages"]
    assert [c["type"] for c in msg["content"]] == ["text", "image"]
    assert msg["content"][1]["source"] == {"type": "base64", "media_type": "image/png", "data": PNG.split(",")[1]}


def _check_media_to_gemini(b: dict[str, Any]) -> None:
    (content,) = b["generateContentRequest"]["contents"]
    assert content["parts"][1] == {"inlineData": {"mimeType": "image/png", "data": PNG.split(",")[1]}}


def _check_document_to_openai(b: dict[str, Any]) -> None:
    (item,) = b["input"]
    assert item["content"] == [{"type": "input_text", "text": "Notes: the sky is blue."},
                               {"type": "input_text", "text": "Summarise."}]


CASES += [
    Case("responses image->anthropic", "openai-responses",
         {"model": "claude-haiku-4-5", "input": [{"role": "user", "content": [
             {"type": "input_text", "text": "What is this?"}, {"type": "input_image", "image_url": PNG}]}]},
         "anthropic", _check_media_to_anthropic, lambda a: a["input_tokens"]),
    Case("anthropic image->gemini", "anthropic",
         {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": [
             {"type": "text", "text": "What is this?"},
             {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG.split(",")[1]}}]}]},
         "gemini", _check_media_to_gemini, lambda a: a["input_tokens"]),
    Case("anthropic text document->openai", "anthropic",
         {"model": "gpt-4o", "messages": [{"role": "user", "content": [
             {"type": "document", "source": {"type": "text", "media_type": "text/plain",
                                             "data": "Notes: the sky is blue."}},
             {"type": "text", "text": "Summarise."}]}]},
         "openai", _check_document_to_openai, lambda a: a["input_tokens"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_forwarded_in_the_providers_shape_and_labelled(server: str, providers: dict[str, StandIn],
                                                       case: Case) -> None:
    path = f"/v1beta/models/{case.model}:countTokens" if case.dialect == "gemini" else ROUTES[case.dialect]
    r = post(server, path, case.body)
    target = providers[case.provider]
    assert not target.problems, target.problems
    assert r.status_code == 200, r.text
    assert case.read(r.json()) == ANSWER
    assert r.headers["x-tokcount-method"] == f"upstream:{case.provider}"
    assert r.headers["x-tokcount-exact"] == ("false" if case.provider in ("anthropic", "moonshot") else "true")
    assert "x-tokcount-upstream-error" not in r.headers
    assert [len(s.requests) for s in providers.values()] == [int(p == case.provider) for p in providers]
    case.check(target.requests[0].body)


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/messages/count_tokens", {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": [
        {"type": "document", "source": {"type": "file", "file_id": "file_011CNha8iCJcU1wXNR6q4V8w"}},
        {"type": "text", "text": "Summarise."}]}]}),
    ("/v1/messages/count_tokens", {"model": "gpt-4o", "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "file", "file_id": "file_011"}}, {"type": "text", "text": "Hi"}]}]}),
    ("/v1/responses/input_tokens", {"model": "claude-sonnet-4-5", "input": [{"role": "user", "content": [
        {"type": "input_file", "file_id": "file-abc123"}, {"type": "input_text", "text": "Summarise."}]}]}),
    ("/v1/responses/input_tokens", {"model": "gpt-4o", "input": [{"role": "user", "content": [
        {"type": "input_file", "file_id": "file-abc123"}, {"type": "input_text", "text": "Summarise."}]}]}),
])
def test_file_ids_are_never_forwarded(server: str, providers: dict[str, StandIn], path: str,
                                      body: dict[str, Any]) -> None:
    """A file id sent with the operator's key would name a file of the operator's account: counted locally."""
    r = post(server, path, body)
    assert r.status_code == 200, r.text
    assert "not forwarded: the request names a file id" in r.headers["x-tokcount-upstream-error"]
    assert all(s.requests == [] for s in providers.values())


def test_bifrost_answer_without_token_ids_when_forwarded(server: str) -> None:
    r = post(server, "/v1/count_tokens", {"model": "openai/gpt-4o", "input": "Hi"})
    body = r.json()
    assert (body["input_tokens"], body["total_tokens"], body["tokens"]) == (ANSWER, ANSWER, [])
    assert body["extra_fields"]["model_requested"] == "openai/gpt-4o"


def test_vllm_tokenize_needs_ids_so_counts_locally(server: str, providers: dict[str, StandIn]) -> None:
    r = post(server, "/tokenize", {"model": "gpt-4o", **SIMPLE_CHAT})
    assert r.status_code == 200, r.text
    assert r.json()["count"] != ANSWER and r.json()["tokens"]
    assert r.headers["x-tokcount-method"].startswith("openai-chat-framing")
    assert providers["openai"].requests == []


def test_models_no_provider_serves_stay_local(server: str, providers: dict[str, StandIn]) -> None:
    r = post(server, "/v1/messages/count_tokens", {"model": "qwen3.5", "messages": [{"role": "user",
                                                                                     "content": "Hi"}]})
    assert r.status_code == 200 and r.json()["input_tokens"] != ANSWER
    assert r.headers["x-tokcount-method"] and not r.headers["x-tokcount-method"].startswith("upstream")
    assert all(s.requests == [] for s in providers.values())


def test_official_sdks_get_the_providers_count_for_other_providers_models(server: str,
                                                                          providers: dict[str, StandIn]) -> None:
    """The Anthropic SDK asking about gpt-4o gets OpenAI's count; the OpenAI SDK asking about Claude gets
    Anthropic's; google-genai gets Gemini's (its own body, forwarded as sent); the caller's own key goes nowhere."""
    ac = anthropic.Anthropic(base_url=server, api_key="caller-anthropic-key", max_retries=0)
    raw = ac.messages.with_raw_response.count_tokens(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}])
    assert raw.parse().input_tokens == ANSWER and raw.headers["x-tokcount-method"] == "upstream:openai"
    oc = openai.OpenAI(base_url=server + "/v1", api_key="caller-openai-key", max_retries=0)
    got = oc.responses.input_tokens.with_raw_response.count(model="claude-opus-4-5", input="Hi")
    assert got.parse().input_tokens == ANSWER and got.headers["x-tokcount-method"] == "upstream:anthropic"
    gc = genai.Client(api_key="caller-gemini-key", http_options=types.HttpOptions(base_url=server,
                                                                                 api_version="v1beta"))
    assert gc.models.count_tokens(model="gemini-2.5-flash", contents="Hi").total_tokens == ANSWER
    (sent,) = providers["gemini"].requests
    assert sent.path == "/v1beta/models/gemini-2.5-flash:countTokens" and sent.body["contents"][0]["parts"] == [
        {"text": "Hi"}]
    seen = [s for p in ("openai", "anthropic", "gemini") for s in providers[p].requests]
    assert len(seen) == 3
    for s in seen:
        assert b"caller-" not in s.raw and not any("caller-" in v for v in s.headers.values())


# ------------------------------------------------------------------ failures: the local count, labelled


@pytest.fixture(scope="module")
def impatient(providers: dict[str, StandIn]) -> Iterator[str]:
    """A server whose upstreams time out after 0.5 s."""
    with running_server(configured(providers, timeout=0.5)) as url:
        yield url


GPT_BODY = {"model": "gpt-4o", **ANTHROPIC_CHAT}


def test_timeout_falls_back_to_the_local_count_within_the_timeout(impatient: str,
                                                                  providers: dict[str, StandIn]) -> None:
    providers["openai"].reset("hang")  # never answers
    try:
        started = time.monotonic()
        r = post(impatient, "/v1/messages/count_tokens", GPT_BODY)
        elapsed = time.monotonic() - started
    finally:
        providers["openai"].release()
    assert r.status_code == 200, r.text
    assert elapsed < 0.5 + 3.0  # the timeout, plus a local count on a busy machine
    local = local_answer("anthropic", GPT_BODY)
    assert r.json() == local.body
    assert r.headers["x-tokcount-method"] == local.headers["x-tokcount-method"]
    assert r.headers["x-tokcount-method"].startswith("openai-chat-framing")
    assert r.headers["x-tokcount-upstream-error"] == "openai: timeout after 0.5s"
    assert len(providers["openai"].requests) == 1


def test_trickled_headers_are_cut_at_the_timeout(impatient: str, providers: dict[str, StandIn]) -> None:
    """A provider sending its status line and headers one byte every 50 ms (each read well within the 0.5 s
    timeout): the call ends at the timeout. Before the total deadline it took the whole trickle (~17 s here)."""
    providers["openai"].reset(("trickle", 0.05))
    body = {"model": "gpt-4o", "input": "Hi"}
    started = time.monotonic()
    r = post(impatient, "/v1/responses/input_tokens", body)
    elapsed = time.monotonic() - started
    assert r.status_code == 200, r.text
    assert r.json() == local_answer("openai-responses", body).body
    assert r.headers["x-tokcount-upstream-error"] == "openai: timeout after 0.5s"
    assert elapsed < 0.5 + 3.0  # the timeout, plus a local count on a busy machine


@pytest.mark.parametrize(("provider", "status", "label"), [
    ("openai", 500, "openai: HTTP 500 server_error"),
    ("openai", 503, "openai: HTTP 503 server_error"),
    ("openai", 429, "openai: HTTP 429 rate_limit_exceeded"),
    ("openai", 401, "openai: HTTP 401 invalid_api_key"),
    ("anthropic", 529, "anthropic: HTTP 529 overloaded_error"),
    ("anthropic", 400, "anthropic: HTTP 400 invalid_request_error"),
    ("gemini", 429, "gemini: HTTP 429 RESOURCE_EXHAUSTED"),
    ("gemini", 403, "gemini: HTTP 403 PERMISSION_DENIED"),
])
def test_error_status_falls_back(impatient: str, providers: dict[str, StandIn], provider: str, status: int,
                                 label: str) -> None:
    providers[provider].reset(status)
    model = {"openai": "gpt-4o", "anthropic": "claude-sonnet-4-5", "gemini": "gemini-2.5-flash"}[provider]
    body = {**GPT_BODY, "model": model}
    r = post(impatient, "/v1/messages/count_tokens", body)
    assert r.status_code == 200, r.text
    assert r.json() == local_answer("anthropic", body).body and r.json()["input_tokens"] != ANSWER
    assert r.headers["x-tokcount-upstream-error"].startswith(label)
    assert not r.headers["x-tokcount-method"].startswith("upstream")
    assert "upstream trouble" not in r.text + str(r.headers)  # the provider's message stays in the log
    assert len(providers[provider].requests) == 1


@pytest.mark.parametrize(("reply", "label"), [
    ((200, b"<html>gateway</html>"), "unreadable answer"),
    ((200, b'{"input_tokens": -3}'), "unreadable answer"),
    ((200, b'{"input_tokens": true}'), "unreadable answer"),
    ((302, b""), "HTTP 302"),
    # a count past any context window (10**20 was a 500: past 64 bits), and answers nested past the decoder's
    # stack (they were a 400 "nested too deeply" for the client): the local count, labelled
    ((200, b'{"input_tokens": 100000000000000000000}'), "unreadable answer: no integer count"),
    ((200, b'{"input_tokens": 1000000001}'), "unreadable answer: no integer count"),
    ((200, b"[" * 200_000), "unreadable answer: not JSON"),
    ((200, b'{"input_tokens": 5, "x": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"), "unreadable answer: not JSON"),
    ((500, b'{"error": ' + b"[" * 200_000 + b"}"), "HTTP 500"),
])
def test_unusable_answer_falls_back(impatient: str, providers: dict[str, StandIn], reply: tuple[int, bytes],
                                    label: str) -> None:
    providers["openai"].reset(reply)
    r = post(impatient, "/v1/responses/input_tokens", {"model": "gpt-4o", "input": "Hi"})
    assert r.status_code == 200, r.text
    assert r.json() == local_answer("openai-responses", {"model": "gpt-4o", "input": "Hi"}).body
    assert label in r.headers["x-tokcount-upstream-error"]


def test_both_failing_is_the_local_error_in_the_routes_shape(impatient: str, providers: dict[str, StandIn]) -> None:
    providers["moonshot"].reset(503)  # and no Kimi-K2-Thinking files here: no local count either
    r = post(impatient, "/v1/tokenizers/estimate-token-count", {"model": "kimi-k2-thinking", **SIMPLE_CHAT})
    assert r.status_code == 404
    assert "Upstream moonshot was tried first and failed: HTTP 503" in r.json()["error"]["message"]


# ------------------------------------------------------------------ the concurrency gate


def test_concurrency_cap_counts_the_overflow_locally(providers: dict[str, StandIn]) -> None:
    """With max_concurrency = 2 and a provider holding every call, six requests at once: two reach the
    provider (never more in flight), four are answered locally at once, labelled busy; the two then get the
    provider's count when it answers."""
    with running_server(configured(providers, timeout=20.0, max_concurrency=2)) as url:
        openai_up = providers["openai"]
        openai_up.reset("hold")
        body = {"model": "gpt-4o", "input": "Hi"}
        with ThreadPoolExecutor(6) as pool:
            futures = [pool.submit(post, url, "/v1/responses/input_tokens", body) for _ in range(6)]
            try:
                deadline = time.monotonic() + 30
                while (sum(f.done() for f in futures) < 4 or openai_up.in_flight < 2) and time.monotonic() < deadline:
                    time.sleep(0.05)
                early = [f.result() for f in futures if f.done()]
            finally:
                openai_up.release()
            answers = [f.result(timeout=60) for f in futures]
    assert openai_up.peak == 2 and len(openai_up.requests) == 2
    assert len(early) == 4  # answered while the provider still held two calls: nothing queued behind them
    for r in early:
        assert r.json()["input_tokens"] != ANSWER
        assert r.headers["x-tokcount-upstream-error"] == "openai: busy: 2 calls already in flight"
    forwarded = [r for r in answers if r.headers["x-tokcount-method"] == "upstream:openai"]
    assert len(forwarded) == 2 and all(r.json()["input_tokens"] == ANSWER for r in forwarded)


# ------------------------------------------------------------------ off by default


def test_off_by_default(providers: dict[str, StandIn]) -> None:
    """Default settings (and settings from an empty environment) forward nothing: the stand-ins see no request."""
    assert Settings().upstreams == () and Settings.load(env={}).upstreams == ()
    with running_server(Settings.load(env={})) as url:
        for dialect, body in [("anthropic", GPT_BODY), ("anthropic", {**GPT_BODY, "model": "claude-sonnet-4-5"}),
                              ("openai-responses", {"model": "gpt-4o", "input": "Hi"}),
                              ("stepfun", {"model": "gemini-2.5-flash", **SIMPLE_CHAT})]:
            r = post(url, ROUTES[dialect], body)
            assert r.status_code == 200, r.text
            assert not r.headers["x-tokcount-method"].startswith("upstream")
            assert "x-tokcount-upstream-error" not in r.headers
        r = post(url, "/v1beta/models/gemini-2.5-flash:countTokens", {"contents": "Hi"})
        assert r.headers["x-tokcount-method"].startswith("gemini-local")
    assert all(s.requests == [] for s in providers.values())


def test_only_the_configured_provider_is_asked(providers: dict[str, StandIn]) -> None:
    only_openai = Settings(upstreams=(Upstream("openai", providers["openai"].url, providers["openai"].key),))
    with running_server(only_openai) as url:
        r = post(url, ROUTES["anthropic"], {**GPT_BODY, "model": "claude-sonnet-4-5"})
        assert not r.headers["x-tokcount-method"].startswith("upstream")
        assert post(url, ROUTES["anthropic"], GPT_BODY).headers["x-tokcount-method"] == "upstream:openai"
    assert providers["anthropic"].requests == [] and len(providers["openai"].requests) == 1


# ------------------------------------------------------------------ secrets


def test_keys_never_forwarded_logged_or_echoed(providers: dict[str, StandIn], caplog: pytest.LogCaptureFixture) -> None:
    caller = "caller-secret-111"
    settings = Settings(api_keys=(caller,), upstreams=(Upstream("openai", providers["openai"].url,
                                                                providers["openai"].key),))
    assert providers["openai"].key not in repr(settings)
    providers["openai"].reset("echo-key")  # a 401 whose message quotes the key it got, as OpenAI's does
    with caplog.at_level(logging.DEBUG), running_server(settings) as url:
        r = post(url, ROUTES["anthropic"], GPT_BODY, headers={"x-api-key": caller, "authorization": f"Bearer {caller}"})
    assert r.status_code == 200, r.text
    assert r.headers["x-tokcount-upstream-error"] == "openai: HTTP 401 invalid_api_key"
    (seen,) = providers["openai"].requests
    assert seen.headers["authorization"] == f"Bearer {providers['openai'].key}"
    assert caller.encode() not in seen.raw and not any(caller in v for v in seen.headers.values())
    op_key = providers["openai"].key
    assert op_key not in r.text and not any(op_key in v for v in r.headers.values())
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "upstream openai answered HTTP 401" in logged and "***" in logged
    assert op_key not in logged and caller not in logged


def test_an_upstream_echoing_the_key_anywhere_never_reaches_the_caller_or_the_log(
        impatient: str, providers: dict[str, StandIn], caplog: pytest.LogCaptureFixture) -> None:
    """The header carries a fixed vocabulary (the kind of failure, the status, a documented error type), never the
    upstream's words: a key echoed as the error's type or code reached ``x-tokcount-upstream-error``. The log keeps
    300 characters of the message, redacted before the cut: cutting first left a prefix of a key placed across it."""
    key = providers["openai"].key
    replies = [{"error": {"type": key, "code": key, "status": key, "message": "bad key"}},
               {"error": {"message": "x" * 290 + key + " more"}},
               {"error": {"message": "line one\r\nx-injected: " + key}}]
    for reply in replies:
        providers["openai"].reset((401, json.dumps(reply).encode()))
        with caplog.at_level(logging.DEBUG):
            r = post(impatient, "/v1/responses/input_tokens", {"model": "gpt-4o", "input": "Hi"})
        assert r.status_code == 200 and r.headers["x-tokcount-upstream-error"] == "openai: HTTP 401"
        assert key[:6] not in r.text + str(r.headers)
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert logged.count("upstream openai answered HTTP 401") == 3 and "***" in logged
    assert key[:6] not in logged and "\r\nx-injected" not in logged


def test_a_gemini_split_with_unknown_modalities_is_dropped(providers: dict[str, StandIn]) -> None:
    """Modality names become ``Count.modalities`` keys (the library's and the CLI's answer): only Gemini's
    documented ones are taken, so a split naming anything else is dropped whole (the total is still used)."""
    from tokcount.passthrough import count as upstream_count

    gemini = providers["gemini"]
    details = [{"modality": "TEXT", "tokenCount": 42}, {"modality": gemini.key, "tokenCount": 258}]
    gemini.reset((200, json.dumps({"totalTokens": 300, "promptTokensDetails": details}).encode()))
    got = upstream_count("gemini-2.5-flash", {"messages": [{"role": "user", "content": "Hi"}]},
                         upstreams={"gemini": Upstream("gemini", gemini.url, gemini.key, timeout=10.0)})
    assert got.input_tokens == 300 and got.method == "upstream:gemini"
    assert gemini.key.lower() not in json.dumps(got.to_dict()).lower() and got.modalities == {}


def test_a_forwarded_count_never_blocks_the_event_loop(providers: dict[str, StandIn]) -> None:
    """A small body for an already-loaded model is normally counted on the event loop; when it is forwarded it
    must not be, or every other request (health checks included) would wait for the provider."""
    settings = Settings(upstreams=(Upstream("openai", providers["openai"].url, providers["openai"].key, 20.0),))
    with running_server(settings) as url, ThreadPoolExecutor(1) as pool:
        assert post(url, ROUTES["vllm"], {"model": "gpt-4o", **SIMPLE_CHAT}).status_code == 200  # loaded, local
        providers["openai"].reset("hold")
        try:
            held = pool.submit(post, url, ROUTES["openai-responses"], {"model": "gpt-4o", "input": "Hi"})
            deadline = time.monotonic() + 20
            while providers["openai"].in_flight < 1 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert providers["openai"].in_flight == 1
            health = httpx.get(url + "/healthz", timeout=3)
            assert health.status_code == 200 and not held.done()
            local = post(url, ROUTES["vllm"], {"model": "gpt-4o", **SIMPLE_CHAT})
            assert local.status_code == 200 and not held.done()
        finally:
            providers["openai"].release()
        assert held.result(timeout=30).headers["x-tokcount-method"] == "upstream:openai"


def test_gemini_modality_split_is_passed_on(server: str, providers: dict[str, StandIn]) -> None:
    details = [{"modality": "TEXT", "tokenCount": 42}, {"modality": "IMAGE", "tokenCount": 258}]
    providers["gemini"].reset((200, json.dumps({"totalTokens": 300, "promptTokensDetails": details}).encode()))
    r = post(server, "/v1beta/models/gemini-2.5-flash:countTokens", {"contents": "Hi"})
    assert r.json() == {"totalTokens": 300, "promptTokensDetails": details}
    assert r.headers["x-tokcount-method"] == "upstream:gemini"


def test_forwarded_calls_land_in_the_servers_metrics(server: str) -> None:
    """The server hands its passthrough the metrics recorder (the passthrough imports none): a forwarded count is
    one ``tokcount_upstream_requests_total{provider, outcome="ok"}`` more on ``/metrics``."""
    pytest.importorskip("prometheus_client")

    def ok() -> float:
        text = httpx.get(f"{server}/metrics", timeout=30).text
        line = next((ln for ln in text.splitlines() if ln.startswith("tokcount_upstream_requests_total{")
                     and 'provider="anthropic"' in ln and 'outcome="ok"' in ln), None)
        return float(line.rsplit(" ", 1)[1]) if line else 0.0

    before = ok()
    r = post(server, "/v1/messages/count_tokens", {"model": "claude-sonnet-4-5", **SIMPLE_CHAT})
    assert r.headers["x-tokcount-method"] == "upstream:anthropic", r.text
    assert ok() == before + 1
