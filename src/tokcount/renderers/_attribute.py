"""Splitting a total into system, tools, each message and the template's framing (``Count.breakdown``).

Shared by the renderers whose prompt is real text plus ids (Jinja, Mistral); the closed framings build their
breakdown as they count.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..request import Message, Request, TextPart, ThinkingPart, ToolCallPart, ToolResultPart

SYSTEM_ROLES = ("system", "developer")


def pieces(msg: Message) -> list[str]:
    """The content strings of a message as a template prints them, for attribution."""
    out: list[str] = []
    for p in msg.parts:
        if isinstance(p, TextPart | ThinkingPart):
            out.append(p.text)
        elif isinstance(p, ToolCallPart):
            out.extend((p.name, p.arguments_text))
        elif isinstance(p, ToolResultPart):
            out.extend(p.texts)
    return [s for s in out if s]


def attribute(req: Request, total: int, tools: int, count_text: Callable[[str], int],
              prompt: str | None) -> dict[str, Any]:
    """Split ``total`` into system, tools, each message's content, and the template's framing (the rest).

    Content the template dropped (absent from ``prompt``, e.g. earlier turns' reasoning) is attributed 0.
    """
    system = 0
    messages: list[int] = []
    for msg in req.messages:
        n = sum(count_text(s) for s in pieces(msg) if prompt is None or s in prompt)
        if msg.role in SYSTEM_ROLES:
            system += n
        else:
            messages.append(n)
    return {
        "system": system,
        "tools": tools,
        "messages": messages,
        "template": total - system - tools - sum(messages),
    }
