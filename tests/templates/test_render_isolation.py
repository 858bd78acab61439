"""Renders in render processes (the server's renders): memory and time bounded by the OS for whatever a template
calls, including the methods and filters the in-process sizing does not know (issue: hostile input, round 2, item 4).

Each template below allocates gigabytes or runs for tens of seconds in one operation that no cooperative check
sees. Rendered isolated, each ends within its budget + 1 s, and this process (the server's side) does not grow:
its peak RSS stays where it was. Ordinary templates render byte for byte what the in-process render gives."""

from __future__ import annotations

import resource
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from tokcount.errors import RenderLimit, RenderTimeout, TemplateError
from tokcount.templates import limits, render_pool
from tokcount.templates.render import render, render_here

#: needs none of ../shared (tests/conftest.py gives it an empty asset directory and cache)
pytestmark = pytest.mark.no_shared

TIMEOUT_S = 2.0
#: small enough that every bomb below passes it, large enough for a render process to start and render
MEMORY_MB = 200
ISOLATED = limits.Limits(timeout_s=TIMEOUT_S, isolated=True, memory_mb=MEMORY_MB, processes=2)
#: render_minijinja = "proven": MiniJinja renders every proven template, whether or not it is faster
MINIJINJA = replace(ISOLATED, native="proven")

#: the probe's findings: each took 1-5.7 GB of RSS or 15-44 s in process
UNSEEN = {
    "bytes repetition": "{{ ('a'.encode() * 10**9)|length }}",
    "bytes center": "{{ 'a'.encode().center(10**9)|length }}",
    "bytes ljust": "{{ 'a'.encode().ljust(10**9)|length }}",
    "format of a repeated long string": "{{ ('{0}' * 20000).format('x' * 20000)|length }}",
    "percent of a repeated long string": "{{ ('%s' * 20000) % ((('x' * 20000),) * 20000)|length }}",
    "pprint of a big nested value": "{{ ([['x' * 100] * 3000] * 3000)|pprint|length }}",
    "string of a big nested value": "{{ ([['x' * 100] * 3000] * 3000)|string|length }}",
    "tojson indent of a big nested value": "{{ ([['x' * 100] * 3000] * 3000)|tojson(indent=1)|length }}",
    "title of a long string": "{% set s = 'ab ' * 20000000 %}{{ (s|title)|length }}{{ (s|title)|length }}",
    "split of a long string": "{{ ('a ' * 30000000).split()|length }}",
    "wordcount of a long string": "{{ ('a ' * 30000000)|wordcount }}",
    "list of a long string": "{{ ('a' * 50000000)|list|length }}",
    "strftime_now with a huge format": "{{ strftime_now('%Y-%m-%d ' * 10000000)|length }}",
    "filter chain over 10M items": "{{ ('a' * 10000000)|map('upper')|select|map('lower')|list|length }}",
    "big integer as text": "{% set n = namespace(x=7) %}{% for i in range(17) %}{% set n.x = n.x * n.x %}"
                           "{% endfor %}{{ (n.x|string)|length }}",
    # proven (the probes never say exactly "Hello"), so MiniJinja renders it (MINIJINJA below), and MiniJinja
    # does not size a ~ before joining
    "doubling by ~ on MiniJinja": "{% if messages[0].content == 'Hello' %}{% set n = namespace(s='ab') %}"
                                  "{% for i in range(40) %}{% set n.s = n.s ~ n.s %}{% endfor %}{{ n.s|length }}"
                                  "{% endif %}",
}

MESSAGES = [{"role": "user", "content": "Hello"}]


@pytest.fixture(autouse=True)
def fresh_pool() -> Iterator[None]:
    render_pool.shutdown()
    yield
    render_pool.shutdown()


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _isolated(source: str, bounds: limits.Limits = ISOLATED) -> str:
    with limits.active(bounds):
        return render(source, MESSAGES, None, add_generation_prompt=True, continue_final=False, variables={})


def test_ordinary_templates_render_identically() -> None:
    source = ("{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% if m.tool_calls %}"
              "{{ m.tool_calls|tojson(indent=2) }}{% endif %}\n{% endfor %}"
              "{% if add_generation_prompt %}<|assistant|>{% endif %}{{ strftime_now('%Y') }}{{ extra }}")
    messages = [{"role": "user", "content": "héllo \u2028 wörld"},
                {"role": "assistant", "content": "", "tool_calls": [{"name": "f", "arguments": {"a": [1, 2.5, None]}}]}]
    for add in (True, False):
        with limits.active(ISOLATED):
            got = render(source, messages, None, add_generation_prompt=add, continue_final=False,
                         variables={"extra": "✓"})
        assert got == render_here(source, messages, None, add_generation_prompt=add, continue_final=False,
                                  variables={"extra": "✓"})


def test_template_errors_keep_their_kind_and_message() -> None:
    with pytest.raises(TemplateError, match="nope"):
        _isolated("{{ raise_exception('nope') }}")
    with pytest.raises(TemplateError, match="does not compile at line 1"):
        _isolated("{% for %}")
    with pytest.raises(RenderLimit, match="max_render_chars"):
        _isolated("{{ 'a' * 10**10 }}")


@pytest.mark.parametrize("name", sorted(UNSEEN))
def test_unseen_bombs_are_bounded(name: str) -> None:
    before = _peak_mb()
    started = time.monotonic()
    with pytest.raises((RenderLimit, RenderTimeout, TemplateError)):
        _isolated(UNSEEN[name], MINIJINJA)
    elapsed = time.monotonic() - started
    assert elapsed < TIMEOUT_S + 1, f"{name}: {elapsed:.1f} s"
    assert _peak_mb() - before < 100, f"{name}: this process grew to {_peak_mb():.0f} MB"


def test_a_killed_render_process_is_replaced() -> None:
    with pytest.raises(RenderTimeout):
        _isolated("{{ ('a' * 10000000)|map('upper')|select|map('lower')|list|length }}"
                  "{{ ('a' * 10000000)|map('upper')|select|map('lower')|list|length }}"
                  "{{ ('a' * 10000000)|map('upper')|select|map('lower')|list|length }}"
                  "{{ ('a' * 10000000)|map('upper')|select|map('lower')|list|length }}",
                  limits.Limits(timeout_s=0.3, isolated=True, memory_mb=2000, processes=1))
    assert _isolated("{{ messages[0].content }}") == "Hello"


def test_a_hostile_template_does_not_hold_ordinary_renders() -> None:
    """Three runaways of one template in flight (more than the 2 ordinary processes): after a quarter second they
    run at the lowest priority outside the ordinary processes, so ordinary renders meanwhile are all answered while
    the runaways are still running, not after their budget."""
    runaway = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    long_budget = limits.Limits(timeout_s=6.0, isolated=True, memory_mb=MEMORY_MB, processes=2)
    errors: list[BaseException] = []

    def hostile() -> None:
        try:
            _isolated(runaway, long_budget)
        except BaseException as exc:
            errors.append(exc)

    _isolated("{{ messages[0].content }}", long_budget)  # the processes are up
    threads = [threading.Thread(target=hostile) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    for _ in range(20):
        assert _isolated("{{ messages[0].content }}!", long_budget) == "Hello!"
    assert all(t.is_alive() for t in threads) and not errors, "the ordinary renders waited for the runaways"
    for t in threads:
        t.join(10)
    assert len(errors) == 3 and all(isinstance(e, (RenderTimeout, RenderLimit)) for e in errors), errors


def test_event_loop_render_moves_and_is_adopted() -> None:
    """The event loop's variant waits its tiny budget, then OffLoop; the counting thread's identical render
    takes over the one in flight (it finishes once, in about its own time, not twice)."""
    slow = "{% for i in range(300) %}{% for j in range(3000) %}{% endfor %}{% endfor %}{{ messages[0].content }}"
    inline = ISOLATED.inline(0.02, 256 * 1024)
    with limits.active(inline), pytest.raises(limits.OffLoop):
        render(slow, MESSAGES, None, add_generation_prompt=True, continue_final=False, variables={})
    assert _isolated(slow) == "Hello"
