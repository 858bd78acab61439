"""tokcount.fit: property tests on random tool-using conversations, counted with the real tokenizer files.

For qwen3.5 (chat template), gpt-4o (OpenAI framing) and claude (estimate framing): the result fits, is exact
(the returned request counts to ``tokens_after``), keeps every tool call with its result, keeps the system
prompt and the last user turn, and is maximal (the newest dropped turn added back is over the budget).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tokcount
from tokcount.count import as_request
from tokcount.fit import BudgetTooSmall, fit, fit_answer
from tokcount.settings import Settings

MODELS = ["qwen3.5", "gpt-4o", "claude-sonnet-4-5"]
TOOLS = [{"type": "function", "function": {"name": "lookup", "description": "Look a word up.",
                                           "parameters": {"type": "object", "properties": {"q": {"type": "string"}},
                                                          "required": ["q"]}}}]
words = st.lists(st.sampled_from(["alpha", "beta", "gamma", "Δelta", "42", "tokens", "fit", "budget", "日本"]),
                 min_size=1, max_size=30).map(" ".join)


@st.composite
def conversations(draw: st.DrawFn) -> dict:
    msgs: list[dict] = []
    if draw(st.booleans()):
        msgs.append({"role": "system", "content": "You are terse. " + draw(words)})
    n_turns = draw(st.integers(1, 6))
    call = 0
    for t in range(n_turns):
        msgs.append({"role": "user", "content": draw(words)})
        for _ in range(draw(st.integers(0, 2))):
            ids = [f"call_{call + k}" for k in range(draw(st.integers(1, 2)))]
            call += len(ids)
            msgs.append({"role": "assistant", "content": None, "tool_calls": [
                {"id": i, "type": "function",
                 "function": {"name": "lookup", "arguments": json.dumps({"q": draw(words)})}} for i in ids]})
            msgs.extend({"role": "tool", "tool_call_id": i, "content": draw(words)} for i in ids)
        if t < n_turns - 1 or draw(st.booleans()):
            msgs.append({"role": "assistant", "content": draw(words)})
    return {"messages": msgs, "tools": TOOLS}


def _count(model: str, body: dict) -> int:
    return tokcount.count(model, body, breakdown=False).input_tokens


def _turn_starts(msgs: list[dict]) -> list[int]:
    return [i for i, m in enumerate(msgs) if m["role"] == "user"]


def _check(model: str, body: dict, frac: float, truncate: bool) -> None:
    msgs = body["messages"]
    head = 1 if msgs[0]["role"] == "system" else 0
    last = _turn_starts(msgs)[-1]
    full = _count(model, body)
    minimum = _count(model, {**body, "messages": msgs[:head] + msgs[last:]})
    budget = minimum + int((full - minimum) * frac)
    out = fit(model, body, budget=budget, truncate=truncate)
    kept = out.request["messages"]
    assert out.tokens_before == full and out.minimum_tokens == minimum
    assert out.tokens_after <= budget
    assert _count(model, out.request) == out.tokens_after  # exact: what is returned counts to what is reported
    assert out.request["tools"] == TOOLS
    assert kept[:head] == msgs[:head]  # the system prompt stays
    assert kept[len(kept) - (len(msgs) - last):] == msgs[last:]  # the last user turn stays, whole
    called: set[str] = set()
    for m in kept:  # no tool result without its call before it
        called |= {c["id"] for c in m.get("tool_calls") or []}
        if m["role"] == "tool":
            assert m["tool_call_id"] in called
    assert [msgs[i] for i in out.dropped] == msgs[head:head + len(out.dropped)]  # oldest first
    if not out.dropped and out.truncated is None:
        assert full <= budget
        return
    if out.truncated is None:
        first_kept = head + len(out.dropped)
        prev = max(i for i in _turn_starts(msgs) if i < first_kept) if first_kept > head else head
        back = {**body, "messages": msgs[:head] + msgs[prev:]}
        assert out.next_tokens == _count(model, back) > budget  # maximal: one more turn would not fit
    else:
        i = out.truncated["index"]
        cut = kept[head]["content"]
        assert msgs[i]["content"].endswith(cut) and len(cut) == out.truncated["chars_kept"]
        assert kept[head + 1:] == msgs[i + 1:]
        assert out.next_tokens is not None and out.next_tokens > budget


@pytest.mark.parametrize("model", MODELS)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(body=conversations(), frac=st.floats(0, 1), truncate=st.booleans())
def test_fit_properties(model: str, body: dict, frac: float, truncate: bool) -> None:
    _check(model, body, frac, truncate)


def _long_chat(turns: int = 8) -> dict:
    msgs: list[dict] = [{"role": "system", "content": "Be brief."}]
    for i in range(turns):
        msgs.append({"role": "user", "content": f"Question {i}: " + "how many tokens is this? " * 12})
        msgs.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": f"c{i}", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}]})
        msgs.append({"role": "tool", "tool_call_id": f"c{i}", "content": "found " * 20})
        msgs.append({"role": "assistant", "content": "It is many. " * 10})
    return {"messages": msgs, "tools": TOOLS}


def test_budget_below_minimum_names_it() -> None:
    body = _long_chat()
    msgs = body["messages"]
    minimum = _count("qwen3.5", {**body, "messages": [msgs[0], *msgs[-4:]]})
    with pytest.raises(BudgetTooSmall) as err:
        fit("qwen3.5", body, budget=minimum - 1)
    assert err.value.minimum == minimum and str(minimum) in err.value.message


def test_default_budget_is_context_window_minus_reserve() -> None:
    body = _long_chat()
    window = tokcount.count("qwen3.5", body).context_window
    assert window is not None
    full = _count("qwen3.5", body)
    out = fit("qwen3.5", body, reserve=window - full + 1)  # one token short of the whole chat
    assert out.budget == full - 1 and out.dropped and out.tokens_after <= full - 1
    untouched = fit("qwen3.5", body, reserve=1000)
    assert untouched.request == body and untouched.dropped == [] and untouched.tokens_after == full


def test_canonical_request_and_bare_list() -> None:
    body = _long_chat()
    req = as_request(body)
    full = _count("gpt-4o", body)
    as_req = fit("gpt-4o", req, budget=full // 2)
    as_list = fit("gpt-4o", body["messages"], budget=full // 2)
    assert isinstance(as_req.request, tokcount.Request) and isinstance(as_list.request, list)
    assert _count("gpt-4o", as_req.request) == as_req.tokens_after <= full // 2
    assert as_list.dropped and _count("gpt-4o", as_list.request) == as_list.tokens_after


ANTHROPIC_BODY = {
    "model": "claude-sonnet-4-5", "system": "Answer with one word.",
    "tools": [{"name": "lookup", "description": "Look up", "input_schema": {"type": "object"}}],
    "messages": [
        {"role": "user", "content": "First question, rather long: " + "words " * 40},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "lookup", "input": {"q": "a"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "result " * 40}]},
        {"role": "assistant", "content": "Done."},
        {"role": "user", "content": [{"type": "text", "text": "Second question " * 20}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t2", "name": "lookup", "input": {"q": "b"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t2", "content": "more"}]},
    ],
}


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "qwen3.5"])
def test_anthropic_body_keeps_tool_result_with_its_call(model: str) -> None:
    """In Anthropic's shape a tool result is a *user* message; it never starts a turn, so it stays with its call."""
    from tokcount.dialects import dialects
    from tokcount.jobs import answer

    s = Settings()
    whole = answer(dialects()["anthropic"], dialects()["anthropic"].routes[0], {**ANTHROPIC_BODY, "model": model}, s)
    full = whole.body["input_tokens"]
    out = fit_answer("anthropic", ANTHROPIC_BODY, s, model=model, budget=full - 1)
    assert out.status == 200, out.body
    assert out.body["dropped"] == [0, 1, 2, 3]
    trimmed = out.body["request"]
    assert trimmed["messages"] == ANTHROPIC_BODY["messages"][4:] and trimmed["system"] == ANTHROPIC_BODY["system"]
    again = answer(dialects()["anthropic"], dialects()["anthropic"].routes[0], trimmed, s)
    assert again.body["input_tokens"] == out.body["tokens_after"] <= full - 1
    small = fit_answer("anthropic", ANTHROPIC_BODY, s, model=model, budget=5)
    assert small.status in (400, 422) and small.body["type"] == "error"
    assert small.body["minimum_tokens"] == out.body["tokens_after"]
    assert str(small.body["minimum_tokens"]) in small.body["error"]["message"]


def test_gemini_and_responses_bodies() -> None:
    s = Settings()
    contents = []
    for i in range(5):
        contents.append({"role": "user", "parts": [{"text": f"turn {i} " * 30}]})
        contents.append({"role": "model", "parts": [{"functionCall": {"name": "lookup", "args": {"q": str(i)}}}]})
        contents.append({"role": "user", "parts": [{"functionResponse": {"name": "lookup",
                                                                          "response": {"r": "x " * 20}}}]})
    gem = fit_answer("gemini", {"contents": contents}, s, model="gemini-2.5-flash", budget=300)
    assert gem.status == 200, gem.body
    kept = gem.body["request"]["contents"]
    assert "text" in kept[0]["parts"][0] and len(kept) % 3 == 0 and gem.body["tokens_after"] <= 300
    items = []
    for i in range(5):
        items.append({"role": "user", "content": f"turn {i} " * 30})
        items.append({"type": "function_call", "call_id": f"c{i}", "name": "lookup", "arguments": "{}"})
        items.append({"type": "function_call_output", "call_id": f"c{i}", "output": "y " * 20})
    resp = fit_answer("openai-responses", {"model": "gpt-4o", "instructions": "Be brief.", "input": items}, s,
                      budget=250)
    assert resp.status == 200, resp.body
    kept = resp.body["request"]["input"]
    assert kept[0]["role"] == "user" and len(kept) % 3 == 0 and resp.body["tokens_after"] <= 250
    assert resp.body["request"]["instructions"] == "Be brief."


def test_bad_budget_is_a_4xx_in_the_dialect_shape() -> None:
    out = fit_answer("stepfun", {"model": "qwen3.5", "messages": [{"role": "user", "content": "hi"}]}, Settings(),
                     budget=10, reserve=10)
    assert out.status == 400 and out.body["error"]["param"] == "reserve"
    bad = fit_answer("stepfun", {"model": "qwen3.5", "messages": "nope"}, Settings(), budget=10)
    assert bad.status == 400 and bad.body["error"]["param"] == "messages"


def test_cli_fit_equals_the_library_answer(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from tokcount.cli import main

    body = {**ANTHROPIC_BODY, "model": "claude-sonnet-4-5"}
    path = tmp_path / "body.json"
    path.write_text(json.dumps(body), encoding="utf-8")
    full = fit_answer("anthropic", body, Settings(), budget=10**6).body["tokens_before"]
    assert main(["fit", "--dialect", "anthropic", "--budget", str(full - 1), str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == fit_answer("anthropic", body, Settings(), budget=full - 1).body and out["dropped"]
    assert main(["fit", "--dialect", "anthropic", "--truncate", "--budget", str(full - 1), str(path)]) == 0
    cut = json.loads(capsys.readouterr().out)
    assert cut["tokens_after"] <= full - 1 and cut["tokens_after"] >= out["tokens_after"]
    assert main(["fit", "--dialect", "anthropic", "--budget", "3", str(path)]) == 1
    assert json.loads(capsys.readouterr().out)["minimum_tokens"] == out["minimum_tokens"]
    path.write_text("{nope", encoding="utf-8")
    assert main(["fit", "--model", "qwen3.5", str(path)]) == 1
    assert json.loads(capsys.readouterr().out)["error"]["type"] == "invalid_json"
    with pytest.raises(SystemExit):
        main(["fit", "--budget", "5", "--reserve", "5", str(path)])


@pytest.mark.parametrize("model", ["gpt-4o", "claude-sonnet-4-5"])
def test_truncation_keeps_the_longest_tail_that_fits(model: str) -> None:
    body = _long_chat()
    msgs = body["messages"]
    full = _count(model, body)
    first = fit(model, body, budget=(full + _count(model, {**body, "messages": [msgs[0], *msgs[-4:]]})) // 2)
    assert first.next_tokens is not None
    budget = first.next_tokens - 10  # the newest dropped turn is 10 tokens too long: its first message is cut
    plain = fit(model, body, budget=budget)
    assert plain.dropped == first.dropped
    out = fit(model, body, budget=budget, truncate=True)
    assert out.truncated is not None, out.summary()
    i, kept = out.truncated["index"], out.truncated["chars_kept"]
    assert i == plain.dropped[-1] - 3  # the user message opening the newest dropped turn (4 messages a turn)
    text = msgs[i]["content"]
    assert out.request["messages"][1]["content"] == text[len(text) - kept:]
    assert plain.tokens_after <= out.tokens_after == _count(model, out.request) <= budget
    one_more = [msgs[0], {**msgs[i], "content": text[len(text) - kept - 1:]}, *msgs[i + 1:]]
    assert _count(model, {**body, "messages": one_more}) > budget  # one more character would not fit
