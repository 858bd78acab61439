"""Request bodies the providers' own APIs accept beyond their documented schemas (issue 27) parse, each into the
request its documented form gives or with what could not be counted said in ``Request.notes``; what the providers
refuse is still refused, in the route's error shape. Parsing only: no model files (docs/accepted-bodies.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tokcount.dialects import anthropic, gemini, openai_chat, openai_responses
from tokcount.errors import InvalidRequest, SchemaError
from tokcount.request import ImagePart, Request, TextPart, ThinkingPart, ToolCallPart, ToolChoice, ToolResultPart
from tokcount.settings import Settings

#: needs none of ../shared (tests/conftest.py gives it an empty asset directory and cache)
pytestmark = pytest.mark.no_shared

S = Settings()


def gem(body: dict[str, Any]) -> Request:
    req = gemini.parse(body, S, "gemini-2.5-flash").request
    assert req is not None
    return req


def responses(body: dict[str, Any]) -> Request:
    req = openai_responses.parse(body, S).request
    assert req is not None
    return req


def claude(body: dict[str, Any]) -> Request:
    req = anthropic.parse({"model": "claude-sonnet-4-5", **body}, S).request
    assert req is not None
    return req


def kinds(req: Request) -> list[tuple[str, list[str]]]:
    return [(m.role, [type(p).__name__ for p in m.parts]) for m in req.messages]


# ------------------------------------------------------------------ Gemini: Google's JSON parser
PNG = {"mimeType": "image/png", "data": "iVBORw0KGgo="}
FUNCTION = {"name": "get_weather", "description": "Weather", "parameters": {"type": "object"}}


@pytest.mark.parametrize(("single", "listed"), [
    # the case: a widely used client sends systemInstruction.parts as one object; Google answers 200
    ({"systemInstruction": {"parts": {"text": "Be terse."}}, "contents": [{"parts": [{"text": "Hi"}]}]},
     {"systemInstruction": {"parts": [{"text": "Be terse."}]}, "contents": [{"parts": [{"text": "Hi"}]}]}),
    ({"contents": {"role": "user", "parts": {"text": "Hi"}}},
     {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}),
    ({"contents": [{"parts": [{"text": "Hi"}]}], "tools": {"functionDeclarations": FUNCTION}},
     {"contents": [{"parts": [{"text": "Hi"}]}], "tools": [{"functionDeclarations": [FUNCTION]}]}),
    ({"generateContentRequest": {"model": "models/gemini-2.5-flash", "contents": {"parts": {"text": "Hi"}},
                                 "system_instruction": {"parts": {"text": "Be terse."}}}},
     {"generateContentRequest": {"model": "models/gemini-2.5-flash", "contents": [{"parts": [{"text": "Hi"}]}],
                                 "system_instruction": {"parts": [{"text": "Be terse."}]}}}),
    ({"contents": [{"role": "user", "parts": {"functionResponse": {"name": "f", "response": {"a": 1},
                                                                   "parts": {"inlineData": PNG}}}}]},
     {"contents": [{"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"a": 1},
                                                                    "parts": [{"inlineData": PNG}]}}]}]}),
])
def test_gemini_one_object_is_a_list_of_one(single: dict[str, Any], listed: dict[str, Any]) -> None:
    assert gem(single) == gem(listed)


def test_gemini_null_is_unset() -> None:
    """proto3 JSON: null is the field's default, so a null ``text`` beside ``inlineData`` is an image part and null
    lists are empty."""
    req = gem({"contents": [{"parts": [{"text": None, "inlineData": PNG}, {"text": "What is it?"}]}],
               "tools": None, "systemInstruction": {"parts": None}})
    assert kinds(req) == [("system", []), ("user", ["ImagePart", "TextPart"])]
    assert req.tools == [] and req.notes == []


def test_gemini_code_execution_and_server_tool_parts() -> None:
    req = gem({"contents": [
        {"role": "user", "parts": [{"text": "Sum 1 and 1, then search."}]},
        {"role": "model", "parts": [
            {"executableCode": {"language": "PYTHON", "code": "print(1 + 1)"}},
            {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "2\n"}},
            {"toolCall": {"id": "t1", "toolType": "GOOGLE_SEARCH_WEB", "args": {"query": "one plus one"}}},
            {"toolResponse": {"id": "t1", "toolType": "GOOGLE_SEARCH_WEB", "response": {"hits": 3}}}]}]})
    parts = req.messages[1].parts
    assert parts[:2] == [TextPart("print(1 + 1)"), TextPart("2\n")]
    assert parts[2] == ToolCallPart(name="google_search_web", arguments={"query": "one plus one"}, id="t1")
    assert isinstance(parts[3], ToolResultPart) and parts[3].content == '{"hits": 3}'
    assert req.notes == [gemini.NOTE_CODE, gemini.NOTE_SERVER_TOOL]


@pytest.mark.parametrize(("body", "param"), [
    ({"contents": [{"parts": "Hi"}]}, "contents[0].parts"),  # a string for a repeated message field
    ({"contents": [{"parts": [{"thought": True}]}]}, "contents[0].parts[0]"),  # no data field
    ({"contents": [{"parts": [{"functionResponse": {"name": "f", "parts": [{"text": "x"}]}}]}]},
     "contents[0].parts[0].functionResponse.parts[0]"),  # only media in a function response's parts
    ({"contents": [{"parts": {"text": 5}}]}, "contents[0].parts[0].text"),
])
def test_gemini_still_refuses_what_google_refuses(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        gem(body)
    assert info.value.param == param
    status, shape = gemini.error(info.value)
    assert status == 400 and shape["error"]["status"] == "INVALID_ARGUMENT"


# ------------------------------------------------------------------ OpenAI Chat Completions
def test_chat_refusal_part_custom_tools_and_choices() -> None:
    req = openai_chat.parse_request({
        "messages": [
            {"role": "user", "content": "Patch it."},
            {"role": "assistant", "content": [{"type": "refusal", "refusal": "I can't."}]},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "custom", "custom": {"name": "apply_patch", "input": "*** Begin Patch"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "applied"}],
        "tools": [{"type": "custom", "custom": {"name": "apply_patch", "description": "Apply a patch",
                                                "format": {"type": "text"}}}],
        "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": []}}})
    assert req.messages[1].parts == [TextPart("I can't.")]
    assert req.messages[2].parts == [ToolCallPart(name="apply_patch", arguments="*** Begin Patch", id="c1")]
    (tool,) = req.tools
    assert (tool.name, tool.description, tool.parameters, tool.extra) == (
        "apply_patch", "Apply a patch", None, {"format": {"type": "text"}})
    assert req.tool_choice == ToolChoice(mode="required")
    custom = openai_chat.parse_tool_choice({"type": "custom", "custom": {"name": "apply_patch"}}, "tool_choice")
    assert custom == ToolChoice(mode="tool", name="apply_patch")


@pytest.mark.parametrize(("body", "param"), [
    ({"messages": [{"role": "user", "content": [{"type": "refusl", "refusal": "x"}]}]}, "messages[0].content[0].type"),
    ({"messages": [{"role": "assistant", "tool_calls": [{"type": "custom", "custom": {"name": "f"}}]}]},
     "messages[0].tool_calls[0].custom.input"),
    ({"messages": [], "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "sometimes"}}},
     "tool_choice.allowed_tools.mode"),
])
def test_chat_still_refuses(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        openai_chat.parse_request(body)
    assert info.value.param == param


# ------------------------------------------------------------------ OpenAI Responses
def test_responses_custom_tool_items_count_like_function_ones() -> None:
    custom = responses({"input": [
        {"role": "user", "content": "Patch it."},
        {"type": "custom_tool_call", "call_id": "c1", "name": "apply_patch", "input": "*** Begin Patch"},
        {"type": "custom_tool_call_output", "call_id": "c1", "output": "applied"}],
        "tools": [{"type": "custom", "name": "apply_patch", "description": "Apply a patch"}],
        "tool_choice": {"type": "custom", "name": "apply_patch"}})
    assert kinds(custom) == [("user", ["TextPart"]), ("assistant", ["ToolCallPart"]), ("tool", ["ToolResultPart"])]
    assert custom.messages[1].parts == [ToolCallPart(name="apply_patch", arguments="*** Begin Patch", id="c1")]
    assert [t.name for t in custom.tools] == ["apply_patch"] and custom.notes == []
    assert custom.tool_choice == ToolChoice(mode="tool", name="apply_patch")


def test_responses_stored_and_hosted_items_are_left_out_and_said() -> None:
    base = {"role": "user", "content": [{"type": "input_text", "text": "Hi"}]}
    req = responses({"input": [
        base, {"id": "msg_123"}, {"type": "item_reference", "id": "msg_456"},
        {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search", "query": "x"}},
        {"type": "mcp_call", "id": "m1", "server_label": "s", "name": "n", "arguments": "{}"},
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]},
        {"role": "user", "content": [{"type": "input_image", "file_id": "file-abc"}]}],
        "tools": [{"type": "web_search"}, {"type": "mcp", "server_label": "s"},
                  {"type": "namespace", "name": "crm", "description": "CRM tools",
                   "tools": [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}]}],
        "tool_choice": {"type": "web_search_preview"}})
    assert kinds(req) == [("user", ["TextPart"]), ("assistant", ["TextPart"]), ("user", ["ImagePart"])]
    assert req.messages[1].parts == [TextPart("No.")]
    assert req.messages[2].parts == [ImagePart(url="file_id:file-abc")]
    assert [t.name for t in req.tools] == ["lookup"]
    assert req.tool_choice == ToolChoice(mode="auto")
    said = " | ".join(req.notes)
    for kind in ("item_reference", "web_search_call", "mcp_call", "'web_search'", "'mcp'", "namespace"):
        assert kind in said
    assert len(req.notes) == len(set(req.notes)) == 6  # one line per kind, however many items


def test_responses_additional_tools_and_allowed_tools() -> None:
    req = responses({"input": [
        {"role": "user", "content": "Hi"},
        {"type": "additional_tools", "role": "developer", "tools": [{"type": "function", "name": "late"}]}],
        "tools": [{"type": "function", "name": "early"}],
        "tool_choice": {"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "x"}]}})
    assert [t.name for t in req.tools] == ["early", "late"]
    assert req.tool_choice == ToolChoice(mode="required")
    assert req.notes and "additional_tools" in req.notes[0]


@pytest.mark.parametrize(("body", "param"), [
    ({"input": [{"type": "web_search_cal", "id": "x"}]}, "input[0].type"),  # a typo is no hosted item
    ({"input": "Hi", "tools": [{"type": "web_serch"}]}, "tools[0].type"),
    ({"input": [{"type": "custom_tool_call", "call_id": "c", "name": "f"}]}, "input[0].input"),
    ({"input": [{"type": "item_reference"}]}, "input[0].id"),
    ({"input": [{"id": "msg_1"}]}, "input"),  # nothing left to count: said, not counted as empty
])
def test_responses_still_refuses(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        responses(body)
    assert info.value.param == param
    status, shape = openai_responses.error(info.value)
    assert status == 400 and shape["error"]["param"] == param


# ------------------------------------------------------------------ Anthropic Messages
def test_anthropic_document_content_string_is_its_text() -> None:
    as_string = claude({"messages": [{"role": "user", "content": [
        {"type": "document", "source": {"type": "content", "content": "Chapter one."}, "title": "Book"}]}]})
    as_blocks = claude({"messages": [{"role": "user", "content": [
        {"type": "document", "source": {"type": "content", "content": [{"type": "text", "text": "Chapter one."}]},
         "title": "Book"}]}]})
    assert as_string == as_blocks


def test_anthropic_newer_blocks() -> None:
    req = claude({"messages": [
        {"role": "user", "content": [{"type": "compaction", "content": "Earlier: the user asked for X."},
                                     {"type": "text", "text": "Go on."}]},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "Hm.", "signature": "s"},
            {"type": "fallback", "from": {"model": "a"}, "to": {"model": "b"}},
            {"type": "tool_use", "id": "t1", "name": "browser", "input": {"action": "screenshot"}},
            {"type": "mcp_tool_listing", "mcp_server_name": "docs", "tools": [{"name": "q", "input_schema": {}}]}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": [
                {"type": "text", "text": "done"},
                {"type": "browser_state", "tabs": [{"tab_id": "1", "title": "Home", "url": "https://a.example",
                                                    "active": True}]}]},
            {"type": "tool_addition", "tool": {"type": "tool_reference", "name": "late"}},
            {"type": "advisor_tool_result", "tool_use_id": "a1",
             "content": {"type": "advisor_result", "text": "ok"}}]}],
        "thinking": {"type": "between_tools"}})
    assert kinds(req) == [("user", ["TextPart", "TextPart"]),
                          ("assistant", ["ThinkingPart", "ToolCallPart", "TextPart"]),  # fallback: not rendered
                          ("user", ["ToolResultPart", "TextPart", "TextPart"])]
    assert req.messages[0].parts[0] == TextPart("Earlier: the user asked for X.")
    assert req.messages[1].parts[0] == ThinkingPart("Hm.")
    result = req.messages[2].parts[0]
    assert isinstance(result, ToolResultPart) and isinstance(result.content, list)
    assert '"tab_id": "1"' in result.text and result.text.startswith("done\n")
    assert req.thinking is True
    assert {n.split(" ")[0] for n in req.notes} == {"compaction", "mcp_tool_listing", "browser_state",
                                                     "tool_addition", "advisor_tool_result"}


def test_anthropic_toolsets() -> None:
    req = claude({"messages": [{"role": "user", "content": "Hi"}], "tools": [
        {"type": "browser_toolset_20260801"},
        {"type": "mcp_toolset", "mcp_server_name": "docs",
         "tools": [{"name": "search_docs", "description": "Search", "input_schema": {"type": "object"}}]},
        {"type": "mcp_toolset", "mcp_server_name": "live"},
        {"name": "get_weather", "input_schema": {"type": "object"}}]})
    assert [(t.name, t.description, t.parameters) for t in req.tools] == [
        ("browser", None, None), ("search_docs", "Search", {"type": "object"}), ("get_weather", None,
                                                                                {"type": "object"})]
    assert any("'live'" in n for n in req.notes) and any(n.startswith("browser_toolset") for n in req.notes)


@pytest.mark.parametrize(("body", "param"), [
    ({"messages": [{"role": "user", "content": [{"type": "falback"}]}]}, "messages[0].content[0].type"),
    ({"messages": [{"role": "user", "content": "Hi"}], "tools": [{"input_schema": {}}]}, "tools[0].name"),
    ({"messages": [{"role": "user", "content": "Hi"}], "tools": [{"type": "mcp_toolset"}]},
     "tools[0].mcp_server_name"),
    ({"messages": [{"role": "user", "content": "Hi"}], "thinking": {"type": "sometimes"}}, "thinking.type"),
])
def test_anthropic_still_refuses(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        claude(body)
    assert info.value.param == param
    status, shape = anthropic.error(SchemaError.of(info.value))  # as the route answers it (tokcount.jobs)
    assert status == 422 and shape["error"]["type"] == "invalid_request_error"


# ------------------------------------------------------------------ a type that is not a string
@pytest.mark.parametrize("bad", [{}, [], 3])
@pytest.mark.parametrize(("parse", "body", "param"), [
    (responses, {"input": [{"type": "BAD"}]}, "input[0].type"),
    (responses, {"input": "Hi", "tools": [{"type": "BAD"}]}, "tools[0].type"),
    (responses, {"input": "Hi", "tool_choice": {"type": "BAD"}}, "tool_choice.type"),
    (claude, {"messages": [{"role": "user", "content": [{"type": "BAD"}]}]}, "messages[0].content[0].type"),
    (claude, {"messages": [{"role": "user", "content": "Hi"}], "tools": [{"type": "BAD", "name": "x"}]},
     "tools[0].type"),
])
def test_a_type_field_of_another_json_type_is_a_400(parse: Any, body: dict[str, Any], param: str, bad: Any) -> None:
    """The new kinds are looked up in sets and tables; an unhashable ``type`` must be refused before that, by name
    (it was a TypeError, a 500, for a list or an object)."""
    body = json.loads(json.dumps(body).replace('"BAD"', json.dumps(bad)))
    with pytest.raises(InvalidRequest) as info:
        parse(body)
    assert info.value.param == param and "must be a string" in info.value.message


@pytest.mark.parametrize("part", [
    {"functionCall": {"name": "f", "id": [1]}}, {"functionResponse": {"name": "f", "id": {"a": 1}}},
    {"toolCall": {"toolType": "URL_CONTEXT", "id": [None]}}, {"toolResponse": {"toolType": "URL_CONTEXT", "id": 7}},
])
def test_a_gemini_call_id_must_be_a_string(part: dict[str, Any]) -> None:
    """Renderers pair calls and responses by id (a dict key): a list there was a 500 (schemathesis found it on the
    new toolCall part; functionCall had the same hole)."""
    with pytest.raises(InvalidRequest) as info:
        gem({"contents": [{"role": "model", "parts": [part]}]})
    assert info.value.param == f"contents[0].parts[0].{next(iter(part))}.id"
