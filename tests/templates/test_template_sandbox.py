"""The chat-template sandbox: its fast attribute paths answer as ImmutableSandboxedEnvironment does, and untrusted
templates still cannot reach Python internals or mutate what they are given."""

from __future__ import annotations

import jinja2
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from tokcount.errors import TemplateError
from tokcount.templates.jinja_env import environment
from tokcount.templates.render import render

#: needs none of ../shared (tests/conftest.py gives it an empty asset directory and cache)
pytestmark = pytest.mark.no_shared

CASES = [
    "{{ m.role }}|{{ m.missing is defined }}|{{ m.items() | list | length }}|{{ m.get('role') }}",
    "{{ s.strip() }}|{{ s.split(' ') | length }}|{{ s.nothing is defined }}|{{ s.upper }}",
    "{% for x in [1, 2] %}{{ loop.index0 }}{{ loop.first }}{{ loop.nope is defined }}{% endfor %}",
    "{% set ns = namespace(a=1) %}{% set ns.a = ns.a + 1 %}{{ ns.a }}|{{ ns.b is defined }}",
    "{{ m.__class__ is defined }}|{{ s.__class__ is defined }}|{{ s._x is defined }}",
    "{{ m.keys is defined }}|{{ m['role'] }}|{{ m.content }}",
]


@pytest.mark.parametrize("source", CASES)
def test_fast_paths_render_like_the_plain_sandbox(source: str) -> None:
    plain = ImmutableSandboxedEnvironment()
    plain.globals["namespace"] = environment().globals["namespace"]
    values = {"m": {"role": "user", "content": "hi", "keys": 3}, "s": "  a b  "}
    assert environment().from_string(source).render(**values) == plain.from_string(source).render(**values)


@pytest.mark.parametrize("source", [
    "{{ messages.append(1) }}",
    "{{ messages[0].update({'role': 'x'}) }}",
    "{{ messages[0].content.__class__.__mro__ }}",
    "{{ ''.__class__.__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
])
def test_unsafe_templates_are_refused(source: str) -> None:
    messages = [{"role": "user", "content": "hi"}]
    try:
        out = render(source, messages, None, add_generation_prompt=False, continue_final=False, variables={})
    except (TemplateError, jinja2.exceptions.SecurityError):
        out = None
    assert out in (None, "")  # either refused or an undefined (empty) value: never Python internals
    assert messages == [{"role": "user", "content": "hi"}]
