"""Small typed readers for JSON bodies, shared by the dialects, that raise :class:`InvalidRequest` naming the
exact field (``messages[2].content[0].text``) instead of a bare ``KeyError`` deep in the engine."""

from __future__ import annotations

import difflib
import re
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


_ABSENT = object()


def _child(value: Any, step: str | int) -> Any:
    if isinstance(value, list) and isinstance(step, int):
        return value[step] if step < len(value) else _ABSENT
    return value.get(step, _ABSENT) if isinstance(value, dict) else _ABSENT


_STEP = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def unknown_key(body: Any, exc: InvalidRequest) -> InvalidRequest:
    """``exc`` restated when the field it names is absent from its object and a key there is a near spelling of it
    (``{"role": "user", "contnet": "hi"}``: "messages[0] has an unknown key 'contnet'. Did you mean 'content'?").

    Every dialect reads fields with ``obj(raw.get("content"), ...)`` and the like, which see ``None`` and answer
    "must be an array, got null": true, but it hides the typo the client made. Applied once to whatever a
    route's parser refuses (:func:`tokcount.jobs.parse_job`), by walking ``exc.param`` through the body, so every
    dialect's messages name the key, with no change to the parsers; any other error is returned as it was."""
    path = exc.param or ""
    steps: list[str | int] = [int(i) if i else name for i, name in _STEP.findall(path)]
    if not steps or not isinstance(steps[-1], str) or path == "body":
        return exc
    container = body
    for step in steps[:-1]:
        container = _child(container, step)
        if container is _ABSENT:  # the path is not this body's (a parser that read a rewritten copy)
            return exc
    wanted = steps[-1]
    if not isinstance(container, dict) or wanted in container:
        return exc
    close = difflib.get_close_matches(wanted, [k for k in container if isinstance(k, str)], n=1, cutoff=0.75)
    if not close:
        return exc
    where = path[: path.rfind(".")] if "." in path else "body"
    param = f"{where}.{close[0]}" if where != "body" else close[0]
    return type(exc)(f"{where} has an unknown key {close[0]!r}. Did you mean {wanted!r}?", param=param)


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
