"""Issue 23 item 6: every estimated closed-model count says how good it is — the error measured on held-out
recordings of its slice — in the library's Count, the CLI, the ``x-tokcount-estimate-error`` header of every route,
and the body where the route's shape has room (Bifrost's ``extra_fields``); exact counts carry none."""

from __future__ import annotations

import io
import json
import re

import anthropic
import httpx
import pytest
from google import genai
from google.genai import types

from support.serverkit import running_server
from support.shared import SHARED
from tokcount import count, estimate_error
from tokcount.cli import main as cli_main
from tokcount.request import Request
from tokcount.settings import Settings
from tokcount.slices import SLICES, slice_of

HEADER = re.compile(r"^p90=\d+\.\d%; median=\d+\.\d%; within10=\d+\.\d%; n=\d+; slice=[a-z0-9.*/-]+$")
TOOL = {"name": "get_weather", "description": "Weather of a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
CLAUDE_TOOLS = {"model": "claude-sonnet-4-20250514", "tools": [TOOL],
                "messages": [{"role": "user", "content": "Weather in Paris?"}]}
OAI_TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}


def chat(**extra: object) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": "Hello"}], **extra}


@pytest.mark.parametrize(("body", "api", "expected"), [
    (chat(), None, "text"),
    ({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]}, None, "system"),
    (chat(tools=[OAI_TOOL]), None, "tools"),
    ({"messages": [{"role": "user", "content": "Hi"},
                   {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                                                         "function": {"name": "f", "arguments": "{}"}}]},
                   {"role": "tool", "tool_call_id": "c1", "content": "ok"}], "tools": [OAI_TOOL]}, None, "tool-calls"),
    ({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}], "tools": [OAI_TOOL]},
     None, "image"),
    (chat(), "responses", "responses-text"),
])
def test_slice_of_the_canonical_request(body: dict, api: str | None, expected: str) -> None:
    from tokcount.count import as_request

    req: Request = as_request(body)
    req.api = api
    assert slice_of(req) == expected and expected.removeprefix("responses-") in SLICES


def test_slice_of_thinking_and_documents() -> None:
    from tokcount.dialects import anthropic as dialect

    thinking = dialect.parse({"model": "claude-sonnet-4-5", "max_tokens": 2048, "thinking": {
        "type": "enabled", "budget_tokens": 1024}, "messages": [{"role": "user", "content": "Hi"}]},
        Settings()).request
    assert slice_of(thinking) == "thinking"
    doc = dialect.parse({"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": [
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "A short note."}},
        {"type": "text", "text": "Summarise"}]}]}, Settings()).request
    assert slice_of(doc) == "document"


def test_groups_fall_back_to_wider_ones_when_small() -> None:
    rows = [(("anthropic", "claude-4", "tools"), e) for e in (0.0, 0.01, 0.02, 0.03, 0.2)]
    rows += [(("anthropic", "claude-4-5", "tools"), 0.05), (("anthropic", "claude-4", "image"), 0.1)]
    table = estimate_error.groups(rows)
    assert set(table) == {"anthropic/claude-4/tools", "anthropic/*/tools", "anthropic"}
    own = table["anthropic/claude-4/tools"]
    assert (own.n, own.median, own.p90, own.within10) == (5, 0.02, 0.2, 0.8)
    assert table["anthropic"].n == 7
    text = estimate_error.toml_text(table, "cmd")
    import tomllib

    parsed = tomllib.loads(text)["group"]
    assert parsed["anthropic/*/tools"] == {"n": 6, "median": 0.02, "p90": 0.2, "within10": round(5 / 6, 4)}


def test_library_count_carries_its_slice_error() -> None:
    claude = count("claude-sonnet-4-20250514", chat(tools=[OAI_TOOL]), breakdown=False)
    assert not claude.exact and claude.estimate_error is not None
    assert claude.estimate_error.group.startswith("anthropic/claude-4/") or claude.estimate_error.group in (
        "anthropic/*/tools", "anthropic")
    assert claude.to_dict()["estimate_error"]["slice"] == claude.estimate_error.group
    assert HEADER.match(claude.estimate_error.header())
    exact = count("gpt-4o", chat(), breakdown=False)  # OpenAI text: exact, nothing to qualify
    assert exact.exact and exact.estimate_error is None and "estimate_error" not in exact.to_dict()
    qwen = count("qwen3.5", chat(), breakdown=False)  # an open model: its own tokenizer, no API measured
    assert qwen.estimate_error is None


def test_every_estimated_calibration_case_finds_its_group() -> None:
    """The runner keys its table with the service's own function: every estimate of the calibration set (a
    sample of each provider) finds a measured group of its provider."""
    from bench import calibrate

    directory = SHARED / "calibration"
    if not directory.is_dir():
        pytest.skip("no calibration set")
    seen = 0
    for provider, case in calibrate.load_cases(directory):
        if seen > 120:
            break
        model, request = calibrate.parse_case(case)
        result = count(model, request, breakdown=False)
        if result.exact:
            continue
        seen += 1
        assert result.estimate_error is not None, case["id"]
        assert result.estimate_error.group.split("/")[0] == provider, case["id"]
    assert seen


def test_cli_prints_the_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(chat())))
    assert cli_main(["count", "--model", "claude-sonnet-4-20250514"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["exact"] is False and body["estimate_error"]["n"] > 0


@pytest.fixture(scope="module")
def url() -> str:
    with running_server(Settings(default_model="qwen3.5")) as base:
        yield base


def test_anthropic_route_header_and_sdk(url: str) -> None:
    r = httpx.post(f"{url}/v1/messages/count_tokens", json=CLAUDE_TOOLS, timeout=120)
    assert r.status_code == 200 and set(r.json()) == {"input_tokens"}  # the body keeps Anthropic's shape
    value = r.headers["x-tokcount-estimate-error"]
    assert HEADER.match(value) and value.endswith("slice=anthropic/claude-4/tools")
    client = anthropic.Anthropic(base_url=url, api_key="k", max_retries=0, timeout=120)
    raw = client.messages.with_raw_response.count_tokens(**CLAUDE_TOOLS)
    assert raw.parse().input_tokens == r.json()["input_tokens"]
    assert raw.headers["x-tokcount-estimate-error"] == value


def test_gemini_route_header_and_sdk(url: str) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "Weather in Paris?"}]}],
            "tools": [{"functionDeclarations": [{"name": "get_weather", "parameters": {
                "type": "OBJECT", "properties": {"city": {"type": "STRING"}}}}]}]}
    r = httpx.post(f"{url}/v1beta/models/gemini-2.5-flash:countTokens", json=body, timeout=120)
    assert r.status_code == 200 and "estimate_error" not in r.json()
    assert r.headers["x-tokcount-estimate-error"].endswith("slice=gemini/gemini-2.5/tools")
    client = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=url, api_version="v1beta"))
    got = client.models.count_tokens(model="gemini-2.5-flash", contents="Hello")  # text: exact on 2.5
    assert got.total_tokens and "x-tokcount-estimate-error" not in (got.sdk_http_response.headers or {})
    sys_got = client.models.count_tokens(
        model="gemini-2.0-flash", contents=[types.Content(role="user", parts=[types.Part(text="Hi"), types.Part(
            function_call=types.FunctionCall(name="f", args={"a": 1}))])])
    headers = sys_got.sdk_http_response.headers or {}
    assert HEADER.match(headers["x-tokcount-estimate-error"])


def test_exact_answers_carry_no_error(url: str) -> None:
    r = httpx.post(f"{url}/v1/responses/input_tokens", json={"model": "gpt-4o", "input": "Hello"}, timeout=120)
    assert r.status_code == 200 and r.headers["x-tokcount-exact"] == "true"
    assert "x-tokcount-estimate-error" not in r.headers


def test_bifrost_body_has_room(url: str) -> None:
    r = httpx.post(f"{url}/v1/count_tokens", json={"model": "anthropic/claude-sonnet-4-20250514",
                                                  "input": [{"role": "user", "content": "Hi"}]}, timeout=120)
    assert r.status_code == 200, r.text
    extra = r.json()["extra_fields"]
    assert extra["estimate_error"]["slice"] == r.headers["x-tokcount-estimate-error"].rsplit("slice=", 1)[1]


def test_gemini_library_handler_says_it_too() -> None:
    """The Gemini route's answer outside the server (``jobs.answer``, as the CLI gives it) sends the same header."""
    from support.gemini_route import handle_full

    body = {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
            "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "OBJECT", "properties": {}}}]}]}
    status, _, headers = handle_full("gemini-2.5-flash", body)
    assert status == 200 and headers["x-tokcount-exact"] == "false"
    assert headers["x-tokcount-estimate-error"].endswith("slice=gemini/gemini-2.5/tools")
    _, _, exact = handle_full("gemini-2.5-flash", {"contents": "Hi"})
    assert "x-tokcount-estimate-error" not in exact
