"""Gemini's accounting of function declarations, calls and responses: two rules, chosen per model generation.

``tools = "texts"`` (Gemini 2.0 and 2.5, ``gemini_rules.toml``): the API counts the *texts* of a declaration —
its name, description, and in its parameter schema every property name, ``type``, ``format``, ``description``,
``enum`` value, ``required`` name and string ``default`` — each tokenized on its own, the fields google-genai's
``LocalTokenizer`` (``_TextsAccumulator``) collects, plus the schema types it leaves out; ``title`` is not counted.
Calls and responses count their name, every key and every string value; a number or boolean costs
``value_tokens`` (not its digits: ``{"a": 10000, "b": 20000}`` costs 2). Measured: on gemini-2.0-flash that
sum *is* the count (24 of 26 recorded tool requests exact); Gemini 2.5 adds fixed costs per declaration, per
schema property, per nested object schema and per call (:class:`TextsShape` counts them, the rules price them).

``tools = "functiongemma"`` (Gemini 3 and gemini-2.5-flash-preview-09-2025), the FunctionGemma serialisation:

Google's FunctionGemma (a Gemma 3 model "built using the same research and technology behind Gemini") documents
how function data is serialised for the model: ``<start_function_declaration>declaration:NAME{description:
<escape>…<escape>,parameters:{properties:{…},required:[…],type:<escape>OBJECT<escape>}}<end_function_declaration>``,
calls as ``<start_function_call>call:NAME{key:<escape>value<escape>}<end_function_call>`` and responses as
``<start_function_response>response:NAME{…}<end_function_response>``: object keys sorted, every string wrapped
in ``<escape>`` tokens, schema types upper-case, numbers and booleans bare. The markers are single special tokens
in Gemini's vocabulary (Gemma 3's tokenizer.json does not have them, so each is counted as one here).

Measured on the calibration set (``python -m bench.calibrate --provider gemini``): this rendering reproduces the
API's count of a request with tools exactly on gemini-3-flash-preview and gemini-flash-latest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SPECIAL = object()  # one special token (<escape>, <start_function_call>, …) in the rendered segment list
Segments = list[Any]


def _value(x: Any, out: Segments, key: str | None, *, titles: bool, schema: bool) -> None:
    """Append ``x`` rendered as FunctionGemma renders structured data (keys sorted, strings in <escape>)."""
    if isinstance(x, dict):
        out.append("{")
        first = True
        for k in sorted(x, key=str):
            v = x[k]
            # In a schema, ``properties`` maps parameter names (which may be called "title") to schemas.
            if v is None or (schema and not titles and k == "title" and key != "properties"):
                continue
            if not first:
                out.append(",")
            first = False
            out.append(f"{k}:")
            _value(v, out, str(k), titles=titles, schema=schema)
        out.append("}")
    elif isinstance(x, list):
        out.append("[")
        for i, v in enumerate(x):
            if i:
                out.append(",")
            _value(v, out, None, titles=titles, schema=schema)
        out.append("]")
    elif isinstance(x, str):
        out.extend((SPECIAL, x.upper() if schema and key == "type" else x, SPECIAL))
    elif isinstance(x, bool):
        out.append("true" if x else "false")
    elif isinstance(x, float) and x.is_integer():
        out.append(str(int(x)))
    else:
        out.append(str(x))


def declaration(name: str, description: str | None, parameters: dict[str, Any] | None, *,
                titles: bool = True) -> Segments:
    """``<start_function_declaration>declaration:NAME{description:…,parameters:{…}}<end_function_declaration>``."""
    body: dict[str, Any] = {}
    if description:
        body["description"] = description
    if parameters is not None:
        body["parameters"] = parameters
    out: Segments = [SPECIAL, f"declaration:{name}"]
    _value(body, out, None, titles=titles, schema=True)
    out.append(SPECIAL)
    return out


def call(name: str, args: Any) -> Segments:
    """``<start_function_call>call:NAME{args}<end_function_call>``."""
    out: Segments = [SPECIAL, f"call:{name}"]
    _value(args if isinstance(args, dict) else {"value": args}, out, None, titles=True, schema=False)
    out.append(SPECIAL)
    return out


def response(name: str, payload: Any) -> Segments:
    """``<start_function_response>response:NAME{payload}<end_function_response>``."""
    out: Segments = [SPECIAL, f"response:{name}"]
    _value(payload if isinstance(payload, dict) else {"output": payload}, out, None, titles=True, schema=False)
    out.append(SPECIAL)
    return out


def count_segments(segments: Segments, count: Callable[[str], int]) -> int:
    """Tokens of a rendering: each special marker is one token, the text between markers is tokenized whole."""
    total = 0
    text: list[str] = []
    for s in segments:
        if s is SPECIAL:
            if text:
                total += count("".join(text))
                text = []
            total += 1
        else:
            text.append(s)
    if text:
        total += count("".join(text))
    return total


# ------------------------------------------------------------------------------------------------ texts accounting
#: schema keys whose string values are counted as texts (``title`` is not: measured on 2.0 and 2.5)
SCHEMA_TEXT_KEYS = ("type", "format", "description")
#: schema keys holding sub-schemas (lists or single schemas)
SCHEMA_CHILDREN = ("items", "anyOf", "any_of", "oneOf", "allOf", "prefixItems", "additionalProperties")


@dataclass(slots=True)
class TextsShape:
    """What a declaration, call or response counts under the texts rule: its texts (each tokenized on its own) and
    the structure the rules file prices (``declaration_tokens``, ``property_tokens``, ``object_tokens``,
    ``value_tokens``, ``call_tokens``)."""

    texts: list[str] = field(default_factory=list)
    properties: int = 0   # schema properties, at any depth
    objects: int = 0      # object schemas with properties below the top-level parameters
    values: int = 0       # numbers and booleans (in call arguments, responses, defaults, examples)

    def tokens(self, count: Callable[[str], int], rules: dict[str, Any]) -> int:
        """The tokens of the texts plus the structure's fitted costs (``rules``: a generation's table)."""
        return (sum(count(t) for t in self.texts if t) + self.properties * int(rules.get("property_tokens", 0))
                + self.objects * int(rules.get("object_tokens", 0)) + self.values * int(rules.get("value_tokens", 0)))


def declaration_texts(name: str, description: str | None, parameters: dict[str, Any] | None) -> TextsShape:
    """The texts and structure of one function declaration (its ``parameters`` or ``parametersJsonSchema``).

    A JSON schema's ``$ref`` to its own ``$defs`` / ``definitions`` (pydantic's nested models) counts as the schema
    it names, as the model is shown it; a reference cycle is followed once."""
    shape = TextsShape(texts=[name, *([description] if description else [])])
    if isinstance(parameters, dict):
        defs = {**_table(parameters.get("definitions")), **_table(parameters.get("$defs"))}
        _schema(parameters, shape, top=True, defs=defs, seen=())
    return shape


def _table(x: Any) -> dict[str, Any]:
    return x if isinstance(x, dict) else {}


def _schema(s: dict[str, Any], shape: TextsShape, *, top: bool, defs: dict[str, Any],
            seen: tuple[str, ...]) -> None:
    ref = s.get("$ref")
    if isinstance(ref, str):
        target = defs.get(ref.rsplit("/", 1)[-1]) if ref.startswith(("#/$defs/", "#/definitions/")) else None
        if isinstance(target, dict) and ref not in seen:
            _schema({**target, **{k: v for k, v in s.items() if k != "$ref"}}, shape, top=top, defs=defs,
                    seen=(*seen, ref))
            return
    for key in SCHEMA_TEXT_KEYS:
        v = s.get(key)
        if isinstance(v, str):
            shape.texts.append(v)
        elif isinstance(v, list):  # JSON Schema's "type": ["string", "null"]
            shape.texts.extend(x for x in v if isinstance(x, str))
    for key in ("enum", "required"):
        v = s.get(key)
        if isinstance(v, list):
            shape.texts.extend(str(x) for x in v)
    for key in ("default", "example"):
        if key in s and s[key] is not None:
            _value_texts(s[key], shape)
    props = s.get("properties")
    if isinstance(props, dict):
        if props and not top:
            shape.objects += 1
        for k, sub in props.items():
            shape.texts.append(str(k))
            shape.properties += 1
            if isinstance(sub, dict):
                _schema(sub, shape, top=False, defs=defs, seen=seen)
    for key in SCHEMA_CHILDREN:
        v = s.get(key)
        for sub in (v if isinstance(v, list) else [v]):
            if isinstance(sub, dict):
                _schema(sub, shape, top=False, defs=defs, seen=seen)


def _value_texts(x: Any, shape: TextsShape) -> None:
    """Keys and string values are texts; numbers and booleans are values (priced by ``value_tokens``)."""
    if isinstance(x, str):
        shape.texts.append(x)
    elif isinstance(x, dict):
        for k, v in x.items():
            shape.texts.append(str(k))
            _value_texts(v, shape)
    elif isinstance(x, list):
        for v in x:
            _value_texts(v, shape)
    elif x is not None:
        shape.values += 1


def call_texts(name: str, args: Any) -> TextsShape:
    """A function call: its name, then its arguments' keys and values."""
    shape = TextsShape(texts=[name])
    _value_texts(args, shape)
    return shape


def response_texts(name: str, payload: Any) -> TextsShape:
    """A function response: its name, then the response object's keys and values (a bare value as ``output``)."""
    shape = TextsShape(texts=[name])
    _value_texts(payload if isinstance(payload, dict) else {"output": payload}, shape)
    return shape
