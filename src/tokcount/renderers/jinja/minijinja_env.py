"""MiniJinja (the Rust Jinja engine text-generation-inference renders chat templates with), set up as
``transformers`` sets up Jinja2 for them: the same globals (``raise_exception``, ``strftime_now``), ``tojson`` with
transformers' arguments, loop controls, the ``{% generation %}`` tag, trim_blocks / lstrip_blocks, lenient
undefined values and the Python-compatible str and dict methods.

This module only renders; :mod:`.equivalence` decides whether a template may be rendered here at all (a template
renders here only where it is proven to give Jinja2's bytes), and every failure here is the caller's cue to render
with Jinja2, which has the last word on what a template does (see :mod:`.render`).

Why it is safe to run untrusted templates here: MiniJinja has no Python object model to climb through (values are
read through the mapping and sequence protocols only, attribute names starting with ``_`` are refused), and its
fuel stops any render after a fixed number of instructions (:func:`fuel_for`).
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import minijinja

from . import bounds, jinja_env, limits

#: ``{% generation %}`` / ``{% endgeneration %}`` (transformers' assistant-mask tag, rendered as its body) become
#: ``{% if true %}`` / ``{% endif %}``: a block tag with the same whitespace controls, so trim_blocks and
#: lstrip_blocks treat it as Jinja2 treats the original
_GENERATION = re.compile(r"(\{%[-+]?)\s*(end)?generation\s*([-+]?%\})")
#: fuel (MiniJinja instructions) per ``{% for %}`` iteration the render limits allow: an empty iteration costs 3,
#: a real template ~40-160 per message (measured: Qwen3.5 80, DeepSeek-V3.2 66 on 1,000 short messages)
FUEL_PER_ITERATION = 3
#: fuel per second of the render's time budget: MiniJinja runs 15-40 M instructions a second on real templates
#: (their Python callbacks included) and 40-50 M on bare loops, measured here; at this rate a render that spends its
#: fuel has spent about its time
FUEL_PER_SECOND = 20_000_000


#: put first in every template, with ``messages`` given as a tuple: MiniJinja copies a tuple into a native one
#: when it reads it (a list stays a Python object read through Python), and this reads it once. It matters for
#: slices: MiniJinja slices a list lazily and indexes the slice by iterating from its start, so MiniMax's
#: ``conversation[loop.index0 - 1]`` over ``messages[1:]`` made its render quadratic (6 of 14 ms for 700
#: messages); a tuple's slice is a tuple. The newline is what trim_blocks removes after a block tag, so the
#: template's own first character stays.
PREAMBLE = "{% set messages = messages %}\n"


def translate(source: str) -> str:
    """The template source MiniJinja compiles: the :data:`PREAMBLE`, then the template with its ``generation``
    tags rewritten."""
    return PREAMBLE + _GENERATION.sub(lambda m: f"{m[1]} {'endif' if m[2] else 'if true'} {m[3]}", source)


def fuel_for(bounds_: limits.Limits) -> int:
    """The instructions a render may run under ``bounds_``: its loop-iteration cap and its time budget, as fuel.

    Running out is never an answer by itself: the render falls back to Jinja2, whose cooperative checks decide
    (a render limit or a timeout, named by its setting), within what is left of the same budget."""
    return max(1, min(bounds_.max_iterations * FUEL_PER_ITERATION, int(bounds_.timeout_s * FUEL_PER_SECOND)))


def _raise_exception(message: Any) -> None:
    raise minijinja.TemplateError(str(message))


def _strftime_now(fmt: str) -> str:
    return jinja_env.now().strftime(fmt)


#: ``json.dumps(x, ensure_ascii=False)``'s encoder, built once (the filter's usual call)
_PLAIN_JSON = json.JSONEncoder(ensure_ascii=False)


def _tojson(x: Any, ensure_ascii: bool = False, indent: int | None = None,
            separators: tuple[str, str] | list[str] | None = None, sort_keys: bool = False) -> str:
    """transformers' ``tojson``: ``json.dumps`` with its arguments, never HTML-escaped (MiniJinja's own escapes
    ``<``, ``>``, ``&`` and ``'``)."""
    if indent is None and separators is None and not ensure_ascii and not sort_keys:
        return _PLAIN_JSON.encode(x)
    if indent is not None:
        bounds.json_indent(indent)
    # passed on as given, as transformers does (a tuple or list; json.dumps itself refuses a wrong one)
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,  # type: ignore[arg-type]
                      sort_keys=sort_keys)


def _is_sequence(value: Any) -> bool:
    """Jinja2's ``sequence`` test (a str and a dict are sequences there; MiniJinja says no)."""
    try:
        len(value)
        value.__getitem__  # noqa: B018 - the test is whether the attribute exists
    except Exception:
        return False
    return True


def _is_iterable(value: Any) -> bool:
    """Jinja2's ``iterable`` test (``none`` is not iterable there; MiniJinja says it is)."""
    try:
        iter(value)
    except TypeError:
        return False
    return True


def environment() -> minijinja.Environment:
    """A MiniJinja environment for chat templates (one per thread: a render holds its environment's lock)."""
    env = minijinja.Environment(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False,
                                undefined_behavior="lenient", pycompat=True, debug=False)
    env.add_filter("tojson", _tojson)
    env.add_test("sequence", _is_sequence)
    env.add_test("iterable", _is_iterable)
    env.add_global("raise_exception", _raise_exception)
    env.add_global("strftime_now", _strftime_now)
    return env


def unknown(kind: str, name: str) -> bool:
    """Whether this environment lacks the filter or test ``name`` (``kind``: "filter" or "test")."""
    if not name.isidentifier():
        return False
    source = f"{{{{ none|{name} }}}}" if kind == "filter" else f"{{{{ none is {name} }}}}"
    try:
        environment().render_str(source)
    except minijinja.TemplateError as exc:
        return exc.kind == ("UnknownFilter" if kind == "filter" else "UnknownTest")
    return False


class _Local(threading.local):
    def __init__(self) -> None:
        self.env: minijinja.Environment | None = None
        self.fuel = 0
        self.names: dict[str, None] = {}


_local = _Local()
#: compiled templates kept per thread's environment (a process renders few distinct templates)
KEEP_TEMPLATES = 64


def render(digest: str, source: str, context: dict[str, Any], fuel: int) -> str:
    """``source`` rendered by MiniJinja with ``context``, stopped after ``fuel`` instructions.

    Raises whatever MiniJinja raises (a template error, running out of fuel, a panic): the caller falls back to
    Jinja2 on any exception."""
    local = _local
    env = local.env
    if env is None:
        env = local.env = environment()
    if local.fuel != fuel:
        env.fuel = local.fuel = fuel
    if digest not in local.names:
        if len(local.names) >= KEEP_TEMPLATES:
            oldest = next(iter(local.names))
            del local.names[oldest]
            env.remove_template(oldest)
        env.add_template(digest, translate(source))
        local.names[digest] = None
    messages = context.get("messages")
    if type(messages) is list:  # see PREAMBLE
        context = {**context, "messages": tuple(messages)}
    text: str = env.render_template(digest, **context)
    return text
