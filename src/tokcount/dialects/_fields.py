"""Small typed readers for JSON bodies, shared by the dialects, that raise :class:`InvalidRequest` naming the
exact field (``messages[2].content[0].text``) instead of a bare ``KeyError`` deep in the engine."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidRequest, SchemaError


def obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidRequest(f"{where} must be an object, got {type_name(value)}.", param=where)
    return value


def arr(value: Any, where: str, *, non_empty: bool = False) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidRequest(f"{where} must be an array, got {type_name(value)}.", param=where)
    if non_empty and not value:
        raise InvalidRequest(f"{where} must not be empty.", param=where)
    return value


def repeated(value: Any, where: str) -> list[Any]:
    """A repeated message field read as Google's JSON parser reads it (Gemini): an array; ``null`` or absent, no
    elements (proto3 JSON: null is the default); or one object on its own, one element (``"parts": {"text": "Hi"}``
    is ``[{"text": "Hi"}]``, which Google's API answers 200 and clients send). Anything else is refused as
    :func:`arr` refuses it, as Google refuses it."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [value]
    return arr(value, where)


def string(value: Any, where: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"{where} must be a string, got {type_name(value)}.", param=where)
    return value


def default_or(name: str, default: str) -> str:
    """``"default"`` names the configured default model: the one place every dialect resolves it."""
    return default if name.strip() == "default" else name


def model_name(value: Any, default: str, *, required: bool, where: str = "model") -> str:
    """The model a body asks for. ``required``: a missing or empty ``model`` is refused (StepFun, Moonshot,
    Anthropic, Bifrost); otherwise it means the default model (OpenAI Responses, vLLM)."""
    name = string(value, where, optional=not required)
    if name is None or not name.strip():
        if required:
            raise InvalidRequest(f"{where} must not be empty.", param=where)
        return default
    return default_or(name, default)


def boolean(value: Any, where: str, *, default: bool | None = None) -> bool | None:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidRequest(f"{where} must be a boolean, got {type_name(value)}.", param=where)
    return value


def type_name(value: Any) -> str:
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def tool_arguments(value: Any, where: str) -> dict[str, Any] | str:
    """Tool-call arguments as the caller sent them (an object, or its JSON text; absent is ``{}``), checked.

    OpenAI sends a JSON string; Anthropic and HF send an object. The text is parsed once, by ``ToolCallPart``
    (which keeps both views); an unparseable string stays text so the template decides (most raise, which the
    oracle does too) instead of failing here.
    """
    if value is None:
        return {}
    if isinstance(value, dict | str):
        return value
    raise InvalidRequest(f"{where} must be a JSON string or an object, got {type_name(value)}.", param=where)


def check_depth(value: Any, limit: int, *, start: int = 1, where: str = "body") -> None:
    """Refuse JSON nested deeper than ``limit`` levels (the ``max_json_depth`` setting) with a :class:`SchemaError`
    naming ``where``. ``start`` is the depth ``value`` itself sits at: a JSON text carried inside the body (Bedrock's
    ``invokeModel`` body) is held to what the request's limit leaves it, as if it had been written inline."""
    stack: list[tuple[Any, int]] = [(value, start)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise SchemaError(f"The JSON body is nested deeper than {limit} levels.", param=where)
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item if isinstance(v, dict | list))
