"""Upstream passthrough against real HTTP servers on 127.0.0.1 standing in for the providers: the translated
request each provider receives, and the fallback to the local count on timeout, 5xx, bad key and bad answers."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from typing import Any

import pytest

import tokcount.count  # noqa: F401
from support.recording_upstream import StandIn
from tokcount.errors import MissingAssets
from tokcount.passthrough import Upstream, count, upstreams_from_env
from tokcount.passthrough.translate import upstream_model

count_mod = sys.modules["tokcount.count"]


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    s = StandIn()
    yield s
    s.close()


TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                         "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                        "required": ["city"]}}}
CHAT = {"messages": [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 18}'}],
    "tools": [TOOL]}


def test_openai_gets_a_responses_input_tokens_request(stand_in: StandIn) -> None:
    stand_in.reply = (200, {"object": "response.input_tokens", "input_tokens": 123}, 0.0)
    c = count("gpt-4o", CHAT, upstreams={"openai": Upstream("openai", stand_in.url, "sk-test")})
    assert (c.input_tokens, c.method, c.exact) == (123, "upstream:openai", True)
    (sent,) = stand_in.requests
    assert sent["path"] == "/v1/responses/input_tokens"
    assert sent["headers"]["authorization"] == "Bearer sk-test"
    body = sent["body"]
    assert body["model"] == "gpt-4o"
    assert [i.get("type", i.get("role")) for i in body["input"]] == ["system", "user", "function_call",
                                                                   "function_call_output"]
    assert body["input"][2] == {"type": "function_call", "call_id": "call_1", "name": "get_weather",
                                "arguments": '{"city": "Paris"}'}
    assert body["tools"][0]["name"] == "get_weather"


def test_anthropic_gets_messages_count_tokens(stand_in: StandIn) -> None:
    stand_in.reply = (200, {"input_tokens": 77}, 0.0)
    c = count("claude-sonnet-4-5", CHAT, upstreams={"anthropic": Upstream("anthropic", stand_in.url, "ak")})
    assert (c.input_tokens, c.method, c.exact) == (77, "upstream:anthropic", False)
    (sent,) = stand_in.requests
    assert sent["path"] == "/v1/messages/count_tokens"
    assert sent["headers"]["x-api-key"] == "ak" and sent["headers"]["anthropic-version"] == "2023-06-01"
    body = sent["body"]
    assert body["system"] == "Be brief."
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][1]["content"] == [{"type": "tool_use", "id": "call_1", "name": "get_weather",
                                               "input": {"city": "Paris"}}]
    assert body["messages"][2]["content"][0]["type"] == "tool_result"
    assert body["tools"][0]["input_schema"]["required"] == ["city"]


def test_gemini_gets_a_generate_content_request(stand_in: StandIn) -> None:
    stand_in.reply = (200, {"totalTokens": 31, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 31}]}, 0.0)
    c = count("gemini-2.5-flash", CHAT, upstreams={"gemini": Upstream("gemini", stand_in.url, "gk")})
    assert (c.input_tokens, c.method) == (31, "upstream:gemini")
    (sent,) = stand_in.requests
    assert sent["path"] == "/v1beta/models/gemini-2.5-flash:countTokens"
    assert sent["headers"]["x-goog-api-key"] == "gk"
    g = sent["body"]["generateContentRequest"]
    assert g["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert [c["role"] for c in g["contents"]] == ["user", "model", "user"]
    assert g["contents"][2]["parts"][0]["functionResponse"] == {"name": "get_weather", "response": {"temp_c": 18}}


def test_kimi_request_is_forwarded_as_moonshot(stand_in: StandIn) -> None:
    """A request for kimi-k2.6, whatever shape it came in, goes to Moonshot's estimate endpoint in its shape;
    no local vocabulary is needed when the upstream answers."""
    stand_in.reply = (200, {"data": {"total_tokens": 64}}, 0.0)
    c = count("moonshot/kimi-k2.6", CHAT, upstreams={"moonshot": Upstream("moonshot", stand_in.url, "mk")})
    assert (c.input_tokens, c.method, c.exact) == (64, "upstream:moonshot", False)  # "estimate-token-count"
    (sent,) = stand_in.requests
    assert sent["path"] == "/v1/tokenizers/estimate-token-count"
    assert sent["headers"]["authorization"] == "Bearer mk"
    body = sent["body"]
    assert body["model"] == "kimi-k2.6"
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "tool"]
    assert body["messages"][2]["tool_calls"][0]["function"]["arguments"] == '{"city": "Paris"}'
    assert body["messages"][3] == {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 18}'}


def test_stepfun_path(stand_in: StandIn) -> None:
    stand_in.reply = (200, {"data": {"total_tokens": 85}}, 0.0)
    c = count("step-3.5-flash", {"messages": [{"role": "user", "content": "hi"}]},
              upstreams={"stepfun": Upstream("stepfun", stand_in.url, "sk")})
    assert c.input_tokens == 85
    assert stand_in.requests[0]["path"] == "/v1/token/count"


@pytest.mark.parametrize(("reply", "reason"), [
    ((500, {"error": {"message": "overloaded"}}, 0.0), "HTTP 500"),
    ((401, {"error": {"type": "authentication_error", "message": "invalid x-api-key"}}, 0.0),
     "HTTP 401 authentication_error"),
    ((200, b"not json", 0.0), "unreadable answer"),
    ((200, {"input_tokens": "many"}, 0.0), "unreadable answer"),
    ((200, {"input_tokens": 5}, 1.5), "timeout after 0.3s"),
])
def test_fallback_to_local(stand_in: StandIn, reply: tuple[int, Any, float], reason: str) -> None:
    stand_in.reply = reply
    up = {"openai": Upstream("openai", stand_in.url, "bad", timeout=0.3)}
    c = count("gpt-4o", CHAT, upstreams=up)
    local = count_mod.count("gpt-4o", CHAT)
    assert c.input_tokens == local.input_tokens
    assert c.method == local.method
    assert any(reason in n and "local count returned" in n for n in c.notes), c.notes
    assert c.upstream_error == f"openai: {c.upstream_error.split(': ', 1)[1]}" and reason in c.upstream_error
    # the provider's error message (which may hold account details or an echoed key) never reaches the caller
    assert not any("overloaded" in n or "invalid x-api-key" in n for n in c.notes)


def test_fallback_on_connection_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before the call: nothing listens there
    c = count("gpt-4o", CHAT, upstreams={"openai": Upstream("openai", f"http://127.0.0.1:{port}", "k")})
    assert any("connection error" in n for n in c.notes)


def test_both_failing_raises_the_local_error_with_both_reasons(stand_in: StandIn) -> None:
    stand_in.reply = (503, {}, 0.0)
    with pytest.raises(MissingAssets) as info:  # no Kimi-K2-Thinking files here (nor built by tokcount)
        count("kimi-k2-thinking", CHAT, upstreams={"moonshot": Upstream("moonshot", stand_in.url, "mk")})
    assert "HTTP 503" in info.value.message


def test_unconfigured_provider_counts_locally() -> None:
    c = count("gpt-4o", CHAT, upstreams={})
    assert c.method.startswith("openai-chat-framing")


def test_env_configuration() -> None:
    env = {"TOKCOUNT_UPSTREAM_ANTHROPIC_URL": "http://127.0.0.1:9/", "TOKCOUNT_UPSTREAM_ANTHROPIC_KEY": "k",
           "TOKCOUNT_UPSTREAM_OPENAI_URL": "http://x", "TOKCOUNT_UPSTREAM_TIMEOUT": "2.5"}
    ups = upstreams_from_env(env)
    assert list(ups) == ["anthropic"]  # OpenAI lacks a key
    assert ups["anthropic"] == Upstream("anthropic", "http://127.0.0.1:9", "k", 2.5)


@pytest.mark.parametrize(("requested", "sent"), [
    ("openai/gpt-4o-2024-08-06", "gpt-4o-2024-08-06"),  # a snapshot keeps its name: it may count differently
    ("GPT-4o", "GPT-4o"),
    ("azure/openai/gpt-4o", "gpt-4o"),
    ("gpt-4o-2024-08-06/../../admin", "gpt-4o"),  # only a plain name reaches Gemini's URL path
    ("chatgpt-4o", "gpt-4o"),  # not this model's name: the catalog id
])
def test_upstream_model_name(requested: str, sent: str) -> None:
    assert upstream_model(count_mod.resolve("gpt-4o"), requested) == sent


def test_calls_are_counted_in_the_metrics(stand_in: StandIn) -> None:
    """Every upstream call lands in ``tokcount_upstream_requests_total`` by provider and outcome, through the
    recorder the server hands its passthrough (``on_call``: the passthrough imports no metrics)."""
    prometheus_client = pytest.importorskip("prometheus_client")
    from tokcount import metrics

    def value(outcome: str) -> float:
        got = prometheus_client.REGISTRY.get_sample_value("tokcount_upstream_requests_total",
                                                          {"provider": "openai", "outcome": outcome})
        return got or 0.0

    up = {"openai": Upstream("openai", stand_in.url, "sk-test")}
    ok, error = value("ok"), value("error")
    stand_in.reply = (200, {"object": "response.input_tokens", "input_tokens": 123}, 0.0)
    count("gpt-4o", CHAT, upstreams=up, on_call=metrics.upstream)
    stand_in.reply = (503, {"error": {"type": "overloaded"}}, 0.0)
    fallback = count("gpt-4o", CHAT, upstreams=up, on_call=metrics.upstream)
    assert fallback.method != "upstream:openai"
    assert (value("ok"), value("error")) == (ok + 1, error + 1)
    count("gpt-4o", CHAT, upstreams=up)  # a library count keeps no metrics
    assert (value("ok"), value("error")) == (ok + 1, error + 1)


def test_new_and_unlisted_names_are_asked_about_by_their_own_name(stand_in: StandIn) -> None:
    """claude-sonnet-5 used to be an alias of claude-opus-4-7 and was forwarded as Opus 4.7; an unlisted family
    name goes as sent, and when the provider refuses it the labelled local count (its family's newest) answers."""
    ups = {"anthropic": Upstream("anthropic", stand_in.url, "ak")}
    stand_in.reply = (200, {"input_tokens": 77}, 0.0)
    assert count("claude-sonnet-5", CHAT, upstreams=ups).input_tokens == 77
    assert count("anthropic/claude-sonnet-9", CHAT, upstreams=ups).method == "upstream:anthropic"
    assert [r["body"]["model"] for r in stand_in.requests] == ["claude-sonnet-5", "claude-sonnet-9"]
    stand_in.reply = (404, {"type": "error", "error": {"type": "not_found_error", "message": "model"}}, 0.0)
    local = count("claude-sonnet-9", CHAT, upstreams=ups)
    assert local.exact is False and local.resolved_as == "claude-opus-5-5"
    assert local.method.endswith("+rules-of:claude-opus-5-5") and "HTTP 404" in (local.upstream_error or "")
