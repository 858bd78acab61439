"""The canonical request every API shape parses into; the engine never sees a provider's own shape.

Dataclasses rather than pydantic models: they are built once per request on the hot path and only read
afterwards, and validation already happened in the dialect that built them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "developer", "user", "assistant", "tool"]


@dataclass(slots=True)
class TextPart:
    text: str
    type: Literal["text"] = "text"


@dataclass(slots=True)
class ImagePart:
    """An image given by URL, data URL or local path; ``width``/``height`` when the caller already knows them."""

    url: str
    detail: str | None = None
    width: int | None = None
    height: int | None = None
    type: Literal["image"] = "image"


@dataclass(slots=True)
class VideoPart:
    url: str
    type: Literal["video"] = "video"


@dataclass(slots=True)
class DocumentPart:
    """A document (PDF or plain text) attached to a message; ``text`` when its text is known."""

    source: str | None = None
    media_type: str | None = None
    text: str | None = None
    #: the caller's title / filename: no local framing counts it, the upstream passthrough forwards it
    title: str | None = None
    type: Literal["document"] = "document"


@dataclass(slots=True)
class ToolCallPart:
    """An assistant's call of a tool, with the three views of its arguments the renderers need, derived once here.

    Every renderer used to reconcile "the object or the text as sent" itself, with two different precedences; the
    views below are the only place that decision is made. The parsed views are computed at construction (the
    dialect parsed the arguments there before anyway), the text on first read (an object is serialized only when a
    renderer prints it); none changes afterwards: a part is read-only after parsing."""

    name: str
    #: the arguments as the caller sent them: an object (Anthropic, Gemini, HF) or JSON text (OpenAI)
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None
    type: Literal["tool_call"] = "tool_call"
    #: the text parsed as JSON (any JSON value, e.g. a list), or the text itself when it does not parse
    arguments_value: Any = field(init=False, repr=False, compare=False)
    #: what a chat template receives: the object when the arguments are a JSON object, else the text as sent
    #: (vLLM parses JSON-object strings; anything else reaches the template unchanged, and most templates raise)
    arguments_object: dict[str, Any] | str = field(init=False, repr=False, compare=False)
    _text: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.arguments, str):
            try:
                self.arguments_value = json.loads(self.arguments)
            except ValueError:
                self.arguments_value = self.arguments
            value = self.arguments_value
            self.arguments_object = value if isinstance(value, dict) else self.arguments
        else:
            self.arguments_value = self.arguments_object = self.arguments

    @property
    def arguments_text(self) -> str:
        """The arguments as text: exactly as sent, or the object as ``json.dumps(ensure_ascii=False)`` (how vLLM and
        the string-wanting templates print it)."""
        if self._text is None:
            args = self.arguments
            self._text = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
        return self._text


@dataclass(slots=True)
class ToolResultPart:
    """The result of a tool call; ``content`` is the text or the parts (text, images) the tool returned."""

    content: str | list[Part]
    tool_call_id: str | None = None
    name: str | None = None
    is_error: bool = False
    type: Literal["tool_result"] = "tool_result"
    _text: str | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def texts(self) -> list[str]:
        """The result's text pieces: the string, or the text parts in order (images and documents left out)."""
        if isinstance(self.content, str):
            return [self.content]
        return [q.text for q in self.content if isinstance(q, TextPart)]

    @property
    def text(self) -> str:
        """The result as one text, pieces joined by newlines: how every renderer but OpenAI's flattens it.

        Cached on first read (closed-model framings and attribution read it several times per request)."""
        if self._text is None:
            self._text = "\n".join(self.texts)
        return self._text


@dataclass(slots=True)
class ThinkingPart:
    """Reasoning the assistant produced; ``redacted`` when only an opaque blob was returned."""

    text: str
    redacted: bool = False
    type: Literal["thinking"] = "thinking"


Part = TextPart | ImagePart | VideoPart | DocumentPart | ToolCallPart | ToolResultPart | ThinkingPart


@dataclass(slots=True)
class Message:
    role: Role
    parts: list[Part] = field(default_factory=list)
    name: str | None = None
    #: the content was given as a list of parts (not a plain string); templates may render the two differently
    content_is_list: bool = False

    def text(self) -> str:
        """The visible text of the message, text parts joined by newlines (how vLLM flattens a list)."""
        return "\n".join(p.text for p in self.parts if isinstance(p, TextPart))


@dataclass(slots=True)
class Tool:
    """A tool (function) definition; ``parameters`` is its JSON schema."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    #: extra fields of the original definition (``strict``, ...) that some templates print
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ToolChoice:
    """How the model may use tools: ``auto``, ``none``, ``required``/``any``, or ``tool`` with a name."""

    mode: Literal["auto", "none", "required", "tool"] = "auto"
    name: str | None = None


@dataclass(slots=True)
class Request:
    """A chat request as a model sees it: messages (system ones included, in order), tools and options."""

    messages: list[Message]
    tools: list[Tool] = field(default_factory=list)
    tool_choice: ToolChoice | None = None
    #: the thinking switch of hybrid models (``None`` = the template's default)
    thinking: bool | None = None
    #: how thinking was switched on when the dialect says (Anthropic ``"enabled"`` / ``"adaptive"``)
    thinking_kind: str | None = None
    #: extra variables for the chat template (``chat_template_kwargs`` in vLLM)
    template_kwargs: dict[str, Any] = field(default_factory=dict)
    #: ``None`` = decide from the last message (prompt a reply unless it is the assistant's)
    add_generation_prompt: bool | None = None
    #: the API shape the request came in when it changes a closed model's framing (``"responses"``: OpenAI
    #: Responses, which prices tool definitions and calls differently from Chat Completions), or the platform
    #: that serves it (``"gemini"``, ``"vertex"``: their own rules, and the catalog's ``[[hosted]]`` entries)
    api: str | None = None
    #: a structured-output format (Chat ``response_format``, Responses ``text.format``) other than plain text
    response_format: dict[str, Any] | None = None
    #: what the dialect accepted because the provider does, but could count only approximately or not at all
    #: (a replayed hosted-tool item, a stored item referenced by id): a count of this request says so in its notes
    #: and is never labelled exact (docs/accepted-bodies.md)
    notes: list[str] = field(default_factory=list)


#: part kinds that never need the media or document passes
TEXT_ONLY = frozenset({TextPart, ThinkingPart, ToolCallPart})


def text_only(request: Request) -> bool:
    """Whether every part of every message is text, reasoning, a tool call or a tool result whose content is a
    string: one pass over the parts' types (and one over the tool results), so the media and document passes
    (0.1-0.5 ms each on 1,000 messages) run only for requests that may need them. A kind not listed (a subclass
    too) says False, and those passes decide."""
    kinds = {type(p) for m in request.messages for p in m.parts}
    if kinds <= TEXT_ONLY:
        return True
    if kinds - TEXT_ONLY != {ToolResultPart}:
        return False
    # tool results (agent traces have one a turn): text-only when their content is a string
    return all(type(p.content) is str for m in request.messages for p in m.parts if type(p) is ToolResultPart)
