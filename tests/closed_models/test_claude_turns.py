"""Claude turns as the Messages API bills them: tool results stay in their user turn (only open-model renderers
split them into ``tool`` messages), ``role: "system"`` between turns is accepted, thinking kinds and the per-family
rules table resolve for every catalog entry."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

import tokcount
from support.serverkit import running_server
from support.shared import SHARED
from tokcount.dialects import anthropic
from tokcount.errors import InvalidRequest, TokcountError
from tokcount.models.catalog import default_catalog
from tokcount.request import Message, Request, TextPart, ToolCallPart, ToolResultPart
from tokcount.settings import Settings
from tokcount.templates.framings import anthropic as claude
from tokcount.templates.prepare import split_tool_results
from tokcount.tokenizers.openai_bpe import encoder

TOOLS = [{"name": "get_weather", "description": "Weather of a city.",
          "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
CONVERSATION = {
    "model": "claude-sonnet-4-5",
    "tools": TOOLS,
    "messages": [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Checking both."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C, sunny"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": [{"type": "text", "text": "21C, clear"}]},
            {"type": "text", "text": "And tomorrow?"}]},
    ],
}


def parse(body: dict) -> Request:
    return anthropic.parse(body, Settings()).request


def test_dialect_keeps_tool_results_in_their_user_turn() -> None:
    req = parse(CONVERSATION)
    assert [m.role for m in req.messages] == ["user", "assistant", "user"]
    last = req.messages[-1].parts
    assert [type(p) for p in last] == [ToolResultPart, ToolResultPart, TextPart]
    assert [p.tool_call_id for p in last if isinstance(p, ToolResultPart)] == ["toolu_1", "toolu_2"]


def test_open_models_still_see_tool_messages_before_the_rest_of_the_turn() -> None:
    split = split_tool_results(parse(CONVERSATION).messages)
    assert [m.role for m in split] == ["user", "assistant", "tool", "tool", "user"]
    assert split[2].content_is_list is False and split[3].content_is_list is True
    assert split[4].parts == [TextPart("And tomorrow?")]
    only_results = Message(role="user", parts=[ToolResultPart(content="ok", tool_call_id="t")], content_is_list=True)
    assert [m.role for m in split_tool_results([only_results])] == ["tool"]  # nothing else left: no user message


def test_claude_counts_tool_results_as_one_user_turn() -> None:
    """The same conversation given unsplit (the API's shape), split into tool messages (an OpenAI-style caller)
    or with the results in their own user turn counts alike: one turn, one marker."""
    unsplit = parse(CONVERSATION)
    split = Request(messages=split_tool_results(unsplit.messages), tools=unsplit.tools)
    a = tokcount.count("claude-sonnet-4-5", unsplit)
    b = tokcount.count("claude-sonnet-4-5", split)
    assert a.input_tokens == b.input_tokens
    assert len(a.breakdown["messages"]) == 3  # user, assistant, user: the results are not turns of their own
    rules = claude.model_of(default_catalog().resolve("claude-sonnet-4-5"))
    assert a.breakdown["template"] == rules.base + 4 * rules.per_marker  # 3 turns + the "Assistant:" prompt


def test_tool_results_add_their_content_and_a_constant_not_a_turn() -> None:
    body = json.loads(json.dumps(CONVERSATION))
    body["messages"][2]["content"] = [{"type": "text", "text": "And tomorrow?"}]
    without = tokcount.count("claude-sonnet-4", parse(body))
    with_results = tokcount.count("claude-sonnet-4", parse(CONVERSATION))
    assert with_results.breakdown["template"] == without.breakdown["template"]
    rules = claude.model_of(default_catalog().resolve("claude-sonnet-4"))
    results = [p for p in parse(CONVERSATION).messages[2].parts if isinstance(p, ToolResultPart)]
    text = claude.TextCounter(rules)  # ctok where it is installed, else the proxy: the constants go with it
    rendered = sum(text(claude.tool_result_text(p)) for p in results)
    added = with_results.breakdown["messages"][2] - without.breakdown["messages"][2]
    assert abs(added - (rendered + 2 * rules.per_result)) <= 1


def test_parallel_calls_share_one_function_calls_block() -> None:
    calls = [ToolCallPart(name="f", arguments={"a": "x", "n": 2}), ToolCallPart(name="g", arguments={})]
    text = claude.tool_calls_text(calls)
    assert text.count("<function_calls>") == 1 and text.count("<invoke ") == 2
    assert '<parameter name="a">x</parameter>' in text and '<parameter name="n">2</parameter>' in text


def test_system_role_between_turns_is_accepted() -> None:
    body = {"model": "claude-sonnet-4-5", "messages": [
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."},
        {"role": "system", "content": [{"type": "text", "text": "Answer in French from now on."}]},
        {"role": "user", "content": "How are you?"}]}
    req = parse(body)
    assert [m.role for m in req.messages] == ["user", "assistant", "system", "user"]
    assert req.messages[2].text() == "Answer in French from now on."
    with_system = tokcount.count("claude-sonnet-4-5", req).input_tokens
    body["messages"].pop(2)
    assert with_system > tokcount.count("claude-sonnet-4-5", parse(body)).input_tokens
    with pytest.raises(InvalidRequest, match=r"messages\[0\]\.role"):
        parse({"model": "x", "messages": [{"role": "robot", "content": "Hi"}]})


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with running_server(Settings(default_model="qwen3.5")) as url:
        yield url


def test_route_counts_a_mid_conversation_system_message(base: str) -> None:
    body = {"model": "claude-sonnet-4-5-20250929", "messages": [
        {"role": "user", "content": "Hi"}, {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello?"}]}
    r = httpx.post(base + "/v1/messages/count_tokens", json=body, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["input_tokens"] == tokcount.count("claude-sonnet-4-5", parse(body)).input_tokens


def test_adaptive_thinking_is_billed_apart_from_enabled() -> None:
    msgs = [{"role": "user", "content": "Two names for a pet pelican, be brief"}]
    req = parse({"model": "claude-opus-4-6", "messages": msgs, "thinking": {"type": "adaptive"}})
    assert req.thinking is True and req.thinking_kind == "adaptive"
    spec = default_catalog().resolve("claude-opus-4-6")
    rules = claude.family_rules("claude-4-6", ctok=claude.tokenizer_of(spec) is not None)
    off = tokcount.count("claude-opus-4-6", parse({"model": "m", "messages": msgs})).input_tokens
    adaptive = tokcount.count("claude-opus-4-6", req).input_tokens
    enabled = tokcount.count("claude-opus-4-6", parse({"model": "m", "messages": msgs, "thinking": {
        "type": "enabled", "budget_tokens": 1024}})).input_tokens
    assert (adaptive - off, enabled - off) == (rules["thinking_adaptive"], rules["thinking"])


def test_text_is_cut_at_newlines_before_the_proxy_counts_it() -> None:
    enc = encoder("o200k_base")
    text = 'Done!\n\n{\n  "a": 1\n}'
    assert claude.proxy_tokens(text) == sum(enc.count(p) for p in ["Done!", "\n\n", "{", "\n", '  "a": 1', "\n", "}"])
    assert claude.proxy_tokens("no newline here") == enc.count("no newline here")


def test_every_claude_entry_names_a_complete_rules_family() -> None:
    keys = set(claude.family_rules("claude-4"))
    specs = [s for s in default_catalog().models.values() if s.renderer == "anthropic"]
    assert len(specs) >= 14
    for spec in specs:
        family = spec.extra.get("claude_rules")
        assert family in claude.rules_table(), spec.id
        assert set(claude.family_rules(family)) >= keys - {"text_scale"}, spec.id
        claude.model_of(spec)  # every constant is readable
    assert claude.model_of(default_catalog().resolve("claude-opus-4-8")).text_scale == 1.3
    assert claude.model_of(default_catalog().resolve("claude-haiku-4-5-20251001")).family == "claude-4-5"
    with pytest.raises(KeyError, match="unknown Claude rules family"):
        claude.family_rules("claude-0")


def test_no_recorded_request_the_api_accepted_is_refused() -> None:
    path = SHARED / "calibration" / "anthropic.jsonl"
    if not path.is_file():
        pytest.skip(f"no calibration set at {path}")
    refused = []
    for line in path.read_text(encoding="utf-8").splitlines():
        case = json.loads(line)
        try:
            tokcount.count(case["model"], parse(case["request"]), breakdown=False)
        except TokcountError as exc:
            refused.append((case["id"], str(exc)))
    assert not refused


def test_server_tool_blocks_of_a_replayed_conversation_are_accepted() -> None:
    """A web-search conversation sent back as the API returned it: server_tool_use, web_search_tool_result and a
    search_result in a tool result all parse and count; an unknown block type is still a named 4xx."""
    body = {"model": "claude-sonnet-4-5", "tools": [{"type": "web_search_20250305", "name": "web_search"}],
            "messages": [
                {"role": "user", "content": "Latest Python release?"},
                {"role": "assistant", "content": [
                    {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search",
                     "input": {"query": "latest Python release"}},
                    {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": [
                        {"type": "web_search_result", "url": "https://www.python.org/downloads/",
                         "title": "Download Python", "encrypted_content": "EqoBCkgIARABGAIiQF", "page_age": None}]},
                    {"type": "text", "text": "Python 3.14 is the latest release."}]},
                {"role": "user", "content": [
                    {"type": "search_result", "source": "https://docs.python.org", "title": "What's new",
                     "content": [{"type": "text", "text": "Python 3.14 adds template strings."}]},
                    {"type": "text", "text": "Summarise that."}]}]}
    req = parse(body)
    call = req.messages[1].parts[0]
    assert isinstance(call, ToolCallPart) and call.arguments == {"query": "latest Python release"}
    assert "Download Python" in req.messages[1].parts[1].text
    assert req.messages[2].parts[0].text == "What's new\nhttps://docs.python.org\nPython 3.14 adds template strings."
    assert tokcount.count("claude-sonnet-4-5", req).input_tokens > 0
    body["messages"][2]["content"][0] = {"type": "hologram", "data": "x"}
    with pytest.raises(InvalidRequest, match=r"messages\[2\]\.content\[0\]\.type 'hologram'"):
        parse(body)
    body["messages"][2]["content"][0] = {"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}}
    with pytest.raises(InvalidRequest, match="assistant"):
        parse(body)


def test_openai_models_still_bill_anthropic_tool_results_as_tool_messages() -> None:
    """The Anthropic route counting for gpt-4o: OpenAI's format knows tool results only as tool messages, so the
    framing splits the user turn as the open-model renderers do (the count the route gave before)."""
    unsplit = parse({**CONVERSATION, "model": "gpt-4o"})
    split = Request(messages=split_tool_results(unsplit.messages), tools=unsplit.tools)
    assert tokcount.count("gpt-4o", unsplit).input_tokens == tokcount.count("gpt-4o", split).input_tokens


def test_thinking_of_a_tool_use_loop_counts() -> None:
    """A user turn of tool results only continues the assistant's turn, so the thinking before its tool call is
    the current turn's and counts (simonw/llm-anthropic's Haiku 4.5 recording: 707 with it, ~50 less without);
    once the user says something new, that thinking is a previous turn's and is stripped."""
    thinking = {"type": "thinking", "thinking": "The user wants the version: call fixed_version first.",
                "signature": "EoQDCm0IDhgC"}
    call = {"type": "tool_use", "id": "toolu_1", "name": "fixed_version", "input": {}}
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "0.32a0"}
    tools = [{"name": "fixed_version", "description": "The version.", "input_schema": {"type": "object"}}]

    def count(assistant: list, last: list) -> int:
        body = {"model": "m", "tools": tools, "thinking": {"type": "enabled", "budget_tokens": 1024}, "messages": [
            {"role": "user", "content": "Use the tool."}, {"role": "assistant", "content": assistant},
            {"role": "user", "content": last}]}
        return tokcount.count("claude-haiku-4-5", parse(body)).input_tokens

    model = claude.model_of(default_catalog().resolve("claude-haiku-4-5"))
    cost = claude.TextCounter(model)(thinking["thinking"])
    assert abs(count([thinking, call], [result]) - count([call], [result]) - cost) <= 1
    later = [result, {"type": "text", "text": "Now a joke about it."}]
    assert count([thinking, call], later) == count([call], later)
