"""The probe conversations a template is rendered on by both engines before MiniJinja may render it
(:func:`.equivalence.prove`).

They are built to walk the branches chat templates take: every role, a system prompt or none, tools with full and
minimal schemas, parallel tool calls whose arguments hold every JSON kind (as objects and as JSON strings),
consecutive and leading tool results, reasoning before and after the last user turn, content as text and as
lists of parts with images, empty contents, missing optional fields, the thinking switches, an assistant turn
last, roles that do not alternate; and text that engines could treat differently: HTML and quote characters
(``safe`` values concatenate differently), template syntax, special-token look-alikes, ``<think>`` and
``<tool_response>`` markers that templates split on, CRLF, tabs, no-break and zero-width spaces, emoji with
joiners, CJK, combining marks, backslashes. Values are in the shapes :mod:`.prepare` gives templates.
"""

from __future__ import annotations

from functools import cache
from typing import Any

#: text with what engines could treat differently (see the module doc)
TRICKY = ("Tom & Jerry <b>bold</b> 'single' \"double\" {{ not_a_var }} {% raw %} <|im_start|> [INST] \\n\\\\ "
          "caf\u00e9 na\u00efve \u00a0nbsp \u200bzero-width \U0001F469\u200d\U0001F4BB \u4f60\u597d\u4e16\u754c "
          "e\u0301 \ttab\r\nCRLF line\n  indented  ")
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city <now> & later.",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "City name, e.g. 'Paris'"},
        "days": {"type": "integer", "minimum": 1, "maximum": 14, "default": 3},
        "ratio": {"type": "number", "default": 0.5},
        "metric": {"type": "boolean", "default": True},
        "tags": {"type": "array", "items": {"type": "string"}},
        "mode": {"type": "string", "enum": ["fast", "full"], "nullable": True, "default": None},
        "where": {"type": "object", "properties": {"lat": {"type": "number"}, "lon": {"type": "number"}}}},
        "required": ["city"]}}}
MINIMAL_TOOL = {"type": "function", "function": {"name": "ping"}}
#: a tool as most are declared (GPT-OSS's template refuses WEATHER's null default: timing needs a rendered prompt)
PLAIN_TOOL = {"type": "function", "function": {
    "name": "read_file", "description": "Read a file of the workspace.",
    "parameters": {"type": "object", "properties": {"path": {"type": "string", "description": "Where."},
                                                    "limit": {"type": "integer", "minimum": 1}},
                   "required": ["path"]}}}
ARGS: dict[str, Any] = {"city": "Paris <FR>", "days": 3, "ratio": 0.25, "metric": False, "offset": -2,
                        "tags": ["a", "b c"], "mode": None, "where": {"lat": 48.85, "lon": 2.35},
                        "empty": "", "none_list": [], "nested": {"k": [1, {"j": True}]}}
VARIABLES = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}


def _call(n: int, args: Any, with_id: bool = True) -> dict[str, Any]:
    call: dict[str, Any] = {"type": "function", "function": {"name": "get_weather", "arguments": args}}
    return {"id": f"call_{n}", **call} if with_id else call


def _conversations(args: Any) -> list[tuple[list[dict[str, Any]], list[dict[str, Any]] | None, dict[str, Any]]]:
    """(messages, tools, extra variables) per probe, with tool-call arguments given as ``args``."""
    both = [WEATHER, MINIMAL_TOOL]
    reasoning = {"role": "assistant", "content": "It is sunny.", "thinking": "Look it up.",
                 "reasoning_content": "Look it up."}
    calls = {"role": "assistant", "content": "", "tool_calls": [_call(1, args), _call(2, args, with_id=False)]}
    return [
        ([{"role": "user", "content": "Hello!"}], None, {}),
        ([{"role": "system", "content": "You are terse."}, {"role": "user", "content": TRICKY}], None, {}),
        ([{"role": "system", "content": "Sys"}, {"role": "user", "content": "Hi"},
          {"role": "assistant", "content": "Hello <b>there</b>"}, {"role": "user", "content": "Again"}], None,
         {"enable_thinking": False}),
        ([{"role": "user", "content": "Q1"}, reasoning, {"role": "user", "content": "Q2"}], None,
         {"enable_thinking": True, "thinking": True}),
        ([{"role": "user", "content": "Q"}, {"role": "assistant", "content": "<think>\nhmm\n</think>\n\nA"},
          {"role": "user", "content": "Q again"},
          {"role": "assistant", "content": "<think>inner</think>Answer"}], None, {}),
        ([{"role": "system", "content": "Use tools."}, {"role": "user", "content": "Weather in Paris?"}, calls,
          {"role": "tool", "content": "{\"temp\": 21.5}", "tool_call_id": "call_1", "name": "get_weather"},
          {"role": "tool", "content": "<tool_response>ok</tool_response>"},
          {"role": "assistant", "content": "It is 21.5 \u00b0C & dry."}, {"role": "user", "content": "Thanks"}],
         both, {}),
        ([{"role": "user", "content": "Call it"},
          {"role": "assistant", "content": "Calling.", "tool_calls": [_call(3, args)],
           "reasoning_content": "Need data.", "thinking": "Need data."},
          {"role": "tool", "content": TRICKY, "tool_call_id": "call_3"}], [WEATHER], {"enable_thinking": False}),
        ([{"role": "tool", "content": "orphan result"}, {"role": "user", "content": "and?"}], [MINIMAL_TOOL], {}),
        ([{"role": "system", "content": [{"type": "text", "text": "Sys part"}]},
          {"role": "user", "content": [{"type": "text", "text": "Look:"}, {"type": "image"},
                                       {"type": "text", "text": TRICKY}]},
          {"role": "assistant", "content": [{"type": "text", "text": "A cat."}]},
          {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "And this?"}]}], None, {}),
        ([{"role": "user", "content": ""}, {"role": "assistant", "content": ""}, {"role": "user", "content": " "}],
         None, {}),
        ([{"role": "user", "content": "Hi", "name": "alice"}, {"role": "assistant", "content": "Hey", "name": "bot"},
          {"role": "user", "content": "Bye"}], None, {}),
        ([{"role": "user", "content": "u1"}, {"role": "user", "content": "u2"}], None, {}),
        ([{"role": "system", "content": "Only a system prompt."}], None, {}),
        ([{"role": "user", "content": "Continue this"}, {"role": "assistant", "content": "Sure, here"}], [WEATHER],
         {"add_generation_prompt": False}),
        (_long(args), both, {}),
    ]


def _long(args: Any) -> list[dict[str, Any]]:
    """Twelve turns: tool calls, results, reasoning and prose at different positions (index-based logic such as
    "reasoning only after the last user query")."""
    out: list[dict[str, Any]] = [{"role": "system", "content": "Agent."}]
    for t in range(12):
        out.append({"role": "user", "content": f"step {t}: {TRICKY[:40]}"} if t % 4 == 0 else
                   {"role": "user", "content": f"<tool_response>\nr{t}\n</tool_response>"})
        if t % 3 == 0:
            out.append({"role": "assistant", "content": f"plan {t}", "reasoning_content": f"why {t}",
                        "thinking": f"why {t}", "tool_calls": [_call(100 + t, args)]})
            out.append({"role": "tool", "content": f"result {t}", "tool_call_id": f"call_{100 + t}"})
        out.append({"role": "assistant", "content": f"done {t}\n"})
    out.append({"role": "user", "content": "Summarise."})
    return out


@cache
def contexts() -> tuple[dict[str, Any], ...]:
    """Every probe as a render context: arguments as objects, then as JSON strings."""
    import json

    out = []
    for args in (ARGS, json.dumps(ARGS, ensure_ascii=False)):
        for messages, tools, extra in _conversations(args):
            context: dict[str, Any] = {"messages": messages, "tools": tools, "documents": None,
                                       "add_generation_prompt": True, **VARIABLES}
            context.update(extra)
            out.append(context)
    return tuple(out)


def _agent(turns: int, prose: str) -> list[dict[str, Any]]:
    """An agent's conversation as agents send it: a user turn every ten, then per turn an assistant tool call (with
    reasoning) and its result, and a reply every third."""
    out: list[dict[str, Any]] = [{"role": "system", "content": "Agent. " + prose}]
    for t in range(turns):
        if t % 10 == 0:
            out.append({"role": "user", "content": f"task {t}: {prose}"})
        call = {"role": "assistant", "content": "" if t % 2 else f"step {t}", "tool_calls": [_call(200 + t, ARGS)]}
        if t % 2:  # reasoning instead of content (GPT-OSS refuses both beside a tool call)
            call.update(reasoning_content=f"why {t}", thinking=f"why {t}")
        out.append(call)
        out.append({"role": "tool", "content": f"{{\"ok\": true, \"n\": {t}}} {prose}",
                    "tool_call_id": f"call_{200 + t}"})
        if t % 3 == 2:
            out.append({"role": "assistant", "content": f"done {t}: {prose}"})
    if out[-1]["role"] != "user":
        out.append({"role": "user", "content": "Summarise."})
    return out


@cache
def timing_contexts() -> tuple[dict[str, Any], ...]:
    """What :mod:`.native` times both engines on once a template is proven: an agent conversation (~150 messages
    of a few hundred characters, as :func:`_agent` builds it) and a chat (161 alternating messages, no tools):
    where engines differ most, many messages, each read several times."""
    prose = " ".join(["The quick brown fox jumps over the lazy dog; \u4f60\u597d."] * 5)
    chat = [{"role": "user" if n % 2 == 0 else "assistant", "content": f"{n}: {prose}"} for n in range(161)]
    return tuple({"messages": messages, "tools": tools, "documents": None, "add_generation_prompt": True,
                  **VARIABLES}
                 for messages, tools in ((_agent(60, prose), [PLAIN_TOOL] * 3), (chat, None)))
