"""OpenAI function definitions as the model reads them: TypeScript types in a ``namespace functions`` block.

The switches of :class:`Style` are keys of models/openai_framing.toml (per API shape and model kind); the framing
(framings/openai.py) counts the block's tokens and adds the fitted constants around it. What is known about the
rendering comes from hmarr/openai-chat-tokens (API-validated 2023 counts), the published harmony renderer (object
descriptions as comments, ``// default:`` comments) and the calibration set (docs/closed-models.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ...request import Tool as ToolDef


@dataclass(frozen=True)
class Style:
    """How one API renders a JSON schema as TypeScript (the switches are keys of models/openai_framing.toml)."""

    #: property ``title``s as ``// Title`` comments
    titles: bool = True
    #: comments (title, description, default) on nested objects' properties too, not only the top level
    nested_comments: bool = True
    #: spaces before a nested object's properties
    nest_indent: int = 0
    #: ``// default: ...`` after a property with a ``default``
    defaults: bool = True
    #: the parameter schema's own ``title`` (pydantic's ``get_weather_args``) and ``description`` as comment lines
    #: before the function's description
    schema_comments: bool = False
    #: a function whose ``description`` is ``""`` still gets its (empty) ``//`` comment line
    empty_description: bool = False


def format_functions(tools: list[ToolDef], *, titles: bool = True, style: Style | None = None) -> str:
    """The ``namespace functions`` block the model reads: TypeScript types, comments for the descriptions,
    property titles and defaults. ``$ref``s into ``$defs`` / ``definitions`` are inlined (the model sees types,
    not references)."""
    style = style or Style(titles=titles)
    lines = ["namespace functions {", ""]
    for tool in tools:
        params = tool.parameters or {}
        if style.schema_comments and isinstance(params.get("title"), str) and params["title"]:
            lines.extend(comment_lines(params["title"]))
        if tool.description or (style.empty_description and tool.description is not None):
            lines.extend(comment_lines(tool.description))
        if style.schema_comments and isinstance(params.get("description"), str) and params["description"]:
            lines.extend(comment_lines(params["description"]))
        if isinstance(params.get("properties"), dict) and params["properties"]:
            lines.append(f"type {tool.name} = (_: {{")
            lines.append(_Schema(style, params).properties(params, 0))
            lines.append("}) => any;")
        else:
            lines.append(f"type {tool.name} = () => any;")
        lines.append("")
    lines.append("} // namespace functions")
    return "\n".join(lines)


def comment_lines(text: str) -> list[str]:
    """A description as comment lines: stripped, then each line trimmed and prefixed with ``// `` (``//`` alone
    for a blank line). Measured: the 159-line description of Mirascope's caching-tool cassettes (+17 tokens over
    one raw comment) and a docstring with an indented ``Args:`` block (-1) both come out exact this way."""
    return [f"// {line.strip()}".rstrip() for line in text.strip().split("\n")]


#: nested ``$ref`` expansions rendered before the rest is ``any`` (a schema of definitions referring to each other)
MAX_REF_DEPTH = 8


class _Schema:
    """One tool's parameter schema, rendered with ``$ref``s resolved against its own definitions."""

    def __init__(self, style: Style, root: dict[str, Any]) -> None:
        self.style = style
        self.expanding: list[str] = []
        self.defs: dict[str, Any] = {}
        for key in ("$defs", "definitions"):
            if isinstance(root.get(key), dict):
                self.defs.update({f"#/{key}/{name}": d for name, d in root[key].items()})

    def resolve(self, prop: Any, depth: int = 0) -> dict[str, Any]:
        if not isinstance(prop, dict):
            return {}
        ref = prop.get("$ref")
        if isinstance(ref, str) and ref in self.defs and depth < 16:
            merged = {**self.resolve(self.defs[ref], depth + 1), **{k: v for k, v in prop.items() if k != "$ref"}}
            return merged
        return prop

    def properties(self, obj: dict[str, Any], indent: int) -> str:
        style = self.style
        raw_required, raw_props = obj.get("required"), obj.get("properties")
        required: list[Any] = raw_required if isinstance(raw_required, list) else []
        props: dict[str, Any] = raw_props if isinstance(raw_props, dict) else {}
        comments = indent == 0 or style.nested_comments
        lines: list[str] = []
        for name, raw in props.items():
            prop = self.resolve(raw)
            described = isinstance(prop.get("description"), str) and bool(prop["description"])
            if comments and style.titles and isinstance(prop.get("title"), str):
                lines.append(f"// {prop['title']}")
                if described:
                    lines.append("//")  # a title is set off from a description by an empty comment line
            if comments and described:
                lines.extend(comment_lines(prop["description"]))
            mark = "" if name in required else "?"
            line = f"{name}{mark}: {self.type(raw if isinstance(raw, dict) else {}, indent)},"
            if comments and style.defaults and "default" in prop:
                line += f" // default: {_default(prop)}"
            lines.append(line)
        return "\n".join(" " * indent + line for line in lines)

    def type(self, prop: dict[str, Any], indent: int) -> str:
        """The TypeScript type; a ``$ref`` already being expanded (a recursive schema) is ``any``."""
        ref = prop.get("$ref") if isinstance(prop, dict) else None
        if not (isinstance(ref, str) and ref in self.defs):
            return self._type(self.resolve(prop), indent)
        if ref in self.expanding or len(self.expanding) >= MAX_REF_DEPTH:
            return "any"
        self.expanding.append(ref)
        try:
            return self._type(self.resolve(prop), indent)
        finally:
            self.expanding.pop()

    def _type(self, prop: dict[str, Any], indent: int) -> str:
        kind = prop.get("type")
        if isinstance(kind, list):  # ["string", "null"] -> string | null
            return " | ".join(self.type({**prop, "type": k}, indent) for k in kind)
        enum = prop.get("enum") if isinstance(prop.get("enum"), list) else None
        if kind == "string" or (kind is None and enum and all(isinstance(v, str) for v in enum)):
            return " | ".join(json.dumps(v, ensure_ascii=False) for v in enum) if enum else "string"
        if kind in ("number", "integer"):
            return " | ".join(str(v) for v in enum) if enum else "number"
        if kind in ("boolean", "null"):
            return kind
        if kind == "object" or "properties" in prop:
            return "\n".join(["{", self.properties(prop, indent + self.style.nest_indent), "}"])
        if kind == "array":
            items = prop.get("items")
            return f"{self.type(items, indent)}[]" if isinstance(items, dict) else "any[]"
        for key in ("anyOf", "oneOf"):
            if isinstance(prop.get(key), list):
                return " | ".join(self.type(p, indent) for p in prop[key] if isinstance(p, dict))
        return "any"


def uncommented(tool: ToolDef, style: Style) -> bool:
    """The function has parameters and none of its top-level properties gets a comment line."""
    props = (tool.parameters or {}).get("properties")
    if not isinstance(props, dict) or not props:
        return False
    schema = _Schema(style, tool.parameters or {})
    for raw in props.values():
        prop = schema.resolve(raw)
        if prop.get("description") or (style.titles and isinstance(prop.get("title"), str)) or (
                style.defaults and "default" in prop):
            return False
    return True


def _default(prop: dict[str, Any]) -> str:
    """A default as a comment shows it: a free string quoted, an enum member bare, anything else as JSON."""
    value = prop["default"]
    if isinstance(value, str):
        return value if prop.get("enum") else json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
