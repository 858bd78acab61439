"""Every request body a provider answered is answered here too (issue 27): each recorded request of the calibration
set through its dialect's route, the issue's single-object ``parts`` over a real server, and what a dialect accepts
but leaves out of a count labelled so, locally and through a translated upstream passthrough
(docs/accepted-bodies.md). The forms themselves, parse by parse: tests/dialects/test_accepted_body_forms.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from support.recording_upstream import StandIn
from support.serverkit import running_server
from support.shared import SHARED
from tokcount import jobs
from tokcount.count import count as local_count
from tokcount.count import resolve
from tokcount.dialects import dialects, openai_responses
from tokcount.fit import fit_answer
from tokcount.passthrough import Origin, Passthrough, Upstream
from tokcount.settings import Settings

CALIBRATION = SHARED / "calibration"
SETTINGS = Settings(default_model="qwen3.5")


def recorded() -> list[tuple[str, dict[str, Any]]]:
    """(file, case) for every line of every file of the calibration set (vertex.jsonl included)."""
    cases = []
    for path in sorted(CALIBRATION.glob("*.jsonl")):
        cases += [(path.name, json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines()
                  if line.strip()]
    return cases


def route_answer(dialect_name: str, model: str, body: Any) -> jobs.Answer:
    """The answer of the dialect's route (its HTTP one where it has one) to ``body``, as the server computes it after
    reading the JSON; ``model`` goes where the route takes it from the URL (Gemini)."""
    found = dialects()
    # Vertex bodies are Gemini countTokens bodies; the vertex dialect answers them where the package has one
    dialect = found["gemini"] if dialect_name == "vertex" and "vertex" not in found else found[dialect_name]
    route = next((r for r in dialect.routes if r.path), dialect.routes[0])
    params = {name: model for name in route.path_params}
    return jobs.answer(dialect, route, body, SETTINGS, path_params=params)


def test_no_recorded_request_is_refused() -> None:
    """All 1,663 were answered 200 by the provider's API, so none may be refused by its dialect's route."""
    cases = recorded()
    assert len(cases) >= 1663
    refused = []
    for name, case in cases:
        out = route_answer(case["dialect"], case["model"], case["request"])
        if out.status != 200:
            refused.append((name, case["id"], out.status, json.dumps(out.body)[:200]))
    assert not refused, f"{len(refused)} recorded requests refused, e.g. {refused[:5]}"


# ------------------------------------------------------------------ over a real server on loopback
@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with running_server(SETTINGS) as url:
        yield url


def post(base: str, path: str, body: Any) -> httpx.Response:
    return httpx.post(base + path, json=body, timeout=60)


def test_single_object_parts_are_counted_as_their_list(base: str) -> None:
    """The issue's request: ``systemInstruction.parts`` (and here ``contents`` and its ``parts``) as one object,
    which Google's API answers 200; it was a 400 "systemInstruction.parts must be an array"."""
    path = "/v1beta/models/gemini-2.5-flash:countTokens"
    single = post(base, path, {"systemInstruction": {"parts": {"text": "You answer in one word."}},
                               "contents": {"role": "user", "parts": {"text": "What colour is the sky?"}}})
    listed = post(base, path, {"systemInstruction": {"parts": [{"text": "You answer in one word."}]},
                               "contents": [{"role": "user", "parts": [{"text": "What colour is the sky?"}]}]})
    assert single.status_code == listed.status_code == 200, single.text
    assert single.json() == listed.json() and single.json()["totalTokens"] > 0
    assert single.headers["x-tokcount-exact"] == listed.headers["x-tokcount-exact"] == "true"
    wrapped = post(base, "/v1/models/gemini-2.5-flash:countTokens", {"generateContentRequest": {
        "model": "models/gemini-2.5-flash", "system_instruction": {"parts": {"text": "You answer in one word."}},
        "contents": {"parts": {"text": "What colour is the sky?"}}}})
    assert wrapped.status_code == 200 and wrapped.json() == listed.json()


def test_a_string_for_parts_is_still_googles_400(base: str) -> None:
    r = post(base, "/v1beta/models/gemini-2.5-flash:countTokens", {"contents": [{"parts": "Hi"}]})
    assert r.status_code == 400
    assert r.json()["error"]["status"] == "INVALID_ARGUMENT" and "contents[0].parts" in r.json()["error"]["message"]


def test_left_out_hosted_tools_are_labelled_not_exact(base: str) -> None:
    """A hosted tool and a stored item are accepted; the count is that of the rest, and says it is not exact."""
    plain = {"model": "gpt-4o", "input": [{"role": "user", "content": "Find the news."}]}
    hosted = {**plain, "input": [*plain["input"], {"type": "item_reference", "id": "msg_1"}],
              "tools": [{"type": "web_search"}], "tool_choice": {"type": "web_search_preview"}}
    a, b = post(base, "/v1/responses/input_tokens", plain), post(base, "/v1/responses/input_tokens", hosted)
    assert a.status_code == b.status_code == 200, b.text
    assert a.json()["input_tokens"] == b.json()["input_tokens"]
    assert (a.headers["x-tokcount-exact"], b.headers["x-tokcount-exact"]) == ("true", "false")


def test_anthropic_fallback_block_is_not_rendered(base: str) -> None:
    turn = [{"type": "text", "text": "Paris is the capital."}]
    body = {"model": "qwen3.5", "messages": [{"role": "user", "content": "Capital of France?"},
                                             {"role": "assistant", "content": turn}]}
    with_fallback = {**body, "messages": [body["messages"][0], {"role": "assistant", "content": [
        {"type": "fallback", "from": {"model": "claude-a"}, "to": {"model": "claude-b"}}, *turn]}]}
    a, b = post(base, "/v1/messages/count_tokens", body), post(base, "/v1/messages/count_tokens", with_fallback)
    assert a.status_code == b.status_code == 200, b.text
    assert a.json() == b.json() and b.headers["x-tokcount-exact"] == "true"


def test_library_count_says_what_was_left_out() -> None:
    req = openai_responses.parse({"input": [{"role": "user", "content": "Hi"},
                                            {"type": "web_search_call", "id": "ws", "status": "completed"}]},
                                 SETTINGS).request
    assert req is not None
    counted = local_count("qwen3.5", req)
    alone = local_count("qwen3.5", openai_responses.parse({"input": "Hi"}, SETTINGS).request or req)
    assert counted.input_tokens == alone.input_tokens and alone.exact
    assert not counted.exact and any("web_search_call" in n for n in counted.notes)


# ------------------------------------------------------------------ upstream passthrough
def test_a_translated_passthrough_count_keeps_the_label() -> None:
    """Forwarded in the caller's own shape, the provider counts the hosted tool itself: exact. Translated from the
    canonical request (which left it out), the provider's number lacks it: labelled not exact, with the note."""
    body = {"model": "gpt-4o", "input": "Find the news.", "tools": [{"type": "web_search"}]}
    req = openai_responses.parse(body, SETTINGS).request
    assert req is not None
    spec = resolve("gpt-4o")
    stand_in = StandIn()
    stand_in.reply = (200, {"object": "response.input_tokens", "input_tokens": 321}, 0.0)
    upstream = Passthrough([Upstream("openai", stand_in.url, "sk-test")])
    try:
        native = upstream.count(spec, req, lambda: local_count(spec, req), origin=Origin("openai-responses", body))
        translated = upstream.count(spec, req, lambda: local_count(spec, req), origin=Origin("gemini", {}))
    finally:
        upstream.close()
        stand_in.close()
    assert (native.input_tokens, native.exact) == (321, True)
    assert stand_in.requests[0]["body"]["tools"] == [{"type": "web_search"}]  # the caller's body, as sent
    assert (translated.input_tokens, translated.exact) == (321, False)
    assert "tools" not in stand_in.requests[1]["body"] and any("web_search" in n for n in translated.notes)


# ------------------------------------------------------------------ fit
def test_fit_keeps_a_single_object_function_response_with_its_call() -> None:
    """``/v1/fit`` cuts at turn starts; a user Content whose ``parts`` is one functionResponse object is a tool
    result, not a turn start, as it is when the parts are a list (else the call could be dropped, its response
    kept: a body Google refuses)."""
    contents: list[dict[str, Any]] = []
    for i in range(5):
        contents.append({"role": "user", "parts": {"text": f"turn {i} " * 30}})
        contents.append({"role": "model", "parts": {"functionCall": {"name": "lookup", "args": {"q": str(i)}}}})
        contents.append({"role": "user", "parts": {"functionResponse": {"name": "lookup",
                                                                         "response": {"r": "x " * 20}}}})
    for budget in (200, 350, 500, 600):  # each cut an orphaned response before (e.g. 600: [0, 1] dropped)
        out = fit_answer("gemini", {"contents": contents}, SETTINGS, model="gemini-2.5-flash", budget=budget)
        assert out.status == 200, out.body
        kept = out.body["request"]["contents"]
        assert "text" in kept[0]["parts"] and len(kept) % 3 == 0 and 0 < out.body["tokens_after"] <= budget
        assert out.body["dropped"] == list(range(len(contents) - len(kept)))
