"""Fit a conversation into a token budget, exactly: drop the oldest turns until the *real* count fits.

Agents trim their history every turn with approximate per-message sums that ignore the template's framing and
often split a tool call from its result. Here every candidate is counted whole, through the same dialect and
renderer a count request uses (the segment cache makes each re-count cost little more than its render), and the
cut points are whole turns, so a tool call and its result always go together.

A *turn* starts at a user message that is not a tool result (an Anthropic ``tool_result`` block, a Gemini
``functionResponse`` part or a ``tool`` / ``function_call_output`` item never starts one). Always kept: the
leading system / developer messages, everything outside the message list (tools, Anthropic ``system``, Responses
``instructions``) and the last turn. The cut is found by binary search over the turn starts, keeping the
invariant "count at ``lo`` > budget, count at ``hi`` <= budget", so the answer is maximal whatever the template
does: adding back the newest dropped turn would exceed the budget (that count is reported as ``next_tokens``).

Bodies are trimmed in the caller's own shape (the original message list is sliced; nothing is re-serialised), so
the answer is exactly what was counted and can be sent on as is.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidRequest, TemplateError, TokcountError
from .media import b64
from .request import Message, Request, TextPart, ToolResultPart

Counter = Callable[[Any], int]

#: where the message list lives in each dialect's body, tried in order (Bedrock's ``invokeModel`` body, a JSON
#: text, is read by :func:`_invoke_model`)
LIST_KEYS: tuple[tuple[str, ...], ...] = (("messages",), ("input",), ("contents",),
                                           ("generateContentRequest", "contents"),
                                           ("generate_content_request", "contents"), ("input", "converse", "messages"))
_TOOL_RESULT_BLOCKS = {"tool_result", "function_call_output", "functionResponse", "function_response"}
#: keys that make a content block a tool result whatever its ``type`` (Gemini parts, Bedrock Converse blocks)
_TOOL_RESULT_KEYS = ("functionResponse", "function_response", "toolResult")
_TEXT_TYPES = {None, "text", "input_text", "output_text"}


class BudgetTooSmall(InvalidRequest):
    """What must be kept (system, tools, the last turn) is already over the budget; names the minimum."""

    kind = "budget_too_small"

    def __init__(self, budget: int, minimum: int) -> None:
        super().__init__(f"budget {budget} is below the {minimum} tokens that must be kept (system prompt, tool "
                         f"definitions and the last user turn); ask for at least {minimum}.", param="budget")
        self.budget = budget
        self.minimum = minimum


@dataclass
class Fit:
    """The trimmed request and what it cost. ``request`` has the caller's type and shape."""

    request: Any
    budget: int
    tokens_before: int
    tokens_after: int
    #: count of what can never be dropped (leading system messages, tools, the last turn)
    minimum_tokens: int
    #: indices (in the original message list) of the dropped messages, oldest first
    dropped: list[int] = field(default_factory=list)
    #: the count with the newest dropped turn added back (> budget): why the cut is where it is
    next_tokens: int | None = None
    #: ``{"index", "chars_removed", "chars_kept"}`` when the oldest kept message was cut short
    truncated: dict[str, int] | None = None

    def summary(self) -> dict[str, Any]:
        """Everything but the request, for JSON answers."""
        out = dataclasses.asdict(self)
        out.pop("request")
        return out


# ---------------------------------------------------------------------------- how items look
def _dict_role(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    role = item.get("role")
    if role is None and "parts" in item:  # a Gemini Content without a role is the user's
        return "user"
    return role if isinstance(role, str) else None


def _blocks(item: dict[str, Any], key: str) -> list[Any]:
    """The blocks under ``content`` or ``parts``; Gemini's ``parts`` may be one object, which Google reads as a
    list of one (docs/accepted-bodies.md)."""
    blocks = item.get(key)
    if isinstance(blocks, dict) and key == "parts":
        return [blocks]
    return blocks if isinstance(blocks, list) else []


def _dict_is_tool_result(item: dict[str, Any]) -> bool:
    if item.get("type") in _TOOL_RESULT_BLOCKS or item.get("role") in ("tool", "function"):
        return True
    for key in ("content", "parts"):
        for b in _blocks(item, key):
            if isinstance(b, dict) and (b.get("type") in _TOOL_RESULT_BLOCKS
                                        or any(k in b for k in _TOOL_RESULT_KEYS)):
                return True
    return False


def _msg_role(item: Any) -> str | None:
    return item.role if isinstance(item, Message) else _dict_role(item)


def _pinned(item: Any) -> bool:
    return _msg_role(item) in ("system", "developer")


def _starts_turn(item: Any) -> bool:
    if isinstance(item, Message):
        return item.role == "user" and not any(isinstance(p, ToolResultPart) for p in item.parts)
    return _dict_role(item) == "user" and not _dict_is_tool_result(item)


def _text_slots(item: Any) -> list[tuple[Any, Any]]:
    """(holder, key) of every visible text of a message, in order; holder[key] is a str."""
    if isinstance(item, Message):
        return [(p, "text") for p in item.parts if isinstance(p, TextPart)]
    if not isinstance(item, dict):
        return []
    if isinstance(item.get("content"), str):
        return [(item, "content")]
    slots: list[tuple[Any, Any]] = []
    for key in ("content", "parts"):
        for b in _blocks(item, key):
            if isinstance(b, dict) and isinstance(b.get("text"), str) and b.get("type") in _TEXT_TYPES:
                slots.append((b, "text"))
    return slots


def _truncate(item: Any, keep: int) -> Any:
    """A copy of ``item`` keeping only the last ``keep`` characters of its text (older text goes first);
    text blocks emptied entirely are removed."""
    item = copy.deepcopy(item)
    slots = _text_slots(item)
    left = keep
    emptied: list[Any] = []
    for holder, key in reversed(slots):
        text = holder[key] if isinstance(holder, dict) else getattr(holder, key)
        new = text[len(text) - left:] if left < len(text) else text
        left -= len(new)
        if isinstance(holder, dict):
            holder[key] = new
        else:
            setattr(holder, key, new)
        if not new and len(slots) > 1:
            emptied.append(holder)
    if emptied:
        if isinstance(item, Message):
            item.parts = [p for p in item.parts if not any(p is e for e in emptied)]
        else:
            for key in ("content", "parts"):
                if isinstance(item.get(key), list):
                    item[key] = [b for b in item[key] if not any(b is e for e in emptied)]
    return item


def _text_len(item: Any) -> int:
    return sum(len(h[k] if isinstance(h, dict) else getattr(h, k)) for h, k in _text_slots(item))


# ---------------------------------------------------------------------------- bodies
@dataclass
class _Conversation:
    """The message list of a request and how to rebuild the request around another list."""

    items: list[Any]
    rebuild: Callable[[list[Any]], Any]


def conversation(request: Any) -> _Conversation | None:
    """Find the message list of a canonical Request, a bare list or any dialect's body (None: nothing to trim,
    e.g. a plain-text prompt or a Responses ``input`` string)."""
    if isinstance(request, Request):
        return _Conversation(list(request.messages), lambda items: dataclasses.replace(request, messages=items))
    if isinstance(request, list):
        return _Conversation(list(request), list)
    if not isinstance(request, dict):
        return None
    invoked = _invoke_model(request)
    if invoked is not None:
        return invoked
    for path in LIST_KEYS:
        holder: Any = request
        for key in path[:-1]:
            holder = holder.get(key) if isinstance(holder, dict) else None
        if isinstance(holder, dict) and isinstance(holder.get(path[-1]), list):
            return _Conversation(list(holder[path[-1]]), _rebuilder(request, path))
    return None


def _invoke_model(body: dict[str, Any]) -> _Conversation | None:
    """Bedrock's ``{"input": {"invokeModel": {"body": "<JSON text or its base64>"}}}``: the Messages body inside,
    trimmed and written back as it came (JSON text, or base64 of it); None when there is no such body (or it
    does not decode: the count then says why)."""
    source = body.get("input")
    if not isinstance(source, dict) or not isinstance(source.get("invokeModel"), dict):
        return None
    outer: dict[str, Any] = source
    invoke: dict[str, Any] = source["invokeModel"]
    raw = invoke.get("body")
    if not isinstance(raw, str):
        return None
    encoded = not raw.lstrip().startswith("{")
    try:
        inner = json.loads(b64.decode(raw) if encoded else raw)
    except ValueError:
        return None
    if not isinstance(inner, dict) or not isinstance(inner.get("messages"), list):
        return None

    def rebuild(items: list[Any]) -> dict[str, Any]:
        text = json.dumps({**inner, "messages": items}, ensure_ascii=False)
        value = base64.b64encode(text.encode("utf-8")).decode("ascii") if encoded else text
        return {**body, "input": {**outer, "invokeModel": {**invoke, "body": value}}}

    return _Conversation(list(inner["messages"]), rebuild)


def _rebuilder(body: dict[str, Any], path: tuple[str, ...]) -> Callable[[list[Any]], Any]:
    def rebuild(items: list[Any]) -> dict[str, Any]:
        out = dict(body)
        holder = out
        for key in path[:-1]:
            holder[key] = dict(holder[key])
            holder = holder[key]
        holder[path[-1]] = items
        return out
    return rebuild


# ---------------------------------------------------------------------------- the search
def fit_with(request: Any, counter: Counter, budget: int, *, truncate: bool = False,
             before: int | None = None) -> Fit:
    """Trim ``request`` (any shape :func:`conversation` reads) until ``counter(request) <= budget``.

    ``counter`` is the exact count of a whole request in its own shape; it is called O(log turns) times (plus
    O(log chars) with ``truncate``); ``before``, when known, is ``counter(request)``."""
    before = counter(request) if before is None else before
    conv = conversation(request)
    if before <= budget:
        return Fit(request, budget, before, before, before if conv is None else _minimum(conv, counter, before))
    if conv is None:
        raise BudgetTooSmall(budget, before)
    items = conv.items
    head, cuts = _cut_points(items)

    def at(cut: int) -> Any:
        return conv.rebuild(items[:head] + items[cut:])

    counts: dict[int, int] = {0: before}
    minimum = counts[len(cuts) - 1] = counter(at(cuts[-1])) if len(cuts) > 1 else before
    if minimum > budget:
        raise BudgetTooSmall(budget, minimum)
    lo, hi = 0, len(cuts) - 1  # counts[lo] > budget >= counts[hi]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        counts[mid] = counter(at(cuts[mid]))
        if counts[mid] <= budget:
            hi = mid
        else:
            lo = mid
    result = Fit(at(cuts[hi]), budget, before, counts[hi], minimum, dropped=list(range(head, cuts[hi])),
                 next_tokens=counts[lo])
    if truncate:
        _truncate_oldest(result, conv, head, cuts[lo], counter)
    return result


def _truncate_oldest(result: Fit, conv: _Conversation, head: int, start: int, counter: Counter) -> None:
    """Add back the newest dropped turn with its first message's text cut to the longest tail that fits."""
    items = conv.items
    first = items[start]
    length = _text_len(first)
    if length < 2:
        return

    def at(keep: int) -> tuple[Any, int | None]:
        body = conv.rebuild([*items[:head], _truncate(first, keep), *items[start + 1:]])
        try:
            return body, counter(body)
        except (InvalidRequest, TemplateError):  # a dialect or template refusing the cut text: does not fit
            return body, None

    best, n = at(1)
    if n is None or n > result.budget:
        return
    lo, hi = 1, length  # fits at lo; the whole text did not fit (next_tokens > budget)
    best_n = n
    while hi - lo > 1:
        mid = (lo + hi) // 2
        body, n = at(mid)
        if n is not None and n <= result.budget:
            lo, best, best_n = mid, body, n
        else:
            hi = mid
    result.request, result.tokens_after = best, best_n
    result.dropped = list(range(head, start))
    result.truncated = {"index": start, "chars_removed": length - lo, "chars_kept": lo}


def _cut_points(items: list[Any]) -> tuple[int, list[int]]:
    """(length of the pinned system prefix, where the kept part may start: the prefix's end, then every turn
    start after it; the last one is the last user turn, which is always kept)."""
    head = 0
    while head < len(items) and _pinned(items[head]):
        head += 1
    return head, [head] + [i for i in range(head + 1, len(items)) if _starts_turn(items[i])]


def _minimum(conv: _Conversation, counter: Counter, whole: int) -> int:
    head, cuts = _cut_points(conv.items)
    return counter(conv.rebuild(conv.items[:head] + conv.items[cuts[-1]:])) if len(cuts) > 1 else whole


# ---------------------------------------------------------------------------- library entry point
#: the largest budget or reserve taken: the largest integer every JSON reader keeps exact (2**53 - 1), far past any
#: context window; a larger one is refused instead of overflowing what answers carry (orjson writes 64-bit ints)
MAX_TOKENS = 2**53 - 1


def effective_budget(budget: int | None, reserve: int, context_window: int | None) -> int:
    """``budget`` (default: the model's context window) minus ``reserve`` (room left for the answer)."""
    for name, value in (("budget", budget), ("reserve", reserve)):
        if value is not None and abs(value) > MAX_TOKENS:
            raise InvalidRequest(f"{name} must be between -{MAX_TOKENS} and {MAX_TOKENS}.", param=name)
    if budget is None:
        if context_window is None:
            raise InvalidRequest("this model's context window is not known: give a budget.", param="budget")
        budget = context_window
    if reserve < 0 or budget <= 0:
        raise InvalidRequest("budget must be positive and reserve not negative.", param="budget")
    if reserve >= budget:
        raise InvalidRequest(f"reserve {reserve} leaves no room in a budget of {budget}.", param="reserve")
    return budget - reserve


def fit(model: str, request: Request | dict[str, Any] | list[Any], budget: int | None = None, reserve: int = 0,
        truncate: bool = False) -> Fit:
    """``request`` (a canonical Request, an OpenAI chat body or a list of messages) trimmed so that its exact
    count for ``model`` is at most ``budget`` (default: the model's context window) minus ``reserve``."""
    from .count import count, resolve

    spec = resolve(model)
    limit = effective_budget(budget, reserve, spec.known_window)
    return fit_with(request, lambda r: count(spec, r, breakdown=False).input_tokens, limit, truncate=truncate)


# ---------------------------------------------------------------------------- any dialect's body (CLI, route)
def fit_answer(dialect_name: str, body: Any, settings: Any, *, model: str | None = None, budget: int | None = None,
               reserve: int = 0, truncate: bool = False, policy: Any = None) -> Any:
    """A :class:`tokcount.jobs.Answer` for fitting ``body`` (in dialect ``dialect_name``'s shape): 200 with
    ``{"request": trimmed body, budget, tokens_before, tokens_after, dropped, ...}``, else the dialect's own
    error shape (a too-small budget also says ``minimum_tokens``). Every candidate is counted by that
    dialect's first route, exactly as ``tokcount count --dialect`` would count it, under ``policy`` (a
    :class:`tokcount.jobs.Policy`: the server's limits and repo policy; default a library call's)."""
    from .dialects import dialects
    from .jobs import Answer, Policy, error_answer, execute, parse_job

    dialect = dialects()[dialect_name]
    route = dialect.routes[0]
    policy = policy or Policy()
    params: dict[str, str] = {}
    try:
        if route.path_params:  # Gemini: the model is in the URL, here a parameter
            params = {"model": model or "default"}
        elif model is not None:
            body = {**body, "model": model} if isinstance(body, dict) else {"messages": body, "model": model}
        window: list[int | None] = []

        def counter(candidate: Any) -> int:
            job = parse_job(route, candidate, settings, params)
            policy.check(job)
            result = execute(job, policy)
            assert result.count is not None
            if not window:
                window.append(policy.resolve(result.model).known_window)
            return result.count.input_tokens

        before = counter(body)  # validates the body and finds the model's window before the budget is known
        limit = effective_budget(budget, reserve, window[0])
        done = fit_with(body, counter, limit, truncate=truncate, before=before)
    except BudgetTooSmall as exc:
        out = error_answer(dialect, exc)
        out.body["minimum_tokens"] = exc.minimum
        return out
    except TokcountError as exc:
        return error_answer(dialect, exc)
    except RecursionError:
        return error_answer(dialect, InvalidRequest("The request is nested too deeply.", param="body"))
    return Answer(200, {"object": "fit", "dialect": dialect_name, **done.summary(), "request": done.request})
