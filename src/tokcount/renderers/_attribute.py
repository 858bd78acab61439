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


def _printed(prompt: str, s: str, pos: int) -> tuple[str, int] | None:
    """``s`` as the template printed it, and where (-1: only before ``pos``), or None when it is not in ``prompt``.

    Many templates trim content (Qwen3.5's ``content|trim``, GLM's ``.strip()`` of an assistant turn), so a message
    ending in a newline or a space is printed without it; looked up whole only, it was not found, counted 0 and its
    tokens given to the template (qwen3.5: ``[0, 0, 8]`` + 73 instead of ``[23, 25, 8]`` + 25). The forms are tried
    whole first, then trimmed at the end, at the start, at both ends: the longest form the prompt holds."""
    forms = [f for f in dict.fromkeys((s, s.rstrip(), s.lstrip(), s.strip())) if f]
    for form in forms:
        at = prompt.find(form, pos)
        if at >= 0:
            return form, at
    for form in forms:
        if form in prompt:
            return form, -1
    return None


def attribute(req: Request, total: int, tools: int, count_text: Callable[[str], int],
              prompt: str | None, count_many: Callable[[list[str]], list[int]] | None = None) -> dict[str, Any]:
    """Split ``total`` into system, tools, each message's content, and the template's framing (the rest).

    Content the template dropped (absent from ``prompt``, e.g. earlier turns' reasoning) is attributed 0. Only
    asked for by callers that show the split (the server never does). ``count_many`` (one batch call for every
    string) is used when the tokenizer has one; ``prompt`` is searched forward from the previous find, since
    templates print messages in order (a miss falls back to a search of the whole prompt, so the outcome is that of
    ``s in prompt`` for every string, in linear rather than quadratic time).
    """
    owners: list[int] = []
    strings: list[str] = []
    pos = 0
    for i, msg in enumerate(req.messages):
        for s in pieces(msg):
            if prompt is not None:
                printed = _printed(prompt, s, pos)
                if printed is None:
                    continue
                s, at = printed
                if at >= 0:
                    pos = at + len(s)
            owners.append(i)
            strings.append(s)
    counts = count_many(strings) if count_many is not None else [count_text(s) for s in strings]
    per_message = [0] * len(req.messages)
    for i, n in zip(owners, counts, strict=True):
        per_message[i] += n
    system = 0
    messages: list[int] = []
    for msg, n in zip(req.messages, per_message, strict=True):
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
