"""Escape attempts from a chat template: every one fails closed (a 400 or an undefined that renders nothing), and
no secret of the process (a canary API key and Hub token in the environment) appears in any output, on every
rendering path: ``render``, ``tokcount.count`` with a hostile model, and the server routes that return token
strings (vLLM ``/tokenize`` ``token_strs``, Bifrost ``token_strings``) plus a plain count route."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import jinja2
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

import tokcount
from support.hostile_models import installed, write_models
from support.serverkit import running_server
from tokcount.errors import TemplateError
from tokcount.settings import Settings
from tokcount.templates.jinja_env import FAST_ATTRIBUTES, environment
from tokcount.templates.render import render

CANARY = "canary-k3y-0f-th3-s3rv3r"
HF_CANARY = "hf_canaryt0k3n"
#: what a leak would look like in rendered text: the secrets, or any Python internal's repr
MARKERS = (CANARY, HF_CANARY, "canary", "<class", "<function", "<module", "<built-in", "<bound", "environ",
           "__", "mappingproxy", "<frozen", "Namespace", "globals")

ESCAPES = [
    # format-string traversal (the leak of issue 10) and its variants
    "{{ '{0.__init__.__globals__[os].environ[TOKCOUNT_API_KEYS]}'.format(cycler) }}",
    "{{ '{0.__init__.__globals__[os].environ[HF_TOKEN]}'.format(joiner) }}",
    "{{ '{0.__class__.__mro__}'.format(messages) }}",
    "{{ '{0.__class__.__base__.__subclasses__}'.format(messages) }}",
    "{{ '{m.__init__.__globals__}'.format_map({'m': cycler}) }}",
    "{{ '{0[0].__class__}'.format(messages) }}",
    "{{ '{0.__globals__[os].environ}'.format(lipsum) }}",
    "{% set f = '{0.__init__.__globals__}'.format %}{{ f(namespace) }}",
    "{% set f = '{0.__init__.__globals__}'['format'] %}{{ f(cycler) }}",
    "{{ ('{0.__init__.__globals__}'|attr('format'))(cycler) }}",
    "{% set ns = namespace(f='{0.__init__.__globals__}'.format) %}{{ ns.f(cycler) }}",
    "{{ '{0.__init__.__globals__}'.format.__self__ }}",
    "{{ '%s' % cycler.__init__.__globals__ }}",
    "{{ ('%s'|format(cycler.__init__.__globals__)) }}",
    # |attr and item access to internals
    "{{ cycler|attr('__init__')|attr('__globals__') }}",
    "{{ messages|attr('__class__') }}",
    "{{ messages[0]['__class__'] }}",
    "{{ messages['__class__']['__mro__'] }}",
    "{{ ''['__class__']['__mro__'][1]['__subclasses__']() }}",
    # globals of every callable a template is given
    "{{ cycler.__init__.__globals__.os.environ }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'].environ }}",
    "{{ raise_exception.__globals__['os'].environ }}",
    "{{ strftime_now.__globals__['os'].environ }}",
    "{{ dict.__call__.__func__.__globals__ }}",
    "{{ dict.fromkeys.__func__.__globals__ }}",
    "{{ range.__globals__ }}",
    "{{ cycler.reset.__func__.__globals__ }}",
    # the type hierarchy
    "{{ messages.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''.__class__.mro() }}",
    "{{ {}.__class__.__subclasses__() }}",
    "{{ ().__class__.__bases__[0].__subclasses__() }}",
    "{% for x in [1] %}{{ loop.__class__.__init__.__globals__ }}{% endfor %}",
    "{% set ns = namespace() %}{{ ns.__class__.__init__.__globals__ }}",
    "{% set ns = namespace() %}{{ ns._Namespace__attrs }}",
    # the template itself
    "{{ self }}{{ self.__dict__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ self._TemplateReference__context.environment }}",
    "{% for k in self.__dict__ %}{{ k }}{% endfor %}",
    "{% for k in cycler.__dict__ %}{{ k }}{% endfor %}",
    "{% for k in messages.__class__.__dict__ %}{{ k }}{% endfor %}",
    "{{ messages.__len__.__self__ }}",
    "{% set ns = namespace() %}{% set ns.__class__ = 1 %}{{ ns }}",
]


@pytest.fixture(scope="module", autouse=True)
def canaries() -> Iterator[None]:
    old = {k: os.environ.get(k) for k in ("TOKCOUNT_API_KEYS", "HF_TOKEN")}
    os.environ["TOKCOUNT_API_KEYS"] = CANARY
    os.environ["HF_TOKEN"] = HF_CANARY
    yield
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def assert_no_leak(text: str) -> None:
    for marker in MARKERS:
        assert marker not in text, marker


def assert_no_secret(text: str) -> None:
    """Errors may name the attribute that was refused (``'__init__' of 'type' object is unsafe``), never a value."""
    for secret in (CANARY, HF_CANARY, "environ("):
        assert secret not in text, secret


def _render(source: str, messages: list[dict] | None = None) -> str | None:
    messages = messages or [{"role": "user", "content": "hi"}]
    try:
        return render(source, messages, None, add_generation_prompt=False, continue_final=False, variables={})
    except TemplateError as exc:
        assert_no_secret(exc.message)
        return None


@pytest.mark.parametrize("source", ESCAPES)
def test_render_refuses(source: str) -> None:
    out = _render(source)
    if out is not None:  # an undefined: nothing of Python's may come out
        assert_no_leak(out)


@pytest.mark.parametrize("source", ESCAPES)
def test_plain_sandbox_is_no_more_permissive(source: str) -> None:
    """Where plain ImmutableSandboxedEnvironment (transformers' setup) refuses, we refuse too; where it renders,
    we render the same text."""
    plain = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    plain.globals.update({k: v for k, v in environment().globals.items()})
    messages = [{"role": "user", "content": "hi"}]
    try:
        expected: str | None = plain.from_string(source).render(messages=messages)
    except (jinja2.TemplateError, TypeError, ValueError, AttributeError, KeyError, IndexError):
        expected = None
    ours = _render(source, messages)
    if expected is None:
        assert ours in (None, "")
    else:
        assert ours in (None, expected)


def test_fast_attributes_are_what_the_plain_sandbox_returns_unwrapped() -> None:
    plain = ImmutableSandboxedEnvironment()
    for names in FAST_ATTRIBUTES.values():
        assert "format" not in names and "format_map" not in names
        assert not any(n.startswith("_") for n in names)
    for name in FAST_ATTRIBUTES[str]:
        value = getattr("x", name)
        assert plain.wrap_str_format(value) is None
        assert plain.getattr("x", name) == value
    assert {"strip", "split", "startswith", "endswith", "lstrip", "rstrip"} <= FAST_ATTRIBUTES[str]


def test_sandboxed_format_still_formats() -> None:
    assert _render("{{ 'a{0}c{x}'.format('b', x='d') }}|{{ '{m}'.format_map({'m': 1}) }}") == "abcd|1"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Iterator[dict[str, str]]:
    root = tmp_path_factory.mktemp("hostile")
    templates = {f"esc-{i}": source for i, source in enumerate(ESCAPES)}
    env = write_models(root, templates)
    with installed(env):
        yield env


MESSAGES = [{"role": "user", "content": "Hello world"}]


@pytest.mark.parametrize("i", range(len(ESCAPES)))
def test_count_with_a_hostile_model(hostile, i: int) -> None:
    try:
        got = tokcount.count(f"esc-{i}", MESSAGES, return_tokens=True)
    except TemplateError as exc:
        assert_no_secret(exc.message)
        return
    assert_no_leak("".join(got.token_strings or []))


@pytest.fixture(scope="module")
def server(hostile) -> Iterator[httpx.Client]:
    with running_server(Settings(api_keys=(CANARY,))) as url, httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {CANARY}"}, timeout=30) as client:
        yield client


@pytest.mark.parametrize("i", range(len(ESCAPES)))
def test_routes_with_token_strings_leak_nothing(server: httpx.Client, i: int) -> None:
    model = f"esc-{i}"
    calls = [
        ("/tokenize", {"model": model, "messages": MESSAGES, "return_token_strs": True}),
        ("/v1/count_tokens", {"model": model, "input": [{"role": "user", "content": "Hello world"}]}),
        ("/v1/token/count", {"model": model, "messages": MESSAGES}),
    ]
    for path, body in calls:
        resp = server.post(path, json=body)
        assert resp.status_code in (200, 400), (path, resp.text)
        # the Authorization header carries the canary in, so it must never come back out
        if resp.status_code == 200:
            data = resp.json()
            assert_no_leak("".join(data.get("token_strs") or data.get("token_strings") or []))
        assert_no_secret(resp.text)


def test_str_methods_called_directly_are_what_the_sandbox_would_call() -> None:
    """The call fast path for str methods skips is_safe_callable and Context.call: both always pass them."""
    plain = ImmutableSandboxedEnvironment()
    for name in dir(""):
        method = getattr("x", name)
        if callable(method) and not name.startswith("_"):
            assert plain.is_safe_callable(method), name
            with pytest.raises(AttributeError):
                method.unsafe_callable = True  # type: ignore[attr-defined]
            assert not hasattr(method, "jinja_pass_arg"), name
