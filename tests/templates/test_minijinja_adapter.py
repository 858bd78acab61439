"""MiniJinja renders a template only where it gives Jinja2's bytes (renderers/jinja/equivalence.py, native.py).

Each test renders through ``render_here`` (what the library, the CLI and every render process call) and checks
the answer against Jinja2's, for a case where MiniJinja alone would answer differently: the guard or the proof
must send it to Jinja2. The catalog templates on the oracle corpus are in tests/open_models/test_minijinja.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from tokcount.errors import RenderLimit, RenderTimeout, TemplateError
from tokcount.renderers.jinja import equivalence, limits, minijinja_env, native
from tokcount.renderers.jinja.jinja_env import compile_template
from tokcount.renderers.jinja.render import engine, jinja2_text, render_context, render_here, verdict
from tokcount.settings import Settings

#: needs none of ../shared (tests/conftest.py gives it an empty asset directory and cache)
pytestmark = pytest.mark.no_shared

#: prints every tool call's arguments natively (as Qwen3.5's XML tool format does)
ARGS_TEMPLATE = ("{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% for c in m.tool_calls or [] %}"
                 "{% for k, v in c.function.arguments|items %}{{ k }}={{ v|string }};{% endfor %}"
                 "{% endfor %}{% endfor %}")


#: these templates are tiny: whether MiniJinja would be faster on them is not the question here, so every proven
#: one renders on MiniJinja (``render_minijinja = "proven"``; the speed rule of "auto" has its own test below)
PROVEN = limits.Limits(native="proven")


@pytest.fixture(autouse=True)
def minijinja_whenever_proven() -> Iterator[None]:
    with limits.active(PROVEN):
        yield


def _call(args: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"role": "user", "content": "go"},
            {"role": "assistant", "content": "", "tool_calls": [{"type": "function",
                                                                 "function": {"name": "f", "arguments": args}}]}]


def _render(source: str, messages: list[dict[str, Any]], **variables: Any) -> str:
    return render_here(source, messages, None, add_generation_prompt=True, continue_final=False,
                       variables=variables)


def _minijinja_alone(source: str, messages: list[dict[str, Any]]) -> str:
    context = render_context(messages, None, add_generation_prompt=True, continue_final=False, variables={})
    return minijinja_env.render(equivalence.plan(source).digest, source, context, 10**8)


def _jinja2_alone(source: str, messages: list[dict[str, Any]]) -> str:
    context = render_context(messages, None, add_generation_prompt=True, continue_final=False, variables={})
    outer = limits.begin()
    try:
        return jinja2_text(compile_template(source), context)
    finally:
        limits.end(outer)


def test_a_proven_template_renders_on_minijinja() -> None:
    assert engine(ARGS_TEMPLATE) == "minijinja"
    before = native.Tally.minijinja
    text = _render(ARGS_TEMPLATE, _call({"city": "Paris", "days": 3, "ratio": 0.25, "ok": True, "none": None}))
    assert native.Tally.minijinja == before + 1
    assert text == _jinja2_alone(ARGS_TEMPLATE, _call({"city": "Paris", "days": 3, "ratio": 0.25, "ok": True,
                                                       "none": None}))


@pytest.mark.parametrize("value, printed", [(1e-05, "1e-05"), (1e16, "1e+16"), (2**130 + 1, str(2**130 + 1)),
                                            (float("nan"), "nan")])
def test_values_the_engines_print_differently_render_on_jinja2(value: Any, printed: str) -> None:
    """Rust prints 1e-05 as 0.00001, and MiniJinja turns an int past 128 bits into a float: the request guard sends
    such values to Jinja2, whatever the template does with them."""
    messages = _call({"x": value})
    assert f"x={printed};" not in _minijinja_alone(ARGS_TEMPLATE, messages)  # what MiniJinja alone would print
    assert f"x={printed};" in _render(ARGS_TEMPLATE, messages)


def test_values_of_other_types_render_on_jinja2() -> None:
    """A tuple prints as ``(1, 2)`` in Python; anything that is not plain JSON data goes to Jinja2."""
    messages = _call({"x": (1, 2)})
    assert _render(ARGS_TEMPLATE, messages) == _jinja2_alone(ARGS_TEMPLATE, messages)
    assert "x=(1, 2);" in _render(ARGS_TEMPLATE, messages)


def test_whitespace_python_strips_and_rust_keeps_goes_to_jinja2() -> None:
    source = ("{% for m in messages %}[{{ m.content|trim }}|{{ m.content.strip() }}|{{ m.content.split()|join(',') }}]"
              "{% endfor %}")
    messages = [{"role": "user", "content": "\x1c a b\x1f"}]
    assert engine(source) == "minijinja"
    assert _minijinja_alone(source, messages) != _jinja2_alone(source, messages)
    assert _render(source, messages) == _jinja2_alone(source, messages) == "[a b|a b|a,b]"


def test_the_guard_reads_every_string_of_a_plain_message() -> None:
    """The request guard's short path for ``{"role", "content"}`` messages (most of a long conversation) still sees
    both strings, and any other two-key message takes the full walk."""
    plan = equivalence.Plan("x", None, frozenset({"whitespace"}))
    assert equivalence.admits(plan, [{"messages": [{"role": "user", "content": "plain"}]}])
    assert not equivalence.admits(plan, [{"messages": [{"role": "user", "content": "a\x1cb"}]}])
    assert not equivalence.admits(plan, [{"messages": [{"role": "us\x1fer", "content": "plain"}]}])
    assert not equivalence.admits(plan, [{"messages": [{"role": "user", "content": 1e-05}]}])
    assert not equivalence.admits(plan, [{"messages": [{"role": "user", "content\x1e": "plain"}]}])


def test_letters_whose_case_differs_between_unicode_versions_go_to_jinja2() -> None:
    source = "{% for m in messages %}{{ m.content|upper }}{{ m.content|lower }}{% endfor %}"
    messages = [{"role": "user", "content": "\u019b\u0264 ok"}]
    assert engine(source) == "minijinja"
    assert _minijinja_alone(source, messages) != _jinja2_alone(source, messages)
    assert _render(source, messages) == _jinja2_alone(source, messages)


def test_jinja2_tests_that_minijinja_answers_otherwise_are_jinja2s_own() -> None:
    source = "{% for m in messages %}{{ m.content is sequence }} {{ m.content is iterable }}{% endfor %}"
    assert engine(source) == "minijinja"
    assert _render(source, [{"role": "user", "content": "abc"}]) == "True True"
    assert _minijinja_alone("{{ messages[0].content is sequence }}", [{"role": "user", "content": "abc"}]) == "True"


@pytest.mark.parametrize("source, why", [
    ("{{ messages[0].content|title }}", "it uses the filter 'title'"),
    ("{{ messages[0].content.splitlines() }}", "it calls the method 'splitlines'"),
    ("{{ messages[0].content.split('') }}", "it splits on an empty separator"),
    ("{{ messages|map('title')|list }}", "it applies 'title' through 'map'"),
    ("{{ lipsum() }}", "it calls 'lipsum'"),
])
def test_operations_outside_the_compared_ones_keep_a_template_on_jinja2(source: str, why: str) -> None:
    assert engine(source) == f"jinja2: {why}"


def test_a_filter_neither_engine_knows_is_no_reason_to_stay_on_jinja2() -> None:
    """DeepSeek's templates name ``from_json``, which transformers does not define: an error in both engines."""
    source = "{% if messages[0].content == 'json' %}{{ messages[0].content|from_json }}{% endif %}ok"
    assert engine(source) == "minijinja"
    with pytest.raises(TemplateError, match="from_json"):
        _render(source, [{"role": "user", "content": "json"}])


@pytest.mark.parametrize("source", [
    # Jinja2 cannot serialise an undefined value; MiniJinja's filter receives None and prints null
    "{{ messages[-1].nope|tojson }}",
    # a safe string concatenated with a str escapes it in Jinja2 (Markup), not in MiniJinja
    "{{ ('>'|safe) + messages[-1].content }}",
])
def test_a_template_the_probes_show_different_stays_on_jinja2(source: str) -> None:
    assert engine(source).startswith("jinja2: probe ")


def test_the_proof_failure_keeps_jinja2s_answer() -> None:
    source = "{{ messages[-1].nope|tojson }}"
    with pytest.raises(TemplateError, match="Undefined"):
        _render(source, [{"role": "user", "content": "hi"}])


def test_generation_tags_render_as_in_transformers() -> None:
    source = ("{% for m in messages %}{% if m.role == 'assistant' %}{%- generation -%}\n  {{ m.content }}\n"
              "{%- endgeneration %}{% else %}{{ m.content }}\n{% endif %}{% endfor %}")
    messages = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    assert engine(source) == "minijinja"
    assert _minijinja_alone(source, messages) == _jinja2_alone(source, messages) == _render(source, messages)


def test_a_lone_surrogate_renders_on_jinja2() -> None:
    """MiniJinja receives a lone surrogate (a CLI or library caller's JSON can hold one) as U+FFFD."""
    source = "{% for m in messages %}{{ m.content }}{% endfor %}"
    messages = [{"role": "user", "content": "a\ud800b"}]
    assert "\ufffd" in _minijinja_alone(source, messages)
    assert _render(source, messages) == "a\ud800b"


def test_fuel_stops_a_runaway_and_jinja2_answers_within_the_budget() -> None:
    """Reached only by a request the probes never send, so the template is proven; MiniJinja runs out of fuel
    (no clock of its own), and Jinja2, on what is left of the same budget, answers with the render limit."""
    source = ("{% if messages[0].content == 'spin' %}{% for i in range(100000) %}{% for j in range(100000) %}"
              "{% endfor %}{% endfor %}{% endif %}ok")
    assert engine(source) == "minijinja"
    with limits.active(replace(PROVEN, timeout_s=0.5, max_iterations=10**9)):
        started = time.monotonic()
        with pytest.raises(RenderTimeout):
            _render(source, [{"role": "user", "content": "spin"}])
        assert time.monotonic() - started < 1.5
    with limits.active(replace(PROVEN, max_iterations=100_000)), pytest.raises(RenderLimit, match="max_loop_iter"):
        _render(source, [{"role": "user", "content": "spin"}])


def test_a_prompt_past_max_render_chars_is_jinja2s_render_limit() -> None:
    source = "{% for m in messages %}{{ m.content }}{% endfor %}"
    with limits.active(replace(PROVEN, max_chars=1000)):
        assert engine(source) == "minijinja"
        with pytest.raises(RenderLimit, match="max_render_chars"):
            _render(source, [{"role": "user", "content": "x" * 5000}])


def test_the_setting_turns_minijinja_off() -> None:
    assert engine(ARGS_TEMPLATE) == "minijinja"
    before = native.Tally.minijinja
    with limits.active(limits.Limits(native="off")):
        _render(ARGS_TEMPLATE, _call({"a": 1}))
    assert native.Tally.minijinja == before


def test_threads_render_concurrently_each_on_its_own_environment() -> None:
    source = "{% for m in messages %}<{{ m.role }}>{{ m.content|trim }}{% endfor %}"
    results: list[bool] = []

    def work(n: int) -> None:
        for i in range(50):
            messages = [{"role": "user", "content": f" thread {n} call {i} "}]
            results.append(_render(source, messages) == f"<user>thread {n} call {i}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 200


def test_the_speed_rule_keeps_a_proven_template_on_jinja2_when_minijinja_is_not_faster(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Proven, and timed on the timing conversations; with the rule at 0 MiniJinja is never fast enough ("auto",
    the default), while "proven" renders it on MiniJinja all the same."""
    source = "{% for m in messages %}{{ m.role }}{{ m.content }}{% endfor %}"
    found = verdict(source)
    assert found.proven and found.jinja2_s > 0 and found.minijinja_s > 0 and found.ratio > 0
    monkeypatch.setattr(native, "FASTER", 0.0)
    with limits.active(limits.Limits(native="auto")):
        assert engine(source).startswith("jinja2: proven, but not faster")
        before = native.Tally.minijinja
        assert _render(source, [{"role": "user", "content": "hi"}]) == "userhi"
        assert native.Tally.minijinja == before
    assert engine(source) == "minijinja"
    assert _render(source, [{"role": "user", "content": "hi"}]) == "userhi"
    assert native.Tally.minijinja == before + 1


@pytest.mark.parametrize("given, mode", [("proven", "proven"), ("OFF", "off"), ("false", "off"), ("true", "auto")])
def test_the_setting_reads_its_three_modes(given: str, mode: str) -> None:
    settings = Settings.load(env={"TOKCOUNT_RENDER_MINIJINJA": given})
    assert settings.render_minijinja == mode
    assert limits.of(settings).native == mode


def test_the_setting_refuses_other_values() -> None:
    with pytest.raises(ValueError, match="TOKCOUNT_RENDER_MINIJINJA must be auto, proven or off"):
        Settings.load(env={"TOKCOUNT_RENDER_MINIJINJA": "sometimes"})
