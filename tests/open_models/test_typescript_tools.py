"""Kimi's TypeScript tool declarations (``tools_ts_str``) against expectations written independently of tokcount.

The EXPECTED strings are the documented examples of public test suites that check their own encoders byte for byte
against Moonshot's ``tool_declaration_ts.py`` (a Rust port's tests:
"encoder_renders_nested_object_with_required", "encoder_renders_enum_as_union", "encodes_complex_schema_byte_exactly",
"null_default_is_omitted_like_checkpoint_python", the fallback and ``$defs``-order cases, and
"recursively_sorts_tool_schema"), copied here as data. HAND_DERIVED cases were worked out by hand from Moonshot's
code (indentation of an array of objects, constraints, defaults, ``additionalProperties``, ``$defs`` with a
self-reference), not printed by the code under test.
"""

from __future__ import annotations

import json

import pytest

from tokcount.templates.typescript_tools import declarations, deep_sorted, prepare

#: needs none of ../shared (tests/conftest.py gives it an empty asset directory and cache)
pytestmark = pytest.mark.no_shared


def _fn(name: str, parameters: dict, description: str | None = None) -> dict:
    function: dict = {"name": name, "parameters": parameters}
    if description is not None:
        function["description"] = description
    return {"type": "function", "function": function}


def _ns(*blocks: str) -> str:
    return "# Tools\n\n## functions\nnamespace functions {\n" + "\n".join(blocks) + "\n}\n"


EXPECTED = [
    pytest.param(
        [_fn("create_user", {"type": "object", "properties": {"user": {
            "type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
            "required": ["name"]}}, "required": ["user"]}, "Create a new user record.")],
        "# Tools\n\n## functions\nnamespace functions {\n// Create a new user record.\ntype create_user = (_: {\n"
        "  user: {\n    name: string,\n    age?: number\n  }\n}) => any;\n}\n", id="nested-object-required"),
    pytest.param(
        [_fn("set_status", {"type": "object", "properties": {"status": {"enum": ["active", "paused", "done"]}},
                            "required": ["status"]})],
        "# Tools\n\n## functions\nnamespace functions {\ntype set_status = (_: {\n"
        "  status: \"active\" | \"paused\" | \"done\"\n}) => any;\n}\n", id="enum-union"),
    pytest.param(
        [_fn("weather", {"type": "object", "properties": {
            "units": {"type": "string", "enum": ["c", "f"]},
            "city": {"type": "string", "description": "City name"}}, "required": ["city"]}, "Read weather")],
        "# Tools\n\n## functions\nnamespace functions {\n// Read weather\ntype weather = (_: {\n  // City name\n"
        "  city: string,\n  units?: \"c\" | \"f\"\n}) => any;\n}\n", id="complex-schema"),
    pytest.param(
        [_fn("optional_value", {"type": "object", "properties": {
            "value": {"type": ["string", "null"], "default": None}}})],
        "# Tools\n\n## functions\nnamespace functions {\ntype optional_value = (_: {\n"
        "  value?: string | null\n}) => any;\n}\n", id="null-default-omitted"),
]

HAND_DERIVED = [
    pytest.param(
        [_fn("plan", {"type": "object", "properties": {
            "steps": {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "integer"}},
                                                 "required": ["id"]}},
            "tags": {"type": "array", "description": "Labels", "maxItems": 3,
                     "items": {"type": "string", "description": "one label", "minLength": 1}},
            "mode": {"type": "string", "default": "fast", "pattern": "^[a-z]+$"},
            "limit": {"type": "number", "default": 1.5, "minimum": 0},
            "flag": {"type": "boolean", "default": True},
            "extra": {"type": "object", "additionalProperties": False},
            "blob": {"additionalProperties": True, "type": "object", "properties": {}},
            "any": {}}, "required": ["steps"]})],
        _ns("type plan = (_: {\n"
            "  steps: Array<{\n    id: number\n  }>,\n"
            "  any?: any,\n"
            "  blob?: {\n    [k: string]: any\n  },\n"
            "  extra?: {\n    [k: string]: never\n  },\n"
            "  // Default: True\n  flag?: boolean,\n"
            "  // minimum: 0\n  // Default: 1.5\n  limit?: number,\n"
            "  // pattern: ^[a-z]+$\n  // Default: \"fast\"\n  mode?: string,\n"
            "  // Labels\n  // maxItems: 3\n  tags?: Array<\n    // one label\n    // minLength: 1\n    string\n  >\n"
            "}) => any;"), id="arrays-constraints-defaults"),
    pytest.param(
        [_fn("tree", {"type": "object", "$defs": {"Leaf": {"type": "object", "description": "A leaf\nof a tree",
                                                           "properties": {"v": {"type": "string"}},
                                                           "required": ["v"]}},
                      "properties": {"leaf": {"$ref": "#/$defs/Leaf"}, "child": {"$ref": "#"},
                                     "kind": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                      "required": ["leaf"]}, "Walk\n\na tree")],
        _ns("interface parameters {\n  leaf: Leaf,\n  child?: parameters,\n  kind?: string | number\n}\n"
            "// A leaf\n// of a tree\ninterface Leaf {\n  v: string\n}\n"
            "// Walk\n\n// a tree\ntype tree = (_: parameters) => any;"), id="defs-self-reference"),
]


@pytest.mark.parametrize(("tools", "expected"), EXPECTED + HAND_DERIVED)
def test_declarations_match_the_documented_format(tools: list, expected: str) -> None:
    assert declarations(tools) == expected


@pytest.mark.parametrize(("tools", "expected"), EXPECTED + HAND_DERIVED[:1])
def test_sorting_first_changes_no_sorted_output(tools: list, expected: str) -> None:
    """Fields are sorted by the format itself, so Moonshot's sorting of the tool dicts changes none of these."""
    assert prepare(tools)[1] == expected


def test_a_self_referencing_root_lists_its_fields_in_sorted_key_order() -> None:
    """``interface parameters`` keeps the schema's own field order, which is the sorted one after Moonshot's sort."""
    ts = prepare(HAND_DERIVED[1].values[0])[1]
    root = "interface parameters {\n  child?: parameters,\n  kind?: string | number,\n  leaf: Leaf\n}"
    assert ts is not None and root in ts


@pytest.mark.parametrize("schema", [
    pytest.param({"type": "object", "properties": {"x": {"$ref": "#/$defs/Missing"}}, "required": ["x"]},
                 id="unresolvable-ref"),
    pytest.param({"type": "object", "properties": {"x": {"title": "no recognized keyword"}}, "required": ["x"]},
                 id="unrecognized-schema"),
    pytest.param({"type": "object", "properties": {"value": {"oneOf": [{"type": "string"}]}}}, id="oneOf"),
    pytest.param({"type": "object", "properties": {"x": {"type": "string", "enum": [1, 2]}}}, id="enum-type-mismatch"),
    pytest.param({"type": "object", "properties": {"x": {"type": ["string", "date"]}}}, id="unknown-union-name"),
    pytest.param({"type": "object", "properties": {"x": {"type": "object", "additionalProperties": 3}}},
                 id="bad-additional-properties"),
])
def test_unsupported_schemas_fall_back_to_json(schema: dict) -> None:
    """Moonshot's wrapper catches the conversion's error and the template prints the tools as JSON."""
    assert declarations([_fn("broken", schema)]) is None


def test_no_function_tools_declare_nothing() -> None:
    assert declarations([{"type": "_plugin", "_plugin": {"name": "x"}}]) == ""
    assert prepare(None) == (None, None)
    assert prepare([]) == ([], None)


def test_defs_keep_insertion_order_and_sorting_reorders_them() -> None:
    tools = [_fn("zoo", {"type": "object", "$defs": {
        "Zebra": {"type": "object", "properties": {"stripes": {"type": "integer"}}, "required": ["stripes"]},
        "Apple": {"type": "object", "properties": {"color": {"type": "string"}}, "required": ["color"]}},
        "properties": {"z": {"$ref": "#/$defs/Zebra"}, "a": {"$ref": "#/$defs/Apple"}}, "required": ["z", "a"]})]
    alone = declarations(tools)
    assert alone is not None and alone.index("interface Zebra") < alone.index("interface Apple")
    _, sorted_ts = prepare(tools)  # Moonshot sorts every dict before converting: Apple comes first then
    assert sorted_ts is not None and sorted_ts.index("interface Apple") < sorted_ts.index("interface Zebra")


def test_deep_sort() -> None:
    value = {"z": [{"b": 1, "a": 2}], "a": 0}
    assert json.dumps(deep_sorted(value), separators=(",", ":")) == '{"a":0,"z":[{"a":2,"b":1}]}'
    tools, _ = prepare([{"type": "function", "function": {"parameters": {}, "name": "f"}}])
    assert tools is not None and list(tools[0]) == ["function", "type"] and list(tools[0]["function"]) == [
        "name", "parameters"]
