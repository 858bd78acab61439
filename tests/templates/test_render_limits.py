"""Bounded rendering of inline templates: runaway loops and memory bombs are refused (time: 503, size or loop
limits: 400 naming the limit) before they allocate; normal templates render exactly as before; a template that does
not compile is a named 400, remembered. The same templates as models, through ``tokcount.count`` and the server (1
and 2 workers, ``/healthz`` answering meanwhile): tests/templates/test_render_limits_server.py."""

from __future__ import annotations

import resource
import time
from pathlib import Path

import pytest

from support.hostile_templates import GIGABYTE, HUGE_REPEAT, NESTED, RECURSIVE
from tokcount import settings_in_force
from tokcount.errors import RenderLimit, RenderTimeout, TemplateError
from tokcount.models.catalog import default_catalog
from tokcount.renderers.jinja import jinja_env, limits
from tokcount.renderers.jinja.render import render
from tokcount.settings import Settings

#: needs none of ../shared (tests/conftest.py gives it an empty asset directory and cache)
pytestmark = pytest.mark.no_shared

#: each refused with RenderLimit before it allocates (the process never grows past a few hundred MB)
BOMBS = [
    HUGE_REPEAT,
    "{{ [1, 2] * 10**10 }}",
    "{{ ['a' * 60000] * 10**5 }}",
    "{{ '%*s' % (10**10, 'x') }}",
    "{{ '%10000000000s' % 'x' }}",
    "{{ '%.10000000000f' % 1.5 }}",
    "{{ 10 ** (10 ** 10) }}",
    "{% set ns = namespace(x=3) %}{% for i in range(100) %}{% set ns.x = ns.x * ns.x %}{% endfor %}",
    "{{ 'a'|center(10**10) }}",
    "{{ 'a'|center(10000000000) }}",
    "{% filter center(10000000000) %}a{% endfilter %}",
    "{{ [[[1] * 1000] * 1000] * 1000 }}",
    "{{ ([[1] * 5000] * 1000)|sum(start=[]) }}",
    "{{ 'a'.center(10**10) }}",
    "{{ 'a'.ljust(10**10) }}",
    "{{ 'a'.rjust(10**10) }}",
    "{{ '1'.zfill(10**10) }}",
    "{{ ('\\t' * 1000).expandtabs(10**8) }}",
    "{{ ('a' * 1000).replace('a', 'b' * 10**6) }}",
    "{{ ('a' * 1000).replace('', 'b' * 10**6) }}",
    "{{ ('a' * 1000)|replace('a', 'b' * 10**6) }}",
    "{{ ('x\\n' * 10000)|indent(10**5) }}",
    "{{ ('a ' * 30000)|wordwrap(1, wrapstring='b' * 100000) }}",
    "{{ ('a ' * 600000)|wordwrap(10) }}",
    "{{ ('a ' * 600000)|urlize }}",
    "{{ '%*s'|format(10**10, 'x') }}",
    "{{ '{:>10000000000}'.format('x') }}",
    "{{ '{0:{1}}'.format('x', 10**10) }}",
    "{{ ('b' * 100000).join(['a'] * 100000) }}",
    "{{ (['a' * 100000] * 100)|join('b' * 1000000) }}",
    "{{ 'ab'.translate({97: 'x' * 10**8}) }}",
    "{{ lipsum(10**7) }}",
    "{{ range(10)|batch(10**9, 'x')|list }}",
    "{{ range(10)|slice(10**9)|list }}",
    "{{ messages|tojson(indent=10**9) }}",
    "{{ (10).to_bytes(10**10, 'big') }}",
    "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
    "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
    "{% set ns = namespace(s=['a']) %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
    "{% set x %}{% for i in range(100000) %}{{ 'a' * 10000 }}{% endfor %}{% endset %}{{ x }}",
    "{% macro m() %}{% for i in range(100000) %}{{ 'a' * 10000 }}{% endfor %}{% endmacro %}{{ m() }}",
    "{{ range(100000)|map('center', 10**6)|list|length }}",
    GIGABYTE,
]


def _render(source: str) -> str:
    return render(source, [{"role": "user", "content": "hi"}], None, add_generation_prompt=False,
                  continue_final=False, variables={})


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("source", BOMBS)
def test_bombs_are_refused_before_they_allocate(source: str) -> None:
    peak = _rss_mb()  # the process's peak so far (other tests in the same run may have raised it)
    started = time.monotonic()
    with pytest.raises(RenderLimit) as info:
        _render(source)
    assert time.monotonic() - started < 10
    assert "max_render_chars" in info.value.message or "allowed" in info.value.message
    # every bomb would need >= 10 GB: had one allocated, the peak would have grown by far more than 1 GiB
    assert _rss_mb() < 4096 or _rss_mb() - peak < 1024


SLOW_STEPS = [  # loops whose every iteration is one slow uninterruptible step on a ~1M-character string
    "{% set big = 'ab cd ' * 200000 %}{% for i in range(100000) %}{{ (big|title)|length }}{% endfor %}",
    "{% set big = 'ab cd ' * 200000 %}{% for i in range(100000) %}{{ big.upper()|length }}{% endfor %}",
    "{% set big = 'ab cd ' * 200000 %}{% for i in range(100000) %}{{ (big ~ i)|length }}{% endfor %}",
]


@pytest.mark.parametrize("source", [NESTED, RECURSIVE, *SLOW_STEPS])
def test_runaways_stop_within_the_budget(source: str) -> None:
    with limits.active(limits.Limits(timeout_s=0.5)):
        started = time.monotonic()
        with pytest.raises((RenderTimeout, RenderLimit)) as info:  # a slow step may hit a size total first
            _render(source)
    assert time.monotonic() - started < 3
    if source in (NESTED, RECURSIVE):
        assert isinstance(info.value, RenderTimeout)
        assert "0.5 s" in info.value.message and "render_timeout_s" in info.value.message


def test_loop_iterations_are_capped() -> None:
    with limits.active(limits.Limits(max_iterations=10_000)):
        assert _render("{% for i in range(5000) %}{% endfor %}ok") == "ok"
        with pytest.raises(RenderLimit, match="max_loop_iterations"):
            _render("{% for i in range(3) %}{% for j in range(5000) %}{% endfor %}{% endfor %}")


def test_the_output_cap_is_exact() -> None:
    with limits.active(limits.Limits(max_chars=1000)):
        assert len(_render("{% for i in range(10) %}{{ 'a' * 100 }}{% endfor %}")) == 1000
        with pytest.raises(RenderLimit, match="max_render_chars"):
            _render("{% for i in range(10) %}{{ 'a' * 100 }}{% endfor %}!")


def test_inline_limits_ask_to_move_instead_of_refusing() -> None:
    inline = limits.Limits().inline(0.01, 1000)
    with limits.active(inline):
        with pytest.raises(limits.OffLoop):
            _render(NESTED)
        with pytest.raises(limits.OffLoop):
            _render("{{ 'a' * 2000 }}")
    # a loop cap is the same everywhere: refused, not moved
    with pytest.raises(RenderLimit), limits.active(limits.Limits(max_iterations=600).inline(10, 1000)):
        _render("{% for i in range(100000) %}{% endfor %}")


@pytest.mark.parametrize(("source", "expected"), [
    ("{{ ' ' * 4 }}|{{ 'ab' * 3 }}|{{ [1] * 3 }}|{{ 3 * 'x' }}", "    |ababab|[1, 1, 1]|xxx"),
    ("{{ '%5s|%-3d|%.2f' % ('a', 7, 1.5) }}|{{ 7 % 3 }}|{{ 2 ** 10 }}|{{ 2 ** -1 }}", "    a|7  |1.50|1|1024|0.5"),
    ("{{ 'a' + 'b' }}|{{ [1] + [2] }}|{% set x = 'q' %}{{ x + x }}|{{ 1 + 2 }}|{{ x ~ 1 ~ x }}", "ab|[1, 2]|qq|3|q1q"),
    ("{{ 'a'|center(5) }}|{{ 'x\ny'|indent(2, true) }}|{{ 'a b c'|wordwrap(1) }}", "  a  |  x\n  y|a\nb\nc"),
    ("{{ '%s-%s'|format(1, 2) }}|{{ 'aXa'|replace('a', 'bb') }}|{{ [1, 2]|join(',') }}", "1-2|bbXbb|1,2"),
    ("{{ 'a{}b'.format(1) }}|{{ 'a\tb'.expandtabs(2) }}|{{ '7'.zfill(3) }}|{{ ','.join(['a', 'b']) }}",
     "a1b|a b|007|a,b"),
    ("{{ ([[1, 2], [3]])|sum(start=[]) }}|{{ [1, 2]|sum }}|{{ [{'a': 2}]|sum(attribute='a') }}", "[1, 2, 3]|3|2"),
    ("{{ range(5)|batch(2, 0)|list }}|{{ range(4)|slice(2)|list }}|{{ {'a': 1}|tojson(indent=2) }}",
     "[[0, 1], [2, 3], [4, 0]]|[[0, 1], [2, 3]]|{\n  \"a\": 1\n}"),
    ("{% for x in 'ab' %}{{ loop.index }}{{ x }}{{ loop.length }}{{ loop.last }}{% endfor %}",
     "1a2False2b2True"),
    ("{% for x in ['a b', 'c'] %}{% set y = x.split(' ') %}{{ y|length }}{{ x.startswith('a') }}"
     "{{ x.center(5) }}{% endfor %}{% set z %}{{ 'q'.upper() }}{% endset %}{{ z }}", "2True a b 1False  c  Q"),
    ("{% for k, v in {'a': 1}.items() %}{{ k }}{{ v }}{% else %}none{% endfor %}"
     "{% for x in [] %}{% else %}e{% endfor %}", "a1e"),
    ("{% for x in [[1, [2]], [3]] recursive %}[{% if x is iterable %}{{ loop(x) }}{% else %}{{ x }}{% endif %}]"
     "{% endfor %}", "[[1][[2]]][[3]]"),
])
def test_bounded_operations_render_as_jinja_does(source: str, expected: str) -> None:
    assert _render(source) == expected
    plain = jinja2_plain().from_string(source).render(messages=[{"role": "user", "content": "hi"}])
    assert plain == expected


def jinja2_plain():  # type: ignore[no-untyped-def]
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = jinja_env.environment().filters["tojson"]
    return env


def test_syntax_errors_are_named_with_their_line_and_remembered() -> None:
    source = "{% for m in messages %}\n{{ m.content }}\n{% if %}\n{% endfor %}"
    with pytest.raises(TemplateError, match=r"qwen-x's chat template does not compile at line 3"):
        jinja_env.compile_template(source, "qwen-x's chat template")
    misses = jinja_env._compiled.cache_info().misses
    for _ in range(3):
        with pytest.raises(TemplateError, match="line 3"):
            _render(source)
        with pytest.raises(TemplateError, match="line 3"):
            jinja_env.parse_template(source)
    assert jinja_env._compiled.cache_info().misses == misses  # not parsed again
    with pytest.raises(TemplateError, match="line 1: No filter named 'nope'"):
        _render("{{ 'a'|nope }}")


def test_defaults_cover_every_catalog_context_window() -> None:
    largest = max(s.context_window or 0 for s in default_catalog().models.values())
    assert 8 * largest <= limits.Limits().max_chars
    assert 1 <= limits.Limits().timeout_s <= 10


def test_the_render_bounds_defaults_are_the_settings() -> None:
    """One source of defaults: a render's bounds outside any settings are the settings' defaults, and the library's
    (:func:`limits.defaults`) those of the settings in force, read without a hook installed from above."""
    assert limits.Limits() == limits.of(Settings())
    assert limits.defaults() == limits.of(settings_in_force.current())
    with settings_in_force.using(render_timeout_s=1.5, max_loop_iterations=123):
        assert (limits.defaults().timeout_s, limits.defaults().max_iterations) == (1.5, 123)
    assert limits.defaults() == limits.of(settings_in_force.current())


def test_settings_read_the_limits(tmp_path: Path) -> None:
    config = tmp_path / "t.toml"
    config.write_text("render_timeout_s = 2.5\nmax_render_chars = 1000\nmax_loop_iterations = 77\n")
    s = Settings.load(config, env={})
    assert limits.of(s) == limits.Limits(timeout_s=2.5, max_chars=1000, max_iterations=77)
    s = Settings.load(config, env={"TOKCOUNT_RENDER_TIMEOUT": "0.25", "TOKCOUNT_MAX_RENDER_CHARS": "5000",
                                   "TOKCOUNT_MAX_LOOP_ITERATIONS": "9"})
    assert limits.of(s) == limits.Limits(timeout_s=0.25, max_chars=5000, max_iterations=9)
    for bad in ({"TOKCOUNT_RENDER_TIMEOUT": "0"}, {"TOKCOUNT_RENDER_TIMEOUT": "soon"},
                {"TOKCOUNT_MAX_RENDER_CHARS": "-1"}):
        with pytest.raises(ValueError):
            Settings.load(None, env=bad)
