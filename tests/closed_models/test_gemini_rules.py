"""Gemini's measured rules: one token per Content, past-turn thoughts and signatures, FunctionGemma tool rendering.

The numbers asserted here are the API's own counts from the calibration recordings (``../shared/calibration``,
sources named per case) or follow from the documented FunctionGemma serialisation; the whole set is re-measured
by ``python -m bench.calibrate --provider gemini`` (tests/closed_models/test_calibration.py pins the exact cases).
"""

from __future__ import annotations

import base64
import json

import pytest

from support.shared import SHARED
from tokcount.count import count
from tokcount.dialects import gemini
from tokcount.models.catalog import default_catalog
from tokcount.templates.framings import gemini_tools
from tokcount.templates.framings.gemini import _signature_payload

CASES = {json.loads(line)["id"]: json.loads(line)
         for line in (SHARED / "calibration" / "gemini.jsonl").read_text(encoding="utf-8").splitlines() if line}


def _total(model: str, body: dict) -> int:
    status, out = gemini.handle(model, body)
    assert status == 200, out
    return out["totalTokens"]


def test_one_token_per_content_on_25_none_on_20() -> None:
    turns = {"contents": [{"role": "user", "parts": [{"text": "Who created you?"}]},
                          {"role": "model", "parts": [{"text": "I was created by Anthropic."}]},
                          {"role": "user", "parts": [{"text": "Can you double-check that?"}]}]}
    assert _total("gemini-2.5-flash", turns) == _total("gemini-2.0-flash", turns) + 3
    assert _total("gemini-2.5-flash", turns) == 21  # gemini-234: Mirascope cassette, usageMetadata 21


def test_system_instruction_is_one_more_content() -> None:
    base = {"contents": [{"role": "user", "parts": [{"text": "Find out the secret and report back."}]}]}
    with_system = {"generateContentRequest": {**base, "systemInstruction": {
        "parts": [{"text": "Respond with a single word: the passphrase."}]}}}
    assert _total("gemini-2.5-flash", with_system) == 19  # gemini-226
    _, _, headers = gemini.handle_full("gemini-2.5-flash", with_system)
    assert headers["x-tokcount-exact"] == "true" and "content+1" in headers["x-tokcount-method"]


def test_empty_text_still_costs_its_content() -> None:
    assert _total("gemini-2.5-flash", {"contents": [{"role": "user", "parts": [{"text": ""}]}]}) == 1  # gemini-223


def test_past_thoughts_are_counted() -> None:
    case = CASES["gemini-248"]  # four thought summaries in the model turn: the API counted them (365)
    assert _total(case["model"], case["request"]) == case["expected"]
    without = json.loads(json.dumps(case["request"]))
    for c in without["generateContentRequest"]["contents"]:
        c["parts"] = [p for p in c["parts"] if not p.get("thought")]
    assert _total(case["model"], without) < case["expected"] - 250


def test_declaration_rendering_matches_functiongemma_documentation() -> None:
    """The example of Google's FunctionGemma formatting guide, rendered from its JSON declaration."""
    segs = gemini_tools.declaration("get_current_weather", "Gets the current weather in a given location.", {
        "type": "object", "required": ["location"], "properties": {
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"],
                     "description": "The unit to return the temperature in."},
            "location": {"type": "string", "description": 'The city and state, e.g. "San Francisco, CA"'}}})
    text = "".join("<escape>" if s is gemini_tools.SPECIAL else s for s in segs[1:-1])
    assert text == ("declaration:get_current_weather{description:<escape>Gets the current weather in a given "
                    "location.<escape>,parameters:{properties:{location:{description:<escape>The city and state, "
                    'e.g. "San Francisco, CA"<escape>,type:<escape>STRING<escape>},unit:{description:<escape>The '
                    "unit to return the temperature in.<escape>,enum:[<escape>celsius<escape>,<escape>fahrenheit"
                    "<escape>],type:<escape>STRING<escape>}},required:[<escape>location<escape>],type:<escape>"
                    "OBJECT<escape>}}")
    call = gemini_tools.call("get_current_weather", {"location": "Tokyo, Japan"})
    assert "".join("|" if s is gemini_tools.SPECIAL else s for s in call) == \
        "|call:get_current_weather{location:|Tokyo, Japan|}|"
    resp = gemini_tools.response("get_current_weather", {"temperature": 15, "weather": "sunny"})
    assert "".join("|" if s is gemini_tools.SPECIAL else s for s in resp) == \
        "|response:get_current_weather{temperature:15,weather:|sunny|}|"


def test_titles_are_a_catalog_switch() -> None:
    schema = {"type": "object", "properties": {"title": {"title": "Title", "type": "string"}}}
    with_titles = "".join(s for s in gemini_tools.declaration("f", None, schema) if isinstance(s, str))
    without = "".join(s for s in gemini_tools.declaration("f", None, schema, titles=False) if isinstance(s, str))
    assert with_titles == "declaration:f{parameters:{properties:{title:{title:Title,type:STRING}},type:OBJECT}}"
    # a property named "title" stays; its schema's title goes
    assert without == "declaration:f{parameters:{properties:{title:{type:STRING}},type:OBJECT}}"
    assert default_catalog().resolve("gemini-2.5-flash").extra["schema_titles"] is False
    assert default_catalog().resolve("gemini-flash-latest").extra["schema_titles"] is True


@pytest.mark.parametrize("case_id", ["gemini-279", "gemini-281"])
def test_tool_declarations_reproduce_the_api(case_id: str) -> None:
    """gemini-3-flash-preview and gemini-flash-latest with tools (llm-gemini cassettes): the API's own count."""
    case = CASES[case_id]
    assert _total(case["model"], case["request"]) == case["expected"]


def test_signature_chunks() -> None:
    def sig(*chunks: tuple[int, int]) -> str:
        raw = b"".join(bytes([field << 3 | 2, size]) + b"x" * size for field, size in chunks)
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    assert _signature_payload(sig((1, 100))) == 0  # one field-1 chunk: a non-streamed 2.5 turn, not counted
    assert _signature_payload(sig((1, 40), (1, 100), (1, 60))) == 160  # streamed: chunks after the first
    assert _signature_payload(sig((2, 90))) == 90  # Gemini 3's field-2 signature
    assert _signature_payload("not base64 at all!") == 0


def test_signature_counts_on_a_recorded_streamed_turn() -> None:
    """gemini-252 and gemini-253 are the same conversation; 253's streamed signature made the API count 79 more."""
    quiet, streamed = CASES["gemini-252"], CASES["gemini-253"]
    got_quiet, got_streamed = _total(quiet["model"], quiet["request"]), _total(streamed["model"], streamed["request"])
    assert streamed["expected"] - quiet["expected"] == 79
    assert abs((got_streamed - got_quiet) - 79) <= 0.25 * 79
    # gemini-2.0-flash does not think: no rate in its catalog entry, so the signature costs nothing there
    assert count("gemini-2.0-flash", gemini.parse_count_tokens(streamed["request"])).input_tokens == \
        count("gemini-2.0-flash", gemini.parse_count_tokens(quiet["request"])).input_tokens


def test_dated_snapshots_resolve() -> None:
    cat = default_catalog()
    assert cat.resolve("gemini-2.5-flash-preview-05-20").id == "gemini-2.5-flash"
    assert cat.resolve("models/gemini-flash-latest").id == "gemini-2.5-flash-preview-09-2025"
    assert cat.resolve("gemini-2.5-pro-preview-06-05").id == "gemini-2.5-pro"


def test_bad_signature_is_a_google_400() -> None:
    status, out = gemini.handle("gemini-2.5-flash", {"contents": [{"role": "model", "parts": [
        {"text": "hi", "thoughtSignature": 5}]}]})
    assert status == 400 and out["error"]["status"] == "INVALID_ARGUMENT"
    assert "thoughtSignature" in out["error"]["message"]


@pytest.mark.parametrize(("model", "exact"), [("gemini-2.0-flash", True), ("gemini-2.5-flash", True),
                                              ("gemini-flash-latest", True), ("gemini-2.5-pro", False),
                                              ("gemini-2.5-flash-lite", False), ("gemini-3-pro-preview", False),
                                              ("gemini-1.5-pro", False), ("gemini-2.0-flash-lite", False)])
def test_text_is_labelled_exact_only_where_recorded_counts_were_reproduced(model: str, exact: bool) -> None:
    _, out, headers = gemini.handle_full(model, {"contents": "The quick brown fox jumps over the lazy dog."})
    assert headers["x-tokcount-exact"] == str(exact).lower()
    assert out["totalTokens"] == (10 if model.startswith(("gemini-2.0", "gemini-1.5")) else 11)


def test_structured_output_is_labelled_an_estimate() -> None:
    base = {"contents": [{"role": "user", "parts": [{"text": "List three colours."}]}]}
    _, plain, plain_headers = gemini.handle_full("gemini-2.5-flash", {"generateContentRequest": base})
    assert plain_headers["x-tokcount-exact"] == "true"
    _, _, headers = gemini.handle_full("gemini-2.5-flash", {"generateContentRequest": {
        **base, "generationConfig": {"responseMimeType": "application/json"}}})
    assert headers["x-tokcount-exact"] == "true"  # JSON mode alone: gemini-238, 239, 242, … exact
    for config in ({"responseMimeType": "application/json", "responseSchema": {"type": "STRING"}},
                   {"response_schema": {"type": "ARRAY", "items": {"type": "STRING"}}},
                   {"responseJsonSchema": {"type": "array", "items": {"type": "string"}}}):
        status, out, headers = gemini.handle_full("gemini-2.5-flash",
                                                  {"generateContentRequest": {**base, "generationConfig": config}})
        assert status == 200 and out == plain
        assert headers["x-tokcount-exact"] == "false"
    _, _, headers = gemini.handle_full("gemini-2.5-flash", {"generateContentRequest": {
        **base, "generationConfig": {"temperature": 0, "thinkingConfig": {"thinkingBudget": 0}}}})
    assert headers["x-tokcount-exact"] == "true"


def test_chat_shaped_tool_turns_render_like_gemini_ones() -> None:
    """A chat request for a Gemini model: the tool result takes its function's name from the call's id."""
    chat = {"messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": '{"temp": "18C"}'}]}
    native = {"contents": [
        {"role": "user", "parts": [{"text": "weather?"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp": "18C"}}}]}]}
    got = count("gemini-2.5-flash", chat)
    assert got.breakdown["messages"][2] == count("gemini-2.5-flash", gemini.parse_count_tokens(native)).breakdown[
        "messages"][2]
