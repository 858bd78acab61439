"""Every catalog template renders byte-for-byte the same under MiniJinja and Jinja2: on every text case of the
oracle corpus and on long chained conversations built from it, with the values prepared exactly as a count
prepares them (``render_inputs``), each engine called directly. And every one of them is proven at run time, so
counts use MiniJinja (tests/open_models/test_oracle_corpus.py checks those counts against transformers).

The character sets the guards rely on (templates/equivalence.py) are measured again here over every code point,
so an upgrade of either engine that changes them fails this file instead of changing counts."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import minijinja
import pytest

from support.shared import has_media, load_corpus
from tokcount import loader
from tokcount.count import as_request
from tokcount.errors import TemplateError, TokcountError
from tokcount.models.catalog import default_catalog
from tokcount.renderers.jinja import render_inputs
from tokcount.templates import equivalence, limits, minijinja_env
from tokcount.templates.jinja_env import compile_template
from tokcount.templates.render import jinja2_text, render_context, verdict

CASES = [c for c in load_corpus() if not has_media(c)]


@cache
def catalog_templates() -> dict[str, str]:
    """Catalog model id → template source, one model per distinct template whose files are in ../shared."""
    out: dict[str, str] = {}
    seen: set[str] = set()
    catalog = default_catalog()
    for name in catalog.names():
        spec = catalog.resolve(name)
        if spec.renderer != "jinja":
            continue
        try:
            source = loader.load(spec).template()
        except TokcountError:  # files not in ../shared (Kimi K2's, Step's): nothing to render
            continue
        if source not in seen:
            seen.add(source)
            out[spec.id] = source
    return out


MODELS = sorted(catalog_templates())


def test_the_catalog_templates_are_all_here() -> None:
    assert len(MODELS) >= 17, MODELS


@pytest.mark.parametrize("model", MODELS)
def test_every_catalog_template_is_proven(model: str) -> None:
    """Proven at run time (which engine then renders it is a matter of speed: native.FASTER)."""
    found = verdict(catalog_templates()[model])
    assert found.proven, found.why


def _outcomes(model: str, request: dict[str, Any]) -> tuple[str, str, bool]:
    """(Jinja2's text or error, MiniJinja's, whether the request guard admits MiniJinja) for ``request``."""
    loaded = loader.load(default_catalog().resolve(model))
    given = render_inputs(loaded, as_request(copy.deepcopy(request)))
    context = render_context(given.messages, given.tools, add_generation_prompt=given.add_generation_prompt,
                             continue_final=given.continue_final, variables=given.variables)
    plan = equivalence.plan(given.source)
    outer = limits.begin()
    try:
        want = jinja2_text(compile_template(given.source), context)
    except Exception as exc:
        want = f"error {type(exc).__name__}"
    finally:
        limits.end(outer)
    try:
        got = minijinja_env.render(plan.digest, given.source, context, 10**9)
    except minijinja.TemplateError:
        got = "error"
    return want, got, equivalence.admits(plan, [context])


def _agree(want: str, got: str) -> bool:
    return want == got or (want.startswith("error ") and got == "error")


@pytest.mark.parametrize("model", MODELS)
def test_the_oracle_corpus_renders_byte_equal(model: str) -> None:
    rendered = 0
    differ = []
    for case in CASES:
        request = {"messages": case["messages"], "tools": case.get("tools")}
        try:
            want, got, admitted = _outcomes(model, request)
        except TemplateError:  # refused while preparing (e.g. a continued final message without text)
            continue
        assert admitted, f"{case['id']}: the request guard sends the corpus case to Jinja2"
        if not _agree(want, got):
            differ.append(case["id"])
        rendered += not want.startswith("error ")
    assert not differ, f"{model}: {len(differ)} of {len(CASES)} corpus cases render differently: {differ[:10]}"
    assert rendered >= len(CASES) // 2, f"{model}: only {rendered} cases rendered at all"


def _chained(kind: str) -> list[dict[str, Any]]:
    """Long conversations from the corpus: ``agent`` = every case's messages one after the other (system prompts
    after the first dropped), tools of all cases together; ``chat`` = user/assistant turns only, alternating."""
    messages: list[dict[str, Any]] = []
    tools: dict[str, Any] = {}
    for case in CASES:
        for tool in case.get("tools") or []:
            tools.setdefault(tool["function"]["name"], tool)
        for m in case["messages"]:
            if m["role"] == "system" and messages:
                continue
            if kind == "chat":
                if m["role"] not in ("user", "assistant") or not isinstance(m.get("content"), str) or not m["content"]:
                    continue
                want = "user" if not messages or messages[-1]["role"] == "assistant" else "assistant"
                m = {"role": want, "content": m["content"]}
            messages.append(m)
    if messages[-1]["role"] != "user":
        messages.append({"role": "user", "content": "And now?"})
    half = next(n for n in range(len(messages) // 2, len(messages) + 1) if messages[n - 1]["role"] == "user")
    listed = list(tools.values()) if kind == "agent" else None
    return [{"messages": messages[:half], "tools": listed}, {"messages": messages, "tools": listed}]


@pytest.mark.parametrize("model", MODELS)
def test_long_chained_conversations_render_byte_equal(model: str) -> None:
    rendered = 0
    for kind in ("agent", "chat"):
        for request in _chained(kind):
            want, got, admitted = _outcomes(model, request)
            assert admitted
            assert _agree(want, got), f"{model}: a chained {kind} conversation of {len(request['messages'])} " \
                                      "messages renders differently"
            rendered += not want.startswith("error ")
    assert rendered, f"{model}: no chained conversation rendered at all"


def _all_code_points() -> list[str]:
    return [chr(c) for c in range(1, 0x110000) if not 0xD800 <= c <= 0xDFFF]


def _differing(expression: str, python: Any) -> set[str]:
    """Code points ``x`` where MiniJinja's ``expression`` differs from ``python(x)``."""
    env = minijinja_env.environment()
    env.add_template("t", "{% for x in xs %}{{ " + expression + " }}\x00{% endfor %}")
    chars = _all_code_points()
    out = env.render_template("t", xs=chars).split("\x00")[:-1]
    assert len(out) == len(chars)
    return {x for x, got in zip(chars, out, strict=True) if got != python(x)}


def test_the_whitespace_guard_is_what_the_engines_disagree_on() -> None:
    found = _differing("('a' ~ x ~ 'a' ~ x)|trim", lambda x: ("a" + x + "a" + x).strip())
    found |= _differing("('a' ~ x ~ 'b').split()|join('|')", lambda x: "|".join(("a" + x + "b").split()))
    found |= _differing("(x ~ 'a' ~ x).strip()", lambda x: (x + "a" + x).strip())
    assert found == set(equivalence.WHITESPACE)


def test_the_case_guard_is_what_the_engines_disagree_on() -> None:
    found = _differing("x|lower", str.lower) | _differing("x|upper", str.upper)
    ranges = {chr(c) for a, b in equivalence.CASE_RANGES for c in range(a, b + 1)}
    assert found == ranges
