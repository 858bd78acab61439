"""Claude: an offline *estimate* (Anthropic publishes no tokenizer for Claude 3 and later).

The estimate renders the request roughly as Claude's prompt is known to look and counts the rendering with
Claude's text tokenizer as ctok reconstructs it, or a proxy where ctok is missing; the constants per model family
are data (``claude_rules.toml``), fitted on recorded count_tokens answers (``bench/calibrate.py``;
docs/closed-models-accuracy.md gives the error per slice):

* **Text**: ctok's table of the model's generation (``tokenizer``: v3 for Claude 3 to Opus 4.6, v4.7, v4.8 for
  Opus 4.8 and Claude 5; :mod:`tokcount.tokenizers.claude`), which reproduces the API's count of a text sent alone.
  A request's first ``claude_ctok_chars`` characters (setting) are counted so, part by part in order; the rest,
  and everything where ctok is not installed (it needs Python 3.12), by the **proxy**: o200k_base (bundled, fast),
  cut at line breaks first, x ``text_ratio`` (o200k merges punctuation and indentation into the following newline,
  ``!\n\n``, ``\n  ``, Claude's tokenizer does not), x ``text_scale`` on Claude 4.7+ (Anthropic: "about 30 %
  more tokens"). Each way has its own fitted constants: a family's ``[<family>.ctok]`` table is used with ctok.
* **Turns**: ``base`` + ``per_marker`` for each "Human:"/"Assistant:" marker (the final "Assistant:" prompt
  included unless the last turn is the assistant's, which is continued). Consecutive turns of one role are one
  turn, as the API merges them; tool results stay in their user turn.
* **Tools**: the hidden tool-use system prompt per family and ``tool_choice`` (Claude 4.5+ is far larger than
  the pricing table says), plus each definition as ``<function>{"description", "name", "parameters"}</function>``
  (JSON-escaped, so multi-line descriptions cost what the model sees). Tool calls are rendered as
  ``<invoke name=...><parameter name=...>value</parameter></invoke>`` blocks and results as
  ``<function_results>`` blocks, each with a fitted constant for the parts not rendered here.
* **Thinking**: thinking blocks of *previous* assistant turns are stripped (documented); the current turn's
  count. Thinking enabled / adaptive adds a fitted constant (its hidden instructions), and ``thinking_system``
  more when a system prompt exists (the instructions join it).
* **Images**: the model's ``vision`` rule of media/rules.toml (``claude``: Anthropic's documented
  ``ceil(w*h/750)`` after resizing to fit 1568 px on the long edge and ~1.15 MP), plus ``per_image``.
  **PDFs**: every page is an image plus its text; a page is counted as an image
  at the 1.15 MP cap plus the text the caller supplied (the PDF's own text is not extracted here).

Every count says ``exact: false``.
"""

from __future__ import annotations

import pickle
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from ... import rules_data
from ...errors import MediaError
from ...media.pdf import pdf_pages
from ...media.rules import Rule, rule_for
from ...media.sources import FetchPolicy
from ...models.catalog import ModelSpec
from ...request import DocumentPart, ImagePart, Message, Request, TextPart, ThinkingPart, ToolCallPart, ToolResultPart
from ...token_count import Count, split
from ...tokenizers import claude as ctok
from ...tokenizers.openai_bpe import encoder
from .._image_size import image_size
from ..jinja import limits
from .tools import tool_calls_text, tool_definitions, tool_result_text

PROXY = "o200k_base"
METHOD = f"anthropic-estimate+{PROXY}-proxy"
#: characters ctok may count for a request on the server's event loop (its tiny render budget) before the job is
#: moved to a counting thread: ctok takes ~1-17 us a character, so this stays within that budget's 20 ms
INLINE_CTOK_CHARS = 1024
#: texts at least this long are counted by ctok in a render process in the server (TextCounter)
ISOLATED_CTOK_CHARS = 4096
#: a US-letter page rendered at the pixel cap
PAGE_SIZE = (965, 1249)
DEFAULT_RULES = "claude-4"
#: the media rule (media/rules.toml) of Anthropic's documented image cost
IMAGE_RULE = "claude"

_NEWLINES = re.compile(r"\n+")
_DIGITS = re.compile(r"\d+")


@dataclass(frozen=True)
class ClaudeModel:
    """The constants of one model (its family's rules, the catalog's per-model overrides applied)."""

    family: str
    base: int
    per_marker: int
    system: int
    text_ratio: float
    digits_per_token: int
    tool_prompt_auto: int
    tool_prompt_any: int
    #: forcing one named tool; the pricing table lumps it with ``any``, Sonnet 4's recordings do not
    tool_prompt_tool: int
    per_tool: int
    per_call: int
    per_result: int
    thinking: int
    thinking_adaptive: int
    per_image: int
    #: Anthropic: Claude 4.7 and later use a newer tokenizer giving "about 30 % more tokens" for the same text
    text_scale: float = 1.0
    #: the image rule the catalog's ``vision`` names (media/rules.toml); None: the model takes no images
    image: Rule | None = None
    #: ctok's table counting the text (None: the proxy), and so the constants fitted on it
    tokenizer: str | None = None
    #: thinking's hidden instructions join the system prompt when there is one
    thinking_system: int = 0
    #: each call of an assistant turn with two or more, beyond ``per_call``
    per_parallel_call: int = 0

    @property
    def method(self) -> str:
        return f"anthropic-estimate+ctok-{self.tokenizer}" if self.tokenizer else METHOD


@cache
def rules_table() -> dict[str, dict[str, Any]]:
    return rules_data.load("claude_rules.toml")


def family_rules(name: str, *, ctok: bool = False) -> dict[str, Any]:
    """A family's constants, inherited along ``inherits`` links (the nearest definition wins). With ``ctok``, the
    constants fitted on ctok's text counts (the ``ctok`` tables along the same links) win over the proxy's: a
    constant fitted on one text count is never mixed with the other's."""
    table = rules_table()
    if name not in table:
        raise KeyError(f"unknown Claude rules family {name!r} (claude_rules.toml has {sorted(table)})")
    chain: list[dict[str, Any]] = []
    seen: set[str] = set()
    while name and name not in seen:
        seen.add(name)
        chain.append(table[name])
        parent = table[name].get("inherits")
        name = parent if isinstance(parent, str) else ""
    layers = [entry.get("ctok", {}) for entry in chain] if ctok else []
    out: dict[str, Any] = {}
    for layer in [*layers, *chain]:
        for key, value in layer.items():
            if key not in ("inherits", "ctok"):
                out.setdefault(key, value)
    return out


def ctok_budget() -> int:
    """The ``claude_ctok_chars`` setting: characters of one request ctok counts (0: never)."""
    from ... import settings_in_force

    return settings_in_force.current().claude_ctok_chars


def tokenizer_of(spec: ModelSpec) -> str | None:
    """ctok's table for ``spec`` (its rules family's ``tokenizer``) when ctok is installed and allowed to count,
    else None: the proxy counts."""
    table = family_rules(str(spec.extra.get("claude_rules", DEFAULT_RULES))).get("tokenizer")
    if not table or not ctok.available() or ctok_budget() <= 0:
        return None
    return str(table)


def model_of(spec: ModelSpec) -> ClaudeModel:
    """``spec``'s constants: those fitted on ctok's counts where ctok counts its text, else the proxy's."""
    family = str(spec.extra.get("claude_rules", DEFAULT_RULES))
    counted_by = tokenizer_of(spec)
    r = family_rules(family, ctok=counted_by is not None)
    table = spec.extra.get("tool_prompt")  # a pricing-table value [auto/none, any/tool] for models not fitted
    if table is None:
        auto, anyc = r["tool_prompt"]
        forced = r.get("tool_prompt_tool", anyc)
    else:
        off_auto, off_any, off_tool = r.get("pricing_table_offset", (0, 0, 0))
        auto, anyc, forced = table[0] + off_auto, table[1] + off_any, table[1] + off_tool
    return ClaudeModel(
        family=family, base=int(r["base"]), per_marker=int(r["per_marker"]), system=int(r["system"]),
        text_ratio=float(r["text_ratio"]), digits_per_token=int(r["digits_per_token"]),
        tool_prompt_auto=int(auto), tool_prompt_any=int(anyc), tool_prompt_tool=int(forced),
        per_tool=int(r.get("per_tool", 0)), per_call=int(r["per_call"]),
        per_result=int(r["per_result"]), thinking=int(r["thinking"]),
        thinking_adaptive=int(r["thinking_adaptive"]), per_image=int(r["per_image"]),
        text_scale=float(spec.extra.get("text_scale", r.get("text_scale", 1.0))), image=rule_for(spec.vision),
        tokenizer=counted_by, thinking_system=int(r.get("thinking_system", 0)),
        per_parallel_call=int(r.get("per_parallel_call", 0)))


def proxy_tokens(text: str, digits_per_token: int = 3) -> int:
    """o200k tokens of ``text`` cut at every run of newlines (Claude keeps a newline apart from the punctuation
    before it and the indentation after it; o200k would merge them), numbers re-counted at ``digits_per_token``
    digits a token (o200k takes up to 3)."""
    if not text:
        return 0
    enc = encoder(PROXY)
    n = 0
    if "\n" not in text:
        n = enc.count(text)
    else:
        pos = 0
        for m in _NEWLINES.finditer(text):
            if m.start() > pos:
                n += enc.count(text[pos:m.start()])
            n += enc.count(m.group())
            pos = m.end()
        if pos < len(text):
            n += enc.count(text[pos:])
    if digits_per_token != 3:
        n += sum(-(-len(r) // digits_per_token) - -(-len(r) // 3) for r in _DIGITS.findall(text))
    return n


def text_estimate(text: str, scale: float = 1.0, ratio: float | None = None, digits_per_token: int | None = None
                  ) -> float:
    """Estimated Claude tokens of ``text`` (unrounded, so sums round once); the Claude 4 rules by default."""
    if not text:
        return 0.0
    rules = family_rules(DEFAULT_RULES)
    r = rules["text_ratio"] if ratio is None else ratio
    d = int(rules["digits_per_token"]) if digits_per_token is None else digits_per_token
    return proxy_tokens(text, d) * r * scale


def model_text(model: ClaudeModel, text: str) -> float:
    """``text`` on ``model``'s proxy rules."""
    return text_estimate(text, model.text_scale, model.text_ratio, model.digits_per_token)


class TextCounter:
    """The text of one request, counted part by part in order: by ctok while the request's ``claude_ctok_chars``
    last (a part that would pass them, and every later one, by the proxy), so an answer depends on the request
    alone, never on what is cached. On the server's event loop, more than :data:`INLINE_CTOK_CHARS` characters
    not yet cached move the job to a counting thread (:class:`~tokcount.renderers.jinja.limits.OffLoop`)."""

    def __init__(self, model: ClaudeModel) -> None:
        self.model = model
        self.left = ctok_budget() if model.tokenizer else 0
        self.proxied = 0
        self._inline = INLINE_CTOK_CHARS if limits.configured().off_loop else None

    def __call__(self, text: str) -> float:
        table = self.model.tokenizer
        if not text:
            return 0.0
        if table is None or self.proxied or len(text) > self.left:
            self.proxied += len(text)
            return model_text(self.model, text)
        self.left -= len(text)
        if ctok.cached(text, table) is None:
            if self._inline is not None:
                self._inline -= len(text)
                if self._inline < 0:
                    raise limits.OffLoop
            bounds = limits.configured()
            if bounds.isolated and len(text) >= ISOLATED_CTOK_CHARS:
                # ctok is pure Python (up to ~17 us a character): in the server a long text is counted in a
                # render process, where a slow count is lowered and moved off the counting threads like a render
                from ..jinja.render_pool import pool

                payload = pickle.dumps(("ctok", table, text), protocol=pickle.HIGHEST_PROTOCOL)
                n: int = pool(bounds).call(f"ctok:{table}", payload, bounds, what="Claude's tokenizer (ctok)")
                ctok.remember(text, table, n)
                return float(n)
        return float(ctok.count(text, table))

    @property
    def method(self) -> str:
        return f"{self.model.method}+{PROXY}-proxy" if self.model.tokenizer and self.proxied else self.model.method

    def note(self) -> str:
        m = self.model
        if m.tokenizer is None:
            why = "" if ctok.available() else " (ctok, Claude's reconstructed tokenizer, is not installed: it " \
                                              "needs Python >= 3.12)"
            return (f"estimate ({m.family} rules): no public Claude 3+ tokenizer{why}; o200k_base proxy cut at "
                    f"newlines x {m.text_ratio * m.text_scale:g}")
        out = f"estimate ({m.family} rules): text by ctok's {m.tokenizer} table (Claude's tokenizer reconstructed " \
              "from measured counts)"
        if self.proxied:
            out += (f"; {self.proxied} characters past the claude_ctok_chars budget by the o200k_base proxy x "
                    f"{m.text_ratio * m.text_scale:g}")
        return out


def image_tokens(width: int, height: int, rule: Rule | None = None) -> int:
    """An image's cost under ``rule`` (default: Anthropic's documented rule, ``claude`` in media/rules.toml)."""
    found = rule or rule_for(IMAGE_RULE)
    if found is None:  # pragma: no cover - the packaged rules.toml defines it
        raise MediaError(f"no media rule {IMAGE_RULE!r}")
    return found.tokens(width, height)


@dataclass
class _Tally:
    """What a request's pieces cost, kept apart for the breakdown."""

    #: counts the request's texts (ctok within its budget, else the proxy)
    text: TextCounter
    system: float = 0.0
    images: list[int] = field(default_factory=list)
    stripped: int = 0
    #: how image sizes may be read (the CLI's local files)
    policy: FetchPolicy | None = None


def _turns(messages: list[Message]) -> list[tuple[str, list[Message]]]:
    """Consecutive messages of one side become one turn (the API merges them; tool results are the user's)."""
    turns: list[tuple[str, list[Message]]] = []
    for m in messages:
        side = "assistant" if m.role == "assistant" else m.role if m.role in ("system", "developer") else "user"
        if turns and turns[-1][0] == side:
            turns[-1][1].append(m)
        else:
            turns.append((side, [m]))
    return turns


def count(spec: ModelSpec, req: Request, *, breakdown: bool = True, return_tokens: bool = False,
          media_policy: FetchPolicy | None = None) -> Count:
    """The estimate of ``req``; ``media_policy`` is how image sizes may be read (the CLI's local files)."""
    model = model_of(spec)
    text = TextCounter(model)
    notes: list[str] = []
    tally = _Tally(policy=media_policy, text=text)
    turns = _turns(req.messages)
    leading = 0
    while leading < len(turns) and turns[leading][0] in ("system", "developer"):
        leading += 1
    framing = model.base
    if leading:
        framing += model.system
        if req.thinking:
            framing += model.thinking_system
    for _, msgs in turns[:leading]:
        for m in msgs:
            tally.system += _message_estimate(m, model, keep_thinking=False, notes=notes, tally=tally)
    conversation = turns[leading:]
    # a user turn of tool results only continues the assistant's turn (its tool-use loop), so the thinking of
    # every assistant turn since the last user turn that says something counts (Anthropic's extended-thinking docs)
    last_user = max((i for i, (side, msgs) in enumerate(conversation) if side != "assistant"
                     and not _only_tool_results(msgs)), default=-1)
    per_message: list[int] = []
    for i, (side, msgs) in enumerate(conversation):
        # thinking of the current turn (the assistant turns after that user turn) counts; earlier ones not
        keep = side == "assistant" and i > last_user
        value = sum(_message_estimate(m, model, keep_thinking=keep, notes=notes, tally=tally) for m in msgs)
        calls = [p for m in msgs for p in m.parts if isinstance(p, ToolCallPart)]
        if calls:
            value += text(tool_calls_text(calls))
            value += model.per_call * len(calls)
            if len(calls) > 1:
                value += model.per_parallel_call * len(calls)
        per_message.append(round(value))
        framing += model.per_marker
    if not conversation or conversation[-1][0] != "assistant":
        framing += model.per_marker  # the "Assistant:" prompt the reply follows
    if req.thinking:
        framing += model.thinking_adaptive if req.thinking_kind == "adaptive" else model.thinking
    tools = 0
    if req.tools:
        choice = req.tool_choice.mode if req.tool_choice else "auto"
        prompts = {"required": model.tool_prompt_any, "tool": model.tool_prompt_tool}
        tools += prompts.get(choice, model.tool_prompt_auto)
        tools += round(text(tool_definitions(req)))
        tools += model.per_tool * len(req.tools)
    if tally.stripped:
        notes.append(f"{tally.stripped} thinking block(s) of previous assistant turns stripped (not counted), "
                     "as Anthropic documents")
    system_n = round(tally.system)
    total = system_n + tools + sum(per_message) + framing
    notes.insert(0, f"{text.note()}; fitted turn, tool-prompt and tool-call constants; see "
                    "docs/closed-models-accuracy.md")
    result = Count(model=spec.id, input_tokens=total, exact=False, method=text.method,
                   context_window=spec.context_window, notes=notes,
                   modalities=split(total, image=sum(tally.images)))
    if breakdown:
        result.breakdown = {"system": system_n, "tools": tools, "messages": per_message, "template": framing}
    if return_tokens:
        result.partial_tokens(f"none of the {total}: Claude's tokenizer is not public (the count is an estimate)")
    return result


def _only_tool_results(msgs: list[Message]) -> bool:
    parts = [p for m in msgs for p in m.parts]
    return bool(parts) and all(isinstance(p, ToolResultPart) for p in parts)


def _message_estimate(msg: Message, model: ClaudeModel, *, keep_thinking: bool, notes: list[str],
                      tally: _Tally) -> float:
    """A message's content (tool calls are rendered per turn by the caller)."""
    value = 0.0
    for p in msg.parts:
        if isinstance(p, TextPart):
            value += tally.text(p.text)
        elif isinstance(p, ThinkingPart):
            if keep_thinking and not p.redacted:
                value += tally.text(p.text)
            elif not keep_thinking:
                tally.stripped += 1
        elif isinstance(p, ToolResultPart):
            value += tally.text(tool_result_text(p)) + model.per_result
            if not isinstance(p.content, str):
                for q in p.content:
                    if isinstance(q, ImagePart):
                        value += _image(q, model, notes, tally)
                    elif isinstance(q, DocumentPart):
                        value += _document(q, model, notes, tally)
        elif isinstance(p, ImagePart):
            value += _image(p, model, notes, tally)
        elif isinstance(p, DocumentPart):
            value += _document(p, model, notes, tally)
    return value


def _image(part: ImagePart, model: ClaudeModel, notes: list[str], tally: _Tally) -> int:
    if model.image is None:
        raise MediaError("this model takes no images (its catalog entry names no vision rule).", param="messages")
    size = image_size(part, tally.policy)
    if size is None:
        n = image_tokens(1092, 1092, model.image)
        notes.append(f"image of unknown size counted at the 1.15 MP cap ({n} tokens)")
    else:
        n = image_tokens(*size, model.image)
    tally.images.append(n)
    return n + model.per_image


def _document(part: DocumentPart, model: ClaudeModel, notes: list[str], tally: _Tally) -> float:
    text = tally.text(part.text or "")
    if part.media_type not in (None, "application/pdf") or (part.text and not part.source):
        return text  # a plain-text document
    pages = pdf_pages(part.source)
    if pages is None:
        notes.append("PDF page count unknown: counted as one page")
        pages = 1
    notes.append("PDF: each page counted as a page image at the 1.15 MP cap plus the supplied text only")
    return text + pages * image_tokens(*PAGE_SIZE, model.image)


def count_text(spec: ModelSpec, text: str, *, return_tokens: bool = False) -> Count:
    """``text`` alone, as a message's content (no turn framing)."""
    counter = TextCounter(model_of(spec))
    n = round(counter(text))
    return Count(model=spec.id, input_tokens=n, exact=False, method=counter.method,
                 context_window=spec.context_window, notes=[f"text only: {counter.note()}"])
