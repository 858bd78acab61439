"""Shared reading of the chat-completion-like count bodies (StepFun, Moonshot): ``model`` + ``messages``."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidRequest
from ..request import Message, Request
from ._fields import arr, model_name, obj
from .openai_chat import check_message_keys, parse_message, parse_tools

CHAT_ROLES = ("system", "user", "assistant", "tool")


def model_of(body: dict[str, Any], default: str) -> str:
    """``model`` as sent (required); ``"default"`` names the server's default model."""
    return model_name(body.get("model"), default, required=True)


def chat_messages(body: dict[str, Any], *, roles: tuple[str, ...] = CHAT_ROLES,
                  non_empty_content: bool = False) -> list[Message]:
    raw = arr(body.get("messages"), "messages", non_empty=True)
    out = []
    for i, m in enumerate(raw):
        where = f"messages[{i}]"
        m = obj(m, where)
        check_message_keys(m, where)  # a typo'd key is named before its absence is
        if m.get("role") not in roles:
            raise InvalidRequest(f"{where}.role must be one of {', '.join(roles)}; got {m.get('role')!r}.",
                                 param=f"{where}.role")
        content = m.get("content")
        if non_empty_content and (content is None or content == "" or content == []) and not m.get("tool_calls"):
            raise InvalidRequest(f"{where}.content must not be empty.", param=f"{where}.content")
        out.append(parse_message(m, where))
    return out


def chat_request(body: dict[str, Any], messages: list[Message]) -> Request:
    return Request(messages=messages, tools=parse_tools(body.get("tools"), "tools"))
