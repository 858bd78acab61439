"""Documents for models that take none: what of them an open-weight model can be sent, and the label that says so.

Open-weight chat templates have no document input, and serving engines define no conversion, so a gateway that
forwards an Anthropic ``document`` block or an OpenAI ``file`` part to such a model must send its text. tokcount
counts exactly that: a document whose text is known (plain-text sources, content blocks) becomes a text part in
its place; one whose text is not (a PDF, a URL, a file id) cannot be counted and is left out. Either way the count
is labelled ``exact: false`` with a note, because no engine's own rule is being reproduced.
"""

from __future__ import annotations

from dataclasses import replace

from .request import DocumentPart, Message, Part, Request, TextPart, ToolResultPart


def has_documents(req: Request) -> bool:
    return any(_has(m.parts) for m in req.messages)


def _has(parts: list[Part]) -> bool:
    return any(isinstance(p, DocumentPart) or (isinstance(p, ToolResultPart) and not isinstance(p.content, str)
                                                and _has(list(p.content))) for p in parts)


def inline_documents(req: Request) -> tuple[Request, list[str]]:
    """``req`` with documents replaced by their text (or dropped), and the notes saying which."""
    counted = dropped = 0

    def convert(parts: list[Part]) -> list[Part]:
        nonlocal counted, dropped
        out: list[Part] = []
        for p in parts:
            if isinstance(p, DocumentPart):
                if p.text is not None:
                    counted += 1
                    out.append(TextPart(p.text))
                else:
                    dropped += 1
            elif isinstance(p, ToolResultPart) and not isinstance(p.content, str):
                out.append(replace(p, content=convert(list(p.content))))
            else:
                out.append(p)
        return out

    messages = [m if not _has(m.parts) else Message(m.role, convert(m.parts), m.name, m.content_is_list)
                for m in req.messages]
    notes = []
    if counted:
        notes.append(f"{counted} document(s) counted as their text in place (open models take no documents)")
    if dropped:
        notes.append(f"{dropped} document(s) without known text (PDF, URL or file id) are not in the count")
    return replace(req, messages=messages), notes
