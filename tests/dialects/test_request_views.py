"""The neutral request's derived views: each tool call's arguments as text, value and template object, and each
tool result's text, derived once on the part and read by every renderer (no renderer reconciles them itself).

These run on the dialects' parsers and the Jinja preparation step alone: no tokenizer file is needed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tokcount.dialects import anthropic, openai_chat
from tokcount.errors import InvalidRequest
from tokcount.request import ImagePart, Message, TextPart, ToolCallPart, ToolResultPart
from tokcount.settings import Settings
from tokcount.templates.framings.anthropic import tool_result_text
from tokcount.templates.prepare import split_tool_results, template_message

#: needs none of ../shared (tests/conftest.py gives it an empty asset directory and cache)
pytestmark = pytest.mark.no_shared


def _chat_call(arguments: Any) -> ToolCallPart:
    """The tool call an OpenAI chat body with these ``arguments`` parses into."""
    function: dict[str, Any] = {"name": "lookup"}
    if arguments is not None:
        function["arguments"] = arguments
    body = {"messages": [{"role": "user", "content": "hi"},
                         {"role": "assistant", "content": None,
                          "tool_calls": [{"id": "c1", "type": "function", "function": function}]}]}
    call = openai_chat.parse_request(body).messages[1].parts[0]
    assert isinstance(call, ToolCallPart)
    return call


def test_json_object_text_keeps_its_spelling_and_gives_templates_the_object() -> None:
    sent = '{ "city" :"Zürich",  "days": 3 }'
    call = _chat_call(sent)
    assert call.arguments_text == sent  # printed exactly as the caller wrote it, spacing and all
    assert call.arguments_object == {"city": "Zürich", "days": 3}
    assert call.arguments_value == {"city": "Zürich", "days": 3}


def test_json_that_is_not_an_object_reaches_templates_as_text() -> None:
    call = _chat_call("[1, 2]")
    assert call.arguments_object == "[1, 2]"  # vLLM parses only objects; templates get the string
    assert call.arguments_value == [1, 2]  # the closed framings re-serialize the parsed value
    assert call.arguments_text == "[1, 2]"


def test_unparseable_text_is_every_view() -> None:
    call = _chat_call("{not json")
    assert call.arguments_text == call.arguments_object == call.arguments_value == "{not json"


def test_absent_arguments_are_an_empty_object() -> None:
    call = _chat_call(None)
    assert call.arguments_object == {} and call.arguments_text == "{}"


def test_arguments_of_the_wrong_type_are_a_400_naming_the_field() -> None:
    with pytest.raises(InvalidRequest) as err:
        _chat_call(42)
    assert err.value.status == 400
    assert err.value.param == "messages[1].tool_calls[0].function.arguments"


def test_an_object_prints_as_vllm_prints_it() -> None:
    body = {"model": "claude-sonnet-4-5", "messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "w",
                                           "input": {"city": "Zürich", "n": [1, 2]}}]}]}
    call = anthropic.parse(body, Settings()).request.messages[1].parts[0]
    assert isinstance(call, ToolCallPart)
    assert call.arguments_text == json.dumps({"city": "Zürich", "n": [1, 2]}, ensure_ascii=False)
    assert "Zürich" in call.arguments_text  # not \\u-escaped
    assert call.arguments_object is call.arguments_value is call.arguments


def test_views_follow_a_copy_with_new_arguments() -> None:
    """The views are derived at construction, so ``dataclasses.replace`` gets fresh ones, never stale ones."""
    from dataclasses import replace

    call = replace(ToolCallPart(name="f", arguments='{"a": 1}'), arguments={"b": 2})
    assert call.arguments_text == '{"b": 2}' and call.arguments_object == {"b": 2}


def test_the_jinja_preparation_takes_the_view_the_template_wants() -> None:
    call = _chat_call('{"q":  "x"}')
    msg = Message(role="assistant", parts=[call])
    as_object = template_message(msg, iterates=False, args_as_string=False)["tool_calls"][0]["function"]
    as_string = template_message(msg, iterates=False, args_as_string=True)["tool_calls"][0]["function"]
    assert as_object["arguments"] == {"q": "x"}
    assert as_string["arguments"] == '{"q":  "x"}'


def test_tool_result_text_joins_text_parts_with_newlines_and_skips_media() -> None:
    result = ToolResultPart(content=[TextPart("first"), ImagePart(url="data:image/png;base64,AA"), TextPart("2nd")])
    assert result.texts == ["first", "2nd"]
    assert result.text == "first\n2nd"
    assert ToolResultPart(content="plain").text == "plain"
    assert tool_result_text(result) == "<function_results>\n<result>\nfirst\n2nd\n</result>\n</function_results>"


def test_anthropic_tool_results_stay_in_the_user_turn_until_the_jinja_step_splits_them() -> None:
    body = {"model": "claude-sonnet-4-5", "messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "w", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
                                      "content": [{"type": "text", "text": "sunny"}]},
                                     {"type": "text", "text": "and now?"}]}]}
    turns = anthropic.parse(body, Settings()).request.messages
    assert [m.role for m in turns] == ["user", "assistant", "user"]
    split = split_tool_results(turns)
    assert [m.role for m in split] == ["user", "assistant", "tool", "user"]
    result = split[2].parts[0]
    assert isinstance(result, ToolResultPart) and result.text == "sunny" and result.tool_call_id == "t1"
    assert split[3].text() == "and now?"


def test_tool_choice_flags_are_still_checked_though_not_kept() -> None:
    body = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "x"}],
            "tool_choice": {"type": "auto", "disable_parallel_tool_use": "yes"}}
    with pytest.raises(InvalidRequest) as err:
        anthropic.parse(body, Settings())
    assert err.value.param == "tool_choice.disable_parallel_tool_use"
