"""OpenAI chat framing: how the API turns messages and function definitions into prompt tokens.

Message framing (OpenAI cookbook "How to count tokens with tiktoken", verified there against the API for
gpt-3.5-turbo, gpt-4, gpt-4o and gpt-4o-mini): every message costs 3 tokens (``<|start|>{role}\\n ... <|end|>``
minus the role) plus its role and content, a ``name`` joins the role as ``{role}:{name}`` (counted as one text: the
colon is the cookbook's ``tokens_per_name = 1`` unless BPE merges it, as in ``:user``), and every reply is primed with 3
(``<|start|>assistant<|message|>``).

Function/tool definitions are shown to the model as TypeScript in a ``namespace functions { ... }`` block of the
system message. The per-request constants (+9 for the block, -4 when a system message exists because the block
joins it, the first system message gaining a newline, +1 for ``tool_choice: none``, name + 4 for a forced tool,
-2 for a function-result message, +3 per call) are the ones measured by hmarr/openai-chat-tokens against the
API; with them the cookbook's ``get_current_weather`` request gives its published 105 (gpt-3.5-turbo, gpt-4) and
101 (gpt-4o, gpt-4o-mini). They are reverse-engineered, so counts with tools are labelled ``exact: false``.
The TypeScript rendering itself is :mod:`.tools`; what the calibration set added on top (a function
named ``functions.{name}`` as one text where the prompt names it, the results of parallel calls as one JSON-array
message, the Responses schema comments) is in docs/closed-models.md, every number in
openai_framing.toml.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from ... import rules_data
from ...errors import MediaError
from ...media.rules import Rule, rule_for
from ...media.sources import FetchPolicy
from ...models.catalog import ModelSpec
from ...request import DocumentPart, ImagePart, Message, Request, TextPart, ThinkingPart, ToolCallPart, ToolResultPart
from ...token_count import Count, split
from ...tokenizers.openai_bpe import OpenAIEncoder, encoder
from .._image_size import image_size
from ..jinja.prepare import split_tool_results
from .tools import Style, format_functions, uncommented

__all__ = [
    "Style",
    "count",
    "count_text",
    "format_functions",
    "image_tokens",
    "model_of",
    "parallel_call",
    "rules_for",
    "text_encoder",
]

RULES_FILE = "openai_framing.toml"


@dataclass(frozen=True)
class Rules:
    """The framing's constants for one model kind and API shape (documented in renderers/openai/openai_framing.toml)."""

    tokens_per_message: int
    tokens_per_name: int
    function_prefix: str
    reply_priming: int
    functions_block: int
    system_merge: int
    pad_system: bool
    function_result: int
    call_overhead: int
    compact_arguments: bool
    parallel_wrapper: bool
    parallel_overhead: int
    choice_none: int
    choice_named: int
    title_comments: bool
    nested_comments: bool
    nest_indent: int
    default_comments: bool
    uncommented_params: int
    chat_tools_block: int
    responses_tools_block: int
    parallel_results_json: bool
    parallel_results: int
    schema_comments: bool
    empty_description: bool

    def style(self) -> Style:
        return Style(titles=self.title_comments, nested_comments=self.nested_comments,
                     nest_indent=self.nest_indent, defaults=self.default_comments, schema_comments=self.schema_comments,
                     empty_description=self.empty_description)


@lru_cache(maxsize=1)
def _rule_tables() -> dict[str, dict[str, Any]]:
    return rules_data.load(RULES_FILE)


@lru_cache(maxsize=32)
def rules_for(kind: str, api: str | None) -> Rules:
    """[chat], then the model kind's section, then the API's section (``responses``) on top."""
    tables = _rule_tables()
    merged = dict(tables["chat"])
    for section in (kind, api):
        if section and section != "chat":
            merged.update(tables.get(section, {}))
    return Rules(**merged)


@dataclass(frozen=True)
class OpenAIModel:
    encoding: str
    #: the image rule the catalog's ``vision`` names (media/rules.toml); None for a model that takes no images
    image: Rule | None
    #: framing verified against published API counts for this model family
    verified: bool
    #: section of openai_framing.toml: "chat" (gpt-3.5/4/4o/4.1), "reasoning" (gpt-5) or "o-series"
    kind: str = "chat"
    #: the image rule reproduced the API's counts for this family (bench/calibrate.py)
    image_verified: bool = False


def model_of(spec: ModelSpec) -> OpenAIModel:
    extra = spec.extra
    return OpenAIModel(encoding=extra.get("encoding", "o200k_base"), image=rule_for(spec.vision),
                       verified=bool(extra.get("framing_verified", False)), kind=str(extra.get("framing", "chat")),
                       image_verified=bool(extra.get("image_verified", False)))


def text_encoder(spec: ModelSpec) -> OpenAIEncoder:
    return encoder(model_of(spec).encoding)


# ------------------------------------------------------------------ images


def image_tokens(model: OpenAIModel, width: int, height: int, detail: str | None) -> int:
    """OpenAI's documented image cost: the model's rule in media/rules.toml (512 px tiles or 32 px patches)."""
    if model.image is None:
        raise MediaError("this model takes no images (its catalog entry names no vision rule).", param="messages")
    return model.image.tokens(width, height, {"detail": detail})


# ------------------------------------------------------------------ the count


def count(spec: ModelSpec, req: Request, *, breakdown: bool = True, return_tokens: bool = False,
          media_policy: FetchPolicy | None = None) -> Count:
    """OpenAI's count of ``req``; ``media_policy`` is how image sizes may be read (the CLI's local files)."""
    req = replace(req, messages=split_tool_results(req.messages))  # OpenAI bills each tool result as a tool message
    model = model_of(spec)
    rules = rules_for(model.kind, req.api)
    enc = encoder(model.encoding)
    notes: list[str] = []
    approximate: list[str] = []
    images: list[int] = []
    call_names = {p.id: p.name for m in req.messages for p in m.parts if isinstance(p, ToolCallPart) and p.id}
    has_system = any(m.role in ("system", "developer") for m in req.messages)
    padded = False
    system = 0
    per_message: list[int] = []
    framing = 0
    for msg in _merge_parallel_results(req.messages, rules):
        if isinstance(msg, ParallelResults):
            per_message.append(enc.count(msg.text()))
            framing += rules.tokens_per_message + rules.parallel_results
            approximate.append("tool results (function-message framing measured by hmarr/openai-chat-tokens)")
            continue
        pad = rules.pad_system and bool(req.tools) and msg.role in ("system", "developer") and not padded
        padded = padded or pad
        content, frame = _message_tokens(enc, spec.id, model, rules, msg, call_names, pad=pad,
                                         approximate=approximate, images=images, policy=media_policy)
        framing += frame
        if msg.role in ("system", "developer"):
            system += content
        else:
            per_message.append(content)
    framing += rules.reply_priming
    tools = 0
    if req.tools:
        tools = (enc.count(format_functions(req.tools, style=rules.style())) + rules.functions_block
                 + (rules.system_merge if has_system else 0)
                 + rules.uncommented_params * sum(uncommented(t, rules.style()) for t in req.tools))
        tools += rules.responses_tools_block if req.api == "responses" else rules.chat_tools_block
        approximate.append("tool definitions (TypeScript namespace; constants measured by hmarr/openai-chat-tokens)")
    choice = req.tool_choice
    if choice is not None and req.tools:
        if choice.mode == "none":
            tools += rules.choice_none
        elif choice.mode == "tool" and choice.name:
            tools += enc.count(rules.function_prefix + choice.name) + rules.choice_named
        elif choice.mode == "required":
            notes.append("tool_choice 'required' is counted like 'auto' (its cost is not published)")
    if req.response_format is not None:
        approximate.append("structured-output format (response_format / text.format) not counted: OpenAI adds "
                           "its schema to the prompt in a form not reproduced here (+63 and +154 tokens on two "
                           "recorded requests)")
    total = system + tools + sum(per_message) + framing
    exact = not approximate and model.verified
    if not model.verified:
        notes.append(f"{spec.id}: message framing of its family assumed (not verified against counts the API "
                     "returned)")
    notes.extend(f"estimated: {a}" for a in dict.fromkeys(approximate))
    result = Count(model=spec.id, input_tokens=total, exact=exact,
                   method=f"openai-chat-framing+{model.encoding}+{enc.engine}",
                   context_window=spec.context_window, notes=notes, modalities=split(total, image=sum(images)))
    if breakdown:
        result.breakdown = {"system": system, "tools": tools, "messages": per_message,
                            "template": framing}
    if return_tokens:
        ids = [i for m in req.messages for t in _texts(m) for i in enc.encode(t)]
        result.partial_tokens(f"the ids of the messages' text only ({len(ids)} of {total}); OpenAI publishes no ids "
                              "for its chat framing, tools and images, which are counted, not listed")
        result.tokens = ids
        result.token_strings = [enc.id_to_string(i) for i in ids]
    return result


@dataclass(frozen=True)
class ParallelResults:
    """The results of a turn's parallel calls, as the model reads them: one message from
    ``multi_tool_use.parallel`` whose content is the JSON array of the outputs (Python's ``json.dumps``: ASCII
    escapes, ``", "`` and ``": "``), an output that is itself a JSON object or array embedded as a value, any other
    output as a string. Measured: 13 framing tokens on top of that array for two and for three calls alike (gpt-4o,
    gpt-4o-mini), on Mirascope, crewAI and Arize-ai/openinference recordings up to 63k tokens of results."""

    results: tuple[ToolResultPart, ...]

    def text(self) -> str:
        return json.dumps([_result_value(_result_text(r)) for r in self.results])


def _result_value(text: str) -> Any:
    """A tool output as the parallel results carry it: the parsed JSON object or array, else the string."""
    if text[:1] not in ("{", "[") and text.lstrip()[:1] not in ("{", "["):
        return text
    try:
        value = json.loads(text)
        json.dumps(value)  # as deep as loads allows, but the encoder's own limit decides
    except (ValueError, RecursionError):
        return text
    return value if isinstance(value, (dict, list)) else text


def _merge_parallel_results(messages: list[Message], rules: Rules) -> list[Message | ParallelResults]:
    """The messages with the tool results answering a turn of 2+ calls merged into one :class:`ParallelResults`
    (where the API shows parallel calls as one ``multi_tool_use.parallel`` call): the results that follow the turn,
    matched by call id (in order when the calls carry none), at most one per call."""
    if not rules.parallel_results_json:
        return list(messages)
    out: list[Message | ParallelResults] = []
    i = 0
    while i < len(messages):
        msg = messages[i]
        out.append(msg)
        i += 1
        calls = [p for p in msg.parts if isinstance(p, ToolCallPart)]
        if len(calls) < 2:
            continue
        known = {p.id for p in calls if p.id}
        results: list[ToolResultPart] = []
        while i < len(messages) and len(results) < len(calls):
            parts = messages[i].parts
            if not (len(parts) == 1 and isinstance(parts[0], ToolResultPart)
                    and (not known or parts[0].tool_call_id in known)):
                break
            results.append(parts[0])
            i += 1
        if results:
            out.append(ParallelResults(tuple(results)))
    return out


def _result_text(p: ToolResultPart) -> str:
    """A tool result's text as the fitted Chat Completions framing counts it: the text parts joined with no
    separator (the one renderer that does not use ``ToolResultPart.text``; changing it would move every fitted
    gpt count with list-valued tool results)."""
    return "".join(p.texts)


def _texts(msg: Message) -> list[str]:
    out: list[str] = []
    for p in msg.parts:
        if isinstance(p, TextPart):
            out.append(p.text)
        elif isinstance(p, ToolResultPart):
            out.append(_result_text(p))
        elif isinstance(p, ToolCallPart):
            out.extend([p.name, _arguments(p)])
    return out


PARALLEL_RECIPIENT = " to=multi_tool_use.parallel"


def parallel_call(calls: list[ToolCallPart]) -> str:
    """The one call a turn with several calls becomes: multi_tool_use.parallel with each call as a tool use."""
    uses = [{"recipient_name": f"functions.{p.name}", "parameters": p.arguments_value} for p in calls]
    return json.dumps({"tool_uses": uses}, ensure_ascii=False, separators=(",", ":"))


def _arguments(p: ToolCallPart, *, compact: bool = False) -> str:
    """The arguments as counted: as sent, or re-serialized as compact JSON (what Chat Completions stores)."""
    if compact and not isinstance(p.arguments_value, str):
        return json.dumps(p.arguments_value, ensure_ascii=False, separators=(",", ":"))
    return p.arguments_text


def _message_tokens(enc: OpenAIEncoder, spec_id: str, model: OpenAIModel, rules: Rules, msg: Message,
                    call_names: dict[str, str], *, pad: bool, approximate: list[str], images: list[int],
                    policy: FetchPolicy | None) -> tuple[int, int]:
    """(content tokens, framing tokens) of one message; each image's tokens are also appended to ``images``."""
    frame = rules.tokens_per_message  # + the header (role, name): at the end
    content = 0
    calls = [p for p in msg.parts if isinstance(p, ToolCallPart)]
    if len(calls) > 1:
        frame += rules.parallel_overhead
        if rules.parallel_wrapper:
            content += enc.count(PARALLEL_RECIPIENT) + enc.count(parallel_call(calls))
    text = "".join(p.text for p in msg.parts if isinstance(p, TextPart))
    if pad:
        text += "\n"
    content += enc.count(text)
    name = msg.name
    for p in msg.parts:
        if isinstance(p, ImagePart):
            size = image_size(p, policy)
            if size is None:
                approximate.append("image of unknown size counted as 1024x1024 (give width/height or a data URL)")
                size = (1024, 1024)
            if model.image is None:
                raise MediaError(f"{spec_id} takes no images (its catalog entry names no vision rule).",
                                 param="messages")
            n = image_tokens(model, size[0], size[1], p.detail)
            content += n
            images.append(n)
            if not model.image_verified:
                approximate.append("image tokens (documented rule, not checked against the API for this family)")
        elif isinstance(p, ToolCallPart):
            if len(calls) == 1 or not rules.parallel_wrapper:
                content += enc.count(p.name) + enc.count(_arguments(p, compact=rules.compact_arguments))
                frame += rules.call_overhead
            approximate.append("tool calls (constants fitted on the calibration set)")
        elif isinstance(p, ToolResultPart):
            content += enc.count(_result_text(p))
            name = name or p.name or call_names.get(p.tool_call_id or "")
            frame += rules.function_result
            approximate.append("tool results (function-message framing measured by hmarr/openai-chat-tokens)")
        elif isinstance(p, DocumentPart):
            content += enc.count(p.text or "")
            approximate.append("file inputs: only their known text is counted")
        elif isinstance(p, ThinkingPart):
            pass  # reasoning items are not re-sent to the model as prompt text
    if msg.name and msg.role in SPEAKERS:
        return content, frame + enc.count(f"{msg.role}:{msg.name}")
    return content, frame + enc.count(msg.role) + (enc.count(rules.function_prefix + name) + rules.tokens_per_name
                                                   if name else 0)


#: roles whose ``name`` field joins the role in the message header as ``{role}:{name}``, counted as one text:
#: BPE merges across the colon, so ``user:user`` is 2 tokens (``user``, ``:user``), not the role + name + 1 of
#: counting the pieces apart (the API answers one token fewer for a message named ``user``, however many other
#: names the request has). For most names the colon stays a token of its own: the cookbook's
#: ``tokens_per_name = 1``.
SPEAKERS = frozenset({"system", "developer", "user", "assistant"})



def count_text(spec: ModelSpec, text: str, *, return_tokens: bool = False) -> Count:
    """Tokens of raw text in the model's encoding (special-token text counted as ordinary text)."""
    model = model_of(spec)
    enc = encoder(model.encoding)
    result = Count(model=spec.id, input_tokens=enc.count(text), exact=True,
                   method=f"text+{model.encoding}+{enc.engine}", context_window=spec.context_window)
    if return_tokens:
        result.tokens = enc.encode(text)
        result.token_strings = [enc.id_to_string(i) for i in result.tokens]
    return result
