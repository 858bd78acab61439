"""Claude text counted by ctok (Claude's tokenizer reconstructed from measured counts): the table per model
generation, the framing around it, the per-request character budget, the event-loop hand-off, and the labelled
o200k proxy where ctok is not installed or not allowed."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

import tokcount
from support.serverkit import running_server
from support.shared import REPO
from tokcount.models.catalog import default_catalog
from tokcount.renderers.anthropic import framing as claude
from tokcount.renderers.anthropic import tools as claude_tools
from tokcount.renderers.jinja import limits
from tokcount.settings import Settings
from tokcount.tokenizers import claude as claude_tokenizer

ctok = pytest.importorskip("ctok")  # Python 3.12+ (the project's interpreter); the fallback is tested below too

PROSE = ("The quick brown fox jumps over the lazy dog. Naïve café owners in São Paulo serve crème brûlée; "
         "東京 has 14 million people.\n\n```python\nprint({'a': [1, 2, 3]})\n```\n")


@pytest.mark.parametrize(("model", "table"), [
    ("claude-3-5-haiku", "3.0"), ("claude-sonnet-4", "3.0"), ("claude-opus-4-6", "3.0"),
    ("claude-opus-4-7", "4.7"), ("claude-opus-4-8", "4.8"), ("claude-sonnet-5", "4.8"), ("claude-fable-5", "4.8"),
])
def test_one_message_counts_as_ctok_counts_it(model: str, table: str) -> None:
    """ctok's count of a one-message request is the API's (its measured frame included: v3 7, v4.7 11, v4.8 6):
    the framing around the text reproduces that frame for every generation."""
    result = tokcount.count(model, [{"role": "user", "content": PROSE}])
    assert result.input_tokens == ctok.token_count(PROSE, table)
    assert result.method.startswith(f"anthropic-estimate+ctok-{table}")
    assert result.exact is False  # fitted turns and tool prompts around it: still labelled an estimate
    assert claude.tokenizer_of(default_catalog().resolve(model)) == table


def test_text_only_count_is_ctok_content() -> None:
    """``count_text`` (the /tokenize-style count of a bare text) is ctok's count without its message frame."""
    result = tokcount.count_text("claude-sonnet-4-5", PROSE)
    assert result.input_tokens == ctok.token_count(PROSE, "3.0") - 7
    assert result.method == "anthropic-estimate+ctok-3.0"


def test_recorded_requests_reproduce() -> None:
    """Two recordings of the calibration set (crewAI, Sonnet 4.5 and Claude 3.5 Haiku) the o200k proxy missed by
    -12 and -1: reproduced with ctok's text counts and the framing's constants."""
    for case_id, model, expected in [("x-anthropic-0042", "claude-sonnet-4-5-20250929", 1220),
                                     ("x-anthropic-0055", "claude-3-5-haiku-20241022", 16)]:
        line = next(json.loads(x) for x in (REPO.parent / "shared" / "calibration" / "anthropic.jsonl")
                    .read_text(encoding="utf-8").splitlines() if f'"{case_id}"' in x)
        from tokcount.dialects import anthropic
        assert tokcount.count(model, anthropic.parse(line["request"], Settings()).request).input_tokens == expected


def test_past_the_budget_the_proxy_counts_and_says_so(use_settings) -> None:
    """``claude_ctok_chars`` bounds ctok's work per request: parts are counted in order, the first that would pass
    the budget and every later one by the proxy (the answer depends on the request alone, not on the cache)."""
    first, second = "Short question?", PROSE * 4
    msgs = [{"role": "user", "content": first}, {"role": "assistant", "content": "Yes."},
            {"role": "user", "content": second}]
    full = tokcount.count("claude-sonnet-4", msgs)
    use_settings(claude_ctok_chars=len(first) + len("Yes."))
    cut = tokcount.count("claude-sonnet-4", msgs)
    assert cut.method == "anthropic-estimate+ctok-3.0+o200k_base-proxy"
    assert any(f"{len(second)} characters past the claude_ctok_chars budget" in n for n in cut.notes)
    model = claude.model_of(default_catalog().resolve("claude-sonnet-4"))
    proxied = round(claude.model_text(model, second))
    assert cut.breakdown["messages"][2] == proxied != full.breakdown["messages"][2]
    assert cut.breakdown["messages"][:2] == full.breakdown["messages"][:2]
    assert tokcount.count("claude-sonnet-4", msgs).input_tokens == cut.input_tokens  # warm: the same answer
    use_settings(claude_ctok_chars=0)
    off = tokcount.count("claude-sonnet-4", msgs)
    assert off.method == "anthropic-estimate+o200k_base-proxy"


def test_without_ctok_the_proxy_counts_labelled(use_settings) -> None:
    """Where ctok cannot be imported (Python < 3.12), a fresh interpreter counts with the proxy and its constants,
    as ``claude_ctok_chars = 0`` does, and the note says why."""
    code = ("import sys, json; sys.modules['ctok'] = None\n"
            "import tokcount\n"
            "r = tokcount.count('claude-sonnet-4', [{'role': 'user', 'content': 'Hello, Claude'}])\n"
            "print(json.dumps([r.input_tokens, r.method, r.notes]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(REPO / "src"), "PATH": ""}, check=True)
    n, method, notes = json.loads(out.stdout)
    assert method == "anthropic-estimate+o200k_base-proxy"
    assert "not installed" in notes[0] and "Python >= 3.12" in notes[0]
    with_ctok = tokcount.count("claude-sonnet-4", [{"role": "user", "content": "Hello, Claude"}])
    assert with_ctok.method == "anthropic-estimate+ctok-3.0" and with_ctok.input_tokens == 10
    use_settings(claude_ctok_chars=0)
    assert n == tokcount.count("claude-sonnet-4", [{"role": "user", "content": "Hello, Claude"}]).input_tokens


def test_on_the_event_loop_long_uncached_text_moves_to_a_thread() -> None:
    """ctok is pure Python: more than INLINE_CTOK_CHARS not-yet-cached characters under the event loop's budget
    raise OffLoop (the server re-runs the job on a counting thread); cached text does not."""
    text = "".join(f"Line {i}: a sentence of ordinary English prose, unique per line.\n" for i in range(40))
    assert len(text) > claude.INLINE_CTOK_CHARS
    inline = limits.Limits().inline(0.02, 256 * 1024)
    with limits.active(inline), pytest.raises(limits.OffLoop):
        tokcount.count("claude-haiku-4-5", [{"role": "user", "content": text}])
    expected = tokcount.count("claude-haiku-4-5", [{"role": "user", "content": text}]).input_tokens
    assert claude_tokenizer.cached(text, "3.0") is not None
    with limits.active(inline):
        assert tokcount.count("claude-haiku-4-5", [{"role": "user", "content": text}]).input_tokens == expected


def test_server_counts_a_small_body_with_long_text_off_the_loop() -> None:
    """The same over a real server: a small body (inline-sized) whose text is long answers 200 with the library's
    count, whichever thread counted it."""
    text = "".join(f"Entry {i}: the server moves this count to a thread.\n" for i in range(120))
    body = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": text}]}
    with running_server(Settings(default_model="qwen3.5")) as base:
        r = httpx.post(base + "/v1/messages/count_tokens", json=body, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["input_tokens"] == ctok.token_count(text, "3.0")


def test_thinking_with_a_system_prompt_costs_one_more() -> None:
    """Recorded (Mirascope, Future-House/ldp): thinking enabled costs 29 without a system prompt, 30 with one."""
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Two pelican names?"}]
    thinking = {"type": "enabled", "budget_tokens": 1024}
    from tokcount.dialects import anthropic
    plain = anthropic.parse({"model": "m", "system": "Be brief.", "messages": msgs[1:]}, Settings()).request
    think = anthropic.parse({"model": "m", "system": "Be brief.", "messages": msgs[1:], "thinking": thinking},
                            Settings()).request
    alone = anthropic.parse({"model": "m", "messages": msgs[1:], "thinking": thinking}, Settings()).request
    no_system = anthropic.parse({"model": "m", "messages": msgs[1:]}, Settings()).request
    count = lambda req: tokcount.count("claude-sonnet-4", req).input_tokens  # noqa: E731
    assert count(think) - count(plain) == 30
    assert count(alone) - count(no_system) == 29


def test_parallel_calls_cost_more_than_calls_in_turns_of_their_own() -> None:
    """Each call of a turn with two or more costs ``per_parallel_call`` (22) beyond ``per_call`` (4): recorded on
    Sonnet 4, Haiku 4.5 and Sonnet 4.6."""
    tools = [{"name": "get", "description": "Get a value.",
              "input_schema": {"type": "object", "properties": {"k": {"type": "string"}}}}]
    call = lambda i: {"type": "tool_use", "id": f"t{i}", "name": "get", "input": {"k": str(i)}}  # noqa: E731
    result = lambda i: {"type": "tool_result", "tool_use_id": f"t{i}", "content": f"v{i}"}  # noqa: E731
    from tokcount.dialects import anthropic
    parallel = anthropic.parse({"model": "m", "tools": tools, "messages": [
        {"role": "user", "content": "Get 1 and 2."},
        {"role": "assistant", "content": [call(1), call(2)]},
        {"role": "user", "content": [result(1), result(2)]}]}, Settings()).request
    got = tokcount.count("claude-sonnet-4", parallel)
    model = claude.model_of(default_catalog().resolve("claude-sonnet-4"))
    calls = [p for p in parallel.messages[1].parts]
    assert (model.per_call, model.per_parallel_call) == (4, 22)
    rendered = claude_tools.tool_calls_text(calls)
    assert got.breakdown["messages"][1] == claude_tokenizer.count(rendered, "3.0") + 2 * (4 + 22)


def test_long_texts_are_counted_in_a_render_process_in_the_server() -> None:
    """In the server (isolated limits) a long text goes to a render process, where a slow count is lowered and moved
    off the counting threads like a render; the count is the same as in process."""
    from tokcount.renderers.jinja import render_pool

    text = "The render process counts this sentence with ctok, once. " * 200
    assert len(text) >= claude.ISOLATED_CTOK_CHARS
    render_pool.shutdown()
    try:
        with limits.active(limits.Limits(isolated=True)):
            counter = claude.TextCounter(claude.model_of(default_catalog().resolve("claude-opus-4-7")))
            assert counter.model.tokenizer == "4.7"
            isolated = counter(text)
        assert render_pool._POOL is not None  # it went through the render processes
    finally:
        render_pool.shutdown()
    assert claude_tokenizer.cached(text, "4.7") == isolated  # remembered like an in-process count
    claude_tokenizer._cache("4.7").clear()
    assert claude_tokenizer.count(text, "4.7") == isolated
