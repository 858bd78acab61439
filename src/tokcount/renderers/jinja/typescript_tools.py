"""Tool definitions as the TypeScript declarations Moonshot's Kimi tokenizer writes into ``tools_ts_str``.

Kimi K2.5 / K2.6's ``apply_chat_template`` (``tokenization_kimi.py``) does two things before the chat template runs:
it sorts every dict of the tool list by key, recursively (lists keep their order), and it renders the tools as a
TypeScript namespace (``tool_declaration_ts.py``) that the template prints instead of compact JSON. Both change the
count: the declaration is a different text from the JSON, and the key order changes the JSON fallback too. Any
failure of the conversion makes Moonshot's tokenizer fall back to JSON (it catches every exception), and so does
:func:`declarations` (returns None).

The format, as Moonshot's code writes it (this module is written from those facts, not copied):

- ``# Tools\\n\\n## functions\\nnamespace functions {\\n`` + one block per ``"type": "function"`` tool, joined with
  ``\\n``, + ``\\n}\\n``; other tool types are skipped; no function at all gives ``""`` (the template then prints JSON);
- a block is: ``interface parameters {...}`` when the schema refers to itself (``$ref: "#"``), then one
  ``interface <Name> <type>`` per ``$defs`` entry (its description as ``//`` lines before it), then the function's
  description as ``//`` lines, then ``type <name> = (_: <parameters type>) => any;``;
- an object is ``{`` + its fields, required ones first, each group sorted by name, indented two spaces a level and
  joined with ``,\\n``, + ``}`` (``{}`` when empty); ``additionalProperties`` adds ``[k: string]: <type>`` (``any`` for
  true, ``never`` for false); a field is its type's ``//`` description lines, ``// k: v`` constraints (sorted;
  ``maxLength``/``minLength``/``pattern`` on strings, ``maximum``/``minimum`` on numbers, ``minItems``/``maxItems`` on
  arrays), ``// Default: <value>`` unless the default is null, then ``name?: type`` (``?`` when optional);
- ``integer`` is ``number``; an array is ``Array<item>``, or ``Array<\\n<item comments><item>\\n>`` when the item
  has comments; ``enum`` values are joined with `` | `` (strings in double quotes, other values as Python prints them);
  ``anyOf`` joins its branches with `` | ``; a ``type`` list maps each name (object ``{}``, array ``Array<any>``);
  ``$ref`` prints the definition's name; ``{}`` or ``true`` is ``any``, ``false`` is ``null``.

Python's own operations (``str()`` of a value, ``" | ".join``) are used where Moonshot's code uses them, so odd
schemas (a non-string description, an unknown type name) fail, or print, the way they do there.

The tools are the client's: a 30 MB body with a million properties took ~30 s to sort and convert here, before any
template budget started. So the work runs on the render's clock (:mod:`.limits`, ``render_timeout_s``): the
clock is read every 1,024 schema nodes, and a spent budget is the render's own 503 (or, on the event loop, a move to a
counting thread), never a fallback to JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...errors import TokcountError
from . import limits

_INDENT = "  "
_FIELDS = ",\n"
_CONSTRAINTS = {"string": ("maxLength", "minLength", "pattern"), "number": ("maximum", "minimum"),
                "integer": ("maximum", "minimum")}
_ENUM_TYPES: dict[str, type | tuple[type, ...]] = {"string": str, "number": (int, float), "integer": int,
                                                   "boolean": bool}
_UNION = {"string": "string", "number": "number", "integer": "number", "boolean": "boolean", "null": "null",
          "object": "{}", "array": "Array<any>"}


def _clock() -> Callable[[], None]:
    """A step counter that reads the current render budget's clock every 1,024 steps."""
    budget = limits.current()
    steps = 0

    def tick() -> None:
        nonlocal steps
        steps += 1
        if not steps & 1023:
            budget.check_clock()

    return tick


def _no_clock() -> None:
    return None


def deep_sorted(value: Any, tick: Callable[[], None] = _no_clock) -> Any:
    """Every dict's keys sorted, recursively; list order kept (Moonshot's ``deep_sort_dict``)."""
    if isinstance(value, dict):
        tick()
        return {k: deep_sorted(v, tick) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [deep_sorted(v, tick) for v in value]
    return value


def prepare(tools: list[dict[str, Any]] | None) -> tuple[list[dict[str, Any]] | None, str | None]:
    """``(tools, tools_ts_str)`` as Moonshot's ``apply_chat_template`` hands them to the template: the tools
    deep-sorted, and their declarations (None when there are no tools or the conversion fails)."""
    tick = _clock()
    tools = deep_sorted(tools, tick)
    return tools, (declarations(tools, tick) if tools else None)


def declarations(tools: list[Any], tick: Callable[[], None] = _no_clock) -> str | None:
    """The ``tools_ts_str`` text of ``tools`` (already sorted as Moonshot sorts them), or None where Moonshot's
    conversion raises and its tokenizer falls back to the template's JSON."""
    try:
        return _namespace(tools, tick)
    except (TokcountError, limits.OffLoop):
        raise  # the render budget is spent: that is the request's answer, not a reason to print JSON
    except Exception:  # any other failure, as Moonshot's wrapper catches any (RecursionError on absurd nesting)
        return None


class _Unsupported(ValueError):
    pass


@dataclass
class _Type:
    """One parsed schema. ``kind``: scalar, object, array, enum, anyof, union, ref."""

    kind: str
    description: Any = ""
    constraints: dict[str, Any] = field(default_factory=dict)
    #: scalar: the type name (as given); ref: the name printed; union: the mapped names
    name: Any = None
    fields: list[_Field] = field(default_factory=list)
    #: object: additionalProperties (None, True, False, a _Type, or anything else, which fails when rendered)
    extra: Any = None
    #: array: [item]; anyof: the branches
    items: list[_Type] = field(default_factory=list)
    values: Any = None


@dataclass
class _Field:
    name: str
    type: _Type
    optional: bool
    default: Any


@dataclass
class _Registry:
    """One function's ``$defs`` and whether it refers to itself; ``tick`` reads the budget's clock."""

    tick: Callable[[], None]
    definitions: dict[str, Any] = field(default_factory=dict)
    self_ref: bool = False


def _namespace(tools: list[Any], tick: Callable[[], None]) -> str:
    blocks = []
    for tool in tools:
        if tool.get("type") == "function":
            function = tool.get("function", {})
            if function:
                blocks.append(_function(function, tick))
    if not blocks:
        return ""
    return "# Tools\n\n## functions\nnamespace functions {\n" + "\n".join(blocks) + "\n}\n"


def _function(function: Any, tick: Callable[[], None]) -> str:
    registry = _Registry(tick)
    params = _object(function.get("parameters") or {}, registry)
    interfaces = []
    root = None
    if registry.self_ref:  # known only after the parameters are parsed; definitions parsed below do not count
        root = "parameters"
        body = _FIELDS.join(_field(f, _INDENT, registry.tick) for f in params.fields)  # the schema's own order
        interfaces.append(f"interface parameters {{{f'{chr(10)}{body}{chr(10)}' if body else ''}}}")
    for name, schema in dict(registry.definitions).items():
        text = _render(_parse(schema, registry), "", registry.tick)
        about = schema.get("description", "")
        interfaces.append(f"{_comment(about) + chr(10) if about else ''}interface {name} {text}")
    name = function.get("name", "function")
    signature = root if root else _render(params, "", registry.tick)
    description = function.get("description")
    parts = ["\n".join(interfaces), (description and _comment(description)) or "",
             f"type {name} = (_: {signature}) => any;"]
    return "\n".join(p for p in parts if p)


def _comment(text: str, indent: str = "") -> str:
    return "\n".join(f"{indent}// {line}" if line else "" for line in text.split("\n"))


# ------------------------------------------------------------------------------------------------------ parsing
def _base(schema: Any, kind: str, allowed: tuple[str, ...] = (), **rest: Any) -> _Type:
    return _Type(kind, schema.get("description", ""), {k: v for k, v in schema.items() if k in allowed}, **rest)


def _parse(schema: Any, registry: _Registry) -> _Type:
    registry.tick()
    if isinstance(schema, bool):
        return _Type("scalar", name="any" if schema else "null")
    if "$ref" in schema:
        return _ref(schema, registry)
    if "anyOf" in schema:
        return _base(schema, "anyof", items=[_parse(s, registry) for s in schema["anyOf"]])
    if "enum" in schema:
        return _enum(schema)
    if "type" in schema:
        kind = schema["type"]
        if isinstance(kind, list):
            return _base(schema, "union", name=[_UNION[k] for k in kind])
        if kind == "object":
            return _object(schema, registry)
        if kind == "array":
            item = _parse(schema["items"], registry) if schema.get("items") else _Type("scalar", name="any")
            return _base(schema, "array", ("minItems", "maxItems"), items=[item])
        return _base(schema, "scalar", _CONSTRAINTS.get(kind, ()) if isinstance(kind, str) else (), name=kind)
    if schema == {}:
        return _Type("scalar", name="any")
    raise _Unsupported(f"not a JSON schema Moonshot's declarations know: {schema!r}")


def _object(schema: Any, registry: _Registry) -> _Type:
    out = _base(schema, "object")
    if not schema:
        return out
    if schema.get("$defs"):
        registry.definitions.update(schema["$defs"].items())
    extra = schema.get("additionalProperties")
    out.extra = _parse(extra, registry) if isinstance(extra, dict) else extra
    if "properties" not in schema:
        return out
    required = schema.get("required", [])
    optional = set(schema["properties"].keys()) - set(required)
    out.fields = [_Field(name, _parse(prop, registry), name in optional,
                         prop.get("default") if isinstance(prop, dict) else None)
                  for name, prop in schema["properties"].items()]
    return out


def _enum(schema: Any) -> _Type:
    values = schema["enum"]
    if "type" in schema:  # Moonshot checks the values against a declared type and refuses a mismatch
        kind = schema["type"]
        if isinstance(kind, list):
            if len(kind) == 1:
                kind = kind[0]
            elif len(kind) == 2 and "null" in kind:
                kind = kind[0] if kind[0] != "null" else kind[1]
            else:
                raise _Unsupported(f"enum type {kind!r}")
        wanted = _ENUM_TYPES.get(kind) if isinstance(kind, str) else None
        if wanted is not None and any(v is not None and not isinstance(v, wanted) for v in values):
            raise _Unsupported(f"enum values {values!r} are not all {kind}")
    return _base(schema, "enum", values=values)


def _ref(schema: Any, registry: _Registry) -> _Type:
    ref = schema["$ref"]
    if ref == "#":
        registry.self_ref = True
        return _base(schema, "ref", name="parameters")
    if not ref.startswith("#/$defs/"):
        raise _Unsupported(f"reference {ref!r}")
    name = ref.split("/")[-1]
    if name not in registry.definitions:
        raise _Unsupported(f"reference {ref!r} to no definition")
    return _base(schema, "ref", name=name)


# ---------------------------------------------------------------------------------------------------- rendering
def _comments(t: _Type, indent: str) -> str:
    lines = []
    if t.description:
        lines.append(_comment(t.description, indent))
    if t.constraints:
        lines.append(f"{indent}// " + ", ".join(f"{k}: {v}" for k, v in sorted(t.constraints.items())))
    return "".join(line + "\n" for line in lines)


def _field(f: _Field, indent: str, tick: Callable[[], None]) -> str:
    text = _comments(f.type, indent)
    if f.default is not None:
        shown = repr(f.default) if isinstance(f.default, int | float | bool) else json.dumps(f.default,
                                                                                            ensure_ascii=False)
        text += f"{indent}// Default: {shown}\n"
    return text + f"{indent}{f.name}{'?' if f.optional else ''}: {_render(f.type, indent, tick)}"


def _render(t: _Type, indent: str, tick: Callable[[], None]) -> Any:
    tick()
    inner = indent + _INDENT
    if t.kind == "scalar":
        return "number" if t.name == "integer" else t.name  # as given: a non-string fails where it is joined
    if t.kind == "object":
        lines = [_field(f, inner, tick) for f in sorted((f for f in t.fields if not f.optional), key=lambda f: f.name)]
        lines += [_field(f, inner, tick) for f in sorted((f for f in t.fields if f.optional), key=lambda f: f.name)]
        if t.extra is not None:
            if t.extra is True or t.extra is False:
                shown = "any" if t.extra else "never"
            elif isinstance(t.extra, _Type):
                shown = _render(t.extra, inner, tick)
            else:
                raise _Unsupported(f"additionalProperties {t.extra!r}")
            lines.append(f"{inner}[k: string]: {shown}")
        return "{\n" + _FIELDS.join(lines) + f"\n{indent}}}" if lines else "{}"
    if t.kind == "array":
        item = t.items[0]
        about = _comments(item, inner)
        if about:
            return "Array<\n" + about + inner + _render(item, inner, tick) + "\n" + indent + ">"
        return f"Array<{_render(item, indent, tick)}>"
    if t.kind == "enum":
        return " | ".join([f'"{v}"' if isinstance(v, str) else str(v) for v in t.values])
    if t.kind == "anyof":
        return " | ".join([_render(b, indent, tick) for b in t.items])
    if t.kind == "union":
        return " | ".join(t.name)
    return t.name  # ref
