"""Which slice of the calibration set a request belongs to, computed from the canonical request alone.

The accuracy of a closed-model estimate differs a lot by what the request holds (plain text is nearly exact, a
hidden tool prompt is fitted, an image follows a documented formula), so its measured error is kept per slice.
The calibration runner keys its error table with :func:`slice_of` and the server looks the same function's answer
up in that table (:mod:`tokcount.estimate_error`): the two agree by construction, never through a recorded label.

A slice is the request's most decisive feature, in the order the framings' uncertainty grows: media (images, video)
over documents over tool calls over tool definitions over thinking over a system prompt over plain text. The OpenAI
Responses API frames tools and calls differently from Chat Completions, so its requests get a ``responses-`` prefix.
Few slices, so that each has enough measured cases to say something.
"""

from __future__ import annotations

from .request import DocumentPart, ImagePart, Request, ThinkingPart, ToolCallPart, ToolResultPart, VideoPart

#: every slice name :func:`slice_of` returns, before any ``responses-`` prefix, from the most decisive feature down
SLICES = ("image", "document", "tool-calls", "tools", "thinking", "system", "text")


def _parts(req: Request) -> list[object]:
    out: list[object] = []
    for message in req.messages:
        for part in message.parts:
            out.append(part)
            if isinstance(part, ToolResultPart) and isinstance(part.content, list):
                out.extend(part.content)
    return out


def slice_of(req: Request) -> str:
    """The request's slice: one of :data:`SLICES`, prefixed ``responses-`` for an OpenAI Responses request."""
    parts = _parts(req)
    kinds = {type(p) for p in parts}
    if ImagePart in kinds or VideoPart in kinds:
        name = "image"
    elif DocumentPart in kinds:
        name = "document"
    elif ToolCallPart in kinds or ToolResultPart in kinds:
        name = "tool-calls"
    elif req.tools or (req.tool_choice is not None and req.tool_choice.mode != "auto"):
        name = "tools"
    elif req.thinking or ThinkingPart in kinds:
        name = "thinking"
    elif any(m.role in ("system", "developer") for m in req.messages):
        name = "system"
    else:
        name = "text"
    return f"responses-{name}" if req.api == "responses" else name
