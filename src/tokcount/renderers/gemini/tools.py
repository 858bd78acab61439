"""Gemini's rendering of function declarations, calls and responses (the FunctionGemma serialisation).

Google's FunctionGemma (a Gemma 3 model "built using the same research and technology behind Gemini") documents
how function data is serialised for the model: ``<start_function_declaration>declaration:NAME{description:
<escape>…<escape>,parameters:{properties:{…},required:[…],type:<escape>OBJECT<escape>}}<end_function_declaration>``,
calls as ``<start_function_call>call:NAME{key:<escape>value<escape>}<end_function_call>`` and responses as
``<start_function_response>response:NAME{…}<end_function_response>``: object keys sorted, every string wrapped
in ``<escape>`` tokens, schema types upper-case, numbers and booleans bare. The markers are single special tokens
in Gemini's vocabulary (Gemma 3's tokenizer.json does not have them, so each is counted as one here).

Measured on the calibration set (``python -m bench.calibrate --provider gemini``): this rendering reproduces the
API's count of a request with tools exactly on gemini-3-flash-preview and gemini-flash-latest; gemini-2.5-flash
leaves schema ``title`` fields out (``schema_titles = false`` in the catalog), which is the measured difference.
"""

from __future__ import annotations

from collections.abc import Callable
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
