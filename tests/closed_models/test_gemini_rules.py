"""Gemini's measured rules: one token per Content, past-turn thoughts and signatures, tools counted as their texts
(2.0, 2.5) or the FunctionGemma rendering (3), images per generation; the rules file's generations and inheritance.

The numbers asserted here are the API's own counts from the calibration recordings (``../shared/calibration``,
sources named per case) or follow from the documented FunctionGemma serialisation; the whole set is re-measured
by ``python -m bench.calibrate --provider gemini`` (tests/closed_models/test_calibration.py pins the exact cases).
"""

from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image

from support.gemini_route import handle, handle_full
from support.shared import SHARED
from tokcount.count import count
from tokcount.dialects import gemini
from tokcount.media.rules import rule_for
from tokcount.models.catalog import default_catalog
from tokcount.templates.framings import gemini_tools
from tokcount.templates.framings.gemini import _signature_payload, generations, rules_of

CASES = {json.loads(line)["id"]: json.loads(line)
         for line in (SHARED / "calibration" / "gemini.jsonl").read_text(encoding="utf-8").splitlines() if line}


def _total(model: str, body: dict) -> int:
    status, out = handle(model, body)
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
    _, _, headers = handle_full("gemini-2.5-flash", with_system)
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
    assert rules_of(default_catalog().resolve("gemini-flash-latest"), None)["schema_titles"] is True


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
    # the September 2025 previews count tools as Gemini 3 does (measured on Flash's; Flash-Lite's borrows it)
    lite = cat.resolve("gemini-flash-lite-latest")
    assert lite.id == "gemini-2.5-flash-lite-preview-09-2025" and rules_of(lite, None)["tools"] == "functiongemma"
    assert rules_of(cat.resolve("gemini-2.5-flash-lite"), None)["tools"] == "texts"
    assert cat.resolve("gemini-2.5-flash-preview-05-20").id == "gemini-2.5-flash"
    assert cat.resolve("models/gemini-flash-latest").id == "gemini-2.5-flash-preview-09-2025"
    assert cat.resolve("gemini-2.5-pro-preview-06-05").id == "gemini-2.5-pro"


def test_bad_signature_is_a_google_400() -> None:
    status, out = handle("gemini-2.5-flash", {"contents": [{"role": "model", "parts": [
        {"text": "hi", "thoughtSignature": 5}]}]})
    assert status == 400 and out["error"]["status"] == "INVALID_ARGUMENT"
    assert "thoughtSignature" in out["error"]["message"]


@pytest.mark.parametrize(("model", "exact"), [("gemini-2.0-flash", True), ("gemini-2.5-flash", True),
                                              ("gemini-flash-latest", True), ("gemini-2.5-pro", False),
                                              ("gemini-2.5-flash-lite", False), ("gemini-3-pro-preview", False),
                                              ("gemini-1.5-pro", False), ("gemini-2.0-flash-lite", False)])
def test_text_is_labelled_exact_only_where_recorded_counts_were_reproduced(model: str, exact: bool) -> None:
    _, out, headers = handle_full(model, {"contents": "The quick brown fox jumps over the lazy dog."})
    assert headers["x-tokcount-exact"] == str(exact).lower()
    assert out["totalTokens"] == (10 if model.startswith(("gemini-2.0", "gemini-1.5")) else 11)


def test_structured_output_is_labelled_an_estimate() -> None:
    base = {"contents": [{"role": "user", "parts": [{"text": "List three colours."}]}]}
    _, plain, plain_headers = handle_full("gemini-2.5-flash", {"generateContentRequest": base})
    assert plain_headers["x-tokcount-exact"] == "true"
    _, _, headers = handle_full("gemini-2.5-flash", {"generateContentRequest": {
        **base, "generationConfig": {"responseMimeType": "application/json"}}})
    assert headers["x-tokcount-exact"] == "true"  # JSON mode alone: gemini-238, 239, 242, … exact
    for config in ({"responseMimeType": "application/json", "responseSchema": {"type": "STRING"}},
                   {"response_schema": {"type": "ARRAY", "items": {"type": "STRING"}}},
                   {"responseJsonSchema": {"type": "array", "items": {"type": "string"}}}):
        status, out, headers = handle_full("gemini-2.5-flash",
                                                  {"generateContentRequest": {**base, "generationConfig": config}})
        assert status == 200 and out == plain
        assert headers["x-tokcount-exact"] == "false"
    _, _, headers = handle_full("gemini-2.5-flash", {"generateContentRequest": {
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


# ------------------------------------------------------------------------------------------------ the rules file
def test_generations_inherit_and_catalog_entries_name_theirs() -> None:
    table = generations()
    assert table["gemini-2.0"]["tools"] == "texts" and table["gemini-2.0"]["content_tokens"] == 0
    # 2.5 inherits 2.0's switches and numbers and overrides some; 3 inherits 2.5's and switches the tool rule
    assert table["gemini-2.5"]["tools"] == "texts" and table["gemini-2.5"]["document_page_tokens"] == 258
    assert table["gemini-2.5"]["content_tokens"] == 1
    assert table["gemini-3"]["tools"] == "functiongemma" and table["gemini-3"]["declaration_tokens"] == 17
    cat = default_catalog()
    assert rules_of(cat.resolve("gemini-2.0-flash-001"), None)["tools"] == "texts"
    assert rules_of(cat.resolve("gemini-3-flash-preview"), None)["tools"] == "functiongemma"
    # the platform's table goes on top of the generation's (Vertex AI: no per-Content token)
    assert rules_of(cat.resolve("gemini-2.5-flash"), "vertex")["content_tokens"] == 0
    # every number the cross-validation runner may refit is an integer (the signature rate is a ratio, not added)
    for name, gen in table.items():
        for key, value in gen.items():
            if key.endswith("_tokens"):
                assert isinstance(value, int), (name, key)


def test_the_texts_of_a_declaration() -> None:
    """What the texts rule counts: names, descriptions, property names, types, enums, required names, string
    defaults (not titles); numbers and booleans are values; nested object schemas are counted."""
    shape = gemini_tools.declaration_texts("f", "Does f.", {
        "type": "object", "title": "FParams", "required": ["unit"], "properties": {
            "unit": {"type": "string", "title": "Unit", "enum": ["c", "f"], "default": "c"},
            "n": {"type": "integer", "default": 3},
            "where": {"type": "object", "properties": {"city": {"type": "string"}}}}})
    assert shape.texts == ["f", "Does f.", "object", "unit", "unit", "string", "c", "f", "c", "n", "integer",
                           "where", "object", "city", "string"]
    assert (shape.properties, shape.objects, shape.values) == (4, 1, 1)
    call = gemini_tools.call_texts("sum", {"a": 10000, "b": 20000, "tag": "x"})
    assert call.texts == ["sum", "a", "b", "tag", "x"] and call.values == 2


def _case(case_id: str) -> tuple[int, int]:
    case = CASES[case_id]
    return _total(case["model"], case["request"]), case["expected"]


@pytest.mark.parametrize("case_id", [
    "x-gemini-0011",  # crewAI, one declaration (was 71: the FunctionGemma rendering)
    "x-gemini-0087",  # Logfire
    "x-gemini-0047",  # OpenInference, with a system instruction
    "x-gemini-0052",  # OpenInference, a 118-token declaration
    "x-gemini-0031",  # crewAI: a call and its response with numbers ({"a": 10000, "b": 20000}: one token each)
    "x-gemini-0048",  # OpenInference: call and response
])
def test_gemini_20_counts_the_texts_of_tools_calls_and_responses(case_id: str) -> None:
    """On gemini-2.0-flash the API's count of a request with tools is the sum of its texts' tokens."""
    got, expected = _case(case_id)
    assert got == expected


@pytest.mark.parametrize("case_id", [
    "gemini-276",     # llm-gemini: a declaration without description or properties: 17 + its texts
    "gemini-235",     # Mirascope: one property
    "x-gemini-0013",  # crewAI: parametersJsonSchema, two properties
    "x-gemini-0096",  # LangSmith
    "x-gemini-0027",  # crewAI, with a system instruction
])
def test_gemini_25_counts_texts_plus_declaration_and_property_costs(case_id: str) -> None:
    got, expected = _case(case_id)
    assert got == expected


@pytest.mark.parametrize("case_id", [
    "x-gemini-0005",  # crewAI: one call and its response (was +16)
    "x-gemini-0009",  # crewAI: three declarations, three calls (was +51)
    "x-gemini-0056",  # OpenInference
    "x-gemini-0097",  # LangSmith
    "gemini-258",     # Mirascope: a nested object schema (was -19)
    "x-gemini-0039",  # crewAI: an array of objects (was +52)
])
def test_gemini_25_calls_and_nested_schemas_within_a_few_tokens(case_id: str) -> None:
    got, expected = _case(case_id)
    assert abs(got - expected) <= max(3, 0.04 * expected), (got, expected)


def test_gemini_20_tiles_an_image_with_one_overview_tile() -> None:
    assert rule_for("gemini-2").tokens(640, 480) == 5 * 258  # 4 tiles of 320 px + the whole image
    assert rule_for("gemini-2").tokens(8, 8) == 258
    for case_id in ("x-gemini-0010", "x-gemini-0001", "x-gemini-0051"):  # crewAI 640x480; OpenInference 8x8
        got, expected = _case(case_id)
        assert got == expected, case_id


def test_gemini_25_images_cost_a_fixed_budget_whatever_their_size() -> None:
    for case_id in ("x-gemini-0002", "x-gemini-0072"):  # crewAI 640x480 and OpenInference 8x8: 258 each
        got, expected = _case(case_id)
        assert got == expected, case_id


def test_media_resolution_of_the_request_and_of_a_part() -> None:
    """Gemini 3 (and 2.5) price an image by ``mediaResolution``: the request's ``generationConfig`` level, or a
    part's own (Gemini 3), else the default (3: high, 1120; 2.5: medium, 256 + 2)."""
    image = {"inlineData": {"mimeType": "image/png", "data": _png(640, 480)}}

    def image_count(model: str, part: dict, config: dict | None = None) -> int:
        body: dict = {"contents": [{"role": "user", "parts": [part]}]}
        if config:
            body["generationConfig"] = config
        status, out = handle(model, {"generateContentRequest": body})
        assert status == 200, out
        return next(d["tokenCount"] for d in out["promptTokensDetails"] if d["modality"] == "IMAGE")

    assert image_count("gemini-3-pro-preview", image) == 1120
    assert image_count("gemini-3-pro-preview", image, {"mediaResolution": "MEDIA_RESOLUTION_LOW"}) == 280
    assert image_count("gemini-3-pro-preview", {**image, "mediaResolution": {"level": "MEDIA_RESOLUTION_MEDIUM"}},
                       {"mediaResolution": "MEDIA_RESOLUTION_LOW"}) == 560  # the part's own level wins
    assert image_count("gemini-2.5-flash", image, {"mediaResolution": "MEDIA_RESOLUTION_LOW"}) == 64 + 2
    assert image_count("gemini-2.0-flash", image, {"mediaResolution": "MEDIA_RESOLUTION_LOW"}) == 5 * 258  # tiles
    status, out = handle("gemini-3-pro-preview", {"contents": [{"parts": [image]}],
                                                         "generationConfig": {"mediaResolution": 7}})
    assert status == 400 and "mediaResolution" in out["error"]["message"]


def _png(width: int, height: int) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 30)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def test_a_json_schema_reference_counts_as_the_schema_it_names() -> None:
    """pydantic's nested models arrive as ``$ref`` into ``$defs``: counted as the inlined schema, a cycle once."""
    inline = gemini_tools.declaration_texts("f", None, {"type": "object", "properties": {
        "who": {"type": "object", "properties": {"name": {"type": "string"}}}}})
    ref = gemini_tools.declaration_texts("f", None, {
        "type": "object", "properties": {"who": {"$ref": "#/$defs/Person"}},
        "$defs": {"Person": {"type": "object", "properties": {"name": {"type": "string"}}}}})
    assert ref.texts == inline.texts and (ref.properties, ref.objects) == (inline.properties, inline.objects) == (2, 1)
    node = {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}
    cyclic = gemini_tools.declaration_texts("f", None, {"$ref": "#/$defs/Node", "$defs": {"Node": node}})
    assert cyclic.texts == ["f", "object", "next"] and cyclic.properties == 1
