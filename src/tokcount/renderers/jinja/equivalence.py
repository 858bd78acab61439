"""When MiniJinja may render a chat template: only where it gives the bytes Jinja2 gives.

Two engines agree on a template's output only as far as their semantics agree, and they differ in known ways:
a float printed as ``1e-05`` by Python is ``0.00001`` in Rust, an int past 128 bits becomes a float (the guard
below stops at 64), ``|trim`` and ``.split()`` strip U+001C-U+001F in Python only, ``|lower`` maps 110 letters
differently (newer Unicode tables), ``'abc' is sequence`` is true in Jinja2 only, ``|title`` finds other word
boundaries, a container built by the template prints its strings' escapes otherwise, and so on. So a template
is rendered by MiniJinja only when three checks pass, and by Jinja2 otherwise:

1. **What the template uses** (:func:`plan`, once per template): every filter, test and method it calls is one
   whose MiniJinja behaviour was compared with Jinja2's over every code point and value kind (the allow-lists
   below); a template calling anything else (``title``, ``format``, ``splitlines``, ``rsplit``, ``isdigit``, a
   filter MiniJinja has and Jinja2 lacks ...) stays on Jinja2. The few allowed operations that differ on some
   characters name them (:data:`WHITESPACE`, :data:`CASE`).
2. **What the request holds** (:func:`admits`, every render): only JSON-like values whose printed forms agree
   (str, bool, None, ints within 64 bits, floats Python prints without an exponent, lists, dicts with str keys),
   and no string holding a character the template's operations treat differently. Anything else renders on
   Jinja2.
3. **What the template does** (:func:`proven`, once per template and process): a fixed set of probe conversations
   (:mod:`.probes`: every role, tools, parallel tool calls, arguments of every JSON type, content lists, images,
   reasoning, missing optional fields, HTML and template syntax in the text, ...) is rendered by both engines,
   and every outcome must be the same: the same text, or an error from both. One difference and the template
   stays on Jinja2 in this process.

At render time every MiniJinja failure (an error, running out of fuel, a prompt past ``max_render_chars``, a
U+FFFD in the output, which is how MiniJinja receives a lone surrogate) renders the request with Jinja2 instead,
so a request MiniJinja cannot render is answered exactly as before. The test suite renders every catalog
template with both engines on the whole oracle corpus and on long chained conversations
(``tests/open_models/test_minijinja.py``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jinja2.nodes as nodes

from .jinja_env import parse_template

#: characters Python's ``str.strip()`` / ``split()`` / ``isspace()`` (Jinja2's ``trim``) treat as whitespace and
#: MiniJinja's do not (measured over every code point; ``tests/open_models/test_minijinja.py`` measures it again)
WHITESPACE = "\x1c\x1d\x1e\x1f"
#: code point ranges whose ``lower`` / ``upper`` differ between Python's Unicode tables and MiniJinja's (same)
CASE_RANGES = ((0x019B, 0x019B), (0x0264, 0x0264), (0x1C89, 0x1C8A), (0xA7CB, 0xA7CF), (0xA7D2, 0xA7D5),
               (0xA7DA, 0xA7DC), (0x10D50, 0x10D65), (0x10D70, 0x10D85), (0x16EA0, 0x16EB8), (0x16EBB, 0x16ED3))
_CASE = re.compile("[" + "".join(f"{chr(a)}-{chr(b)}" if a != b else chr(a) for a, b in CASE_RANGES) + "]")

#: filters rendered identically by both engines (``tojson`` is transformers' own, in Python, in both); a filter
#: mapped to a guard ("whitespace": :data:`WHITESPACE`, "case": :data:`CASE_RANGES`) is identical except on
#: strings holding those characters
FILTERS: dict[str, str] = {name: "" for name in (
    "tojson", "length", "count", "items", "join", "default", "d", "safe", "string", "list", "first", "last",
    "map", "select", "reject", "selectattr", "rejectattr", "replace")}
FILTERS.update({"trim": "whitespace", "lower": "case", "upper": "case"})
#: tests answered identically (``sequence`` and ``iterable`` are Jinja2's own, in Python)
TESTS = frozenset({"defined", "undefined", "none", "string", "mapping", "iterable", "sequence", "number",
                   "boolean", "false", "true", "integer", "float", "eq", "equalto", "==", "ne", "!=", "in", "odd",
                   "even"})
#: Python methods MiniJinja's Python-compatible mode answers identically; ``strip`` / ``split`` without their
#: argument split on whitespace (guarded), ``split('')`` is an error in Python only (refused below)
METHODS: dict[str, str] = {name: "" for name in (
    "startswith", "endswith", "replace", "items", "keys", "values", "get")}
WHITESPACE_METHODS = frozenset({"strip", "lstrip", "rstrip", "split"})
#: globals a template may call (the macros it defines aside)
FUNCTIONS = frozenset({"namespace", "raise_exception", "strftime_now", "range", "caller"})


@dataclass(frozen=True)
class Plan:
    """What :func:`plan` found in one template."""

    digest: str
    #: why MiniJinja may not render this template (None: it may, once :func:`proven`)
    refused: str | None
    #: character classes ("whitespace", "case") that send a request holding one of them in a string to Jinja2
    guards: frozenset[str]


def digest(source: str) -> str:
    return hashlib.blake2b(source.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


@lru_cache(maxsize=256)
def plan(source: str) -> Plan:
    """The template's operations checked against the allow-lists (the source must compile under Jinja2)."""
    key = digest(source)
    try:
        refused, guards = _operations(parse_template(source))
    except RecursionError:
        refused, guards = "it is nested too deeply to inspect", frozenset()
    return Plan(key, refused, guards)


@lru_cache(maxsize=256)
def _unknown_to_both(kind: str, name: str) -> bool:
    """Whether neither engine knows the filter or test ``name`` (DeepSeek's templates name ``from_json``, which
    transformers does not define: reaching it is an error in both, so it is no reason to stay on Jinja2)."""
    from . import minijinja_env
    from .jinja_env import environment

    jinja = environment()
    if name in (jinja.filters if kind == "filter" else jinja.tests):
        return False
    return minijinja_env.unknown(kind, name)


def _literal_str(node: nodes.Node) -> str | None:
    return node.value if isinstance(node, nodes.Const) and isinstance(node.value, str) else None


def _operations(tree: nodes.Template) -> tuple[str | None, frozenset[str]]:
    guards: set[str] = set()
    macros = {m.name for m in tree.find_all(nodes.Macro)}
    for f in tree.find_all((nodes.Filter, nodes.Test)):
        if isinstance(f, nodes.Test):
            if f.name not in TESTS and not _unknown_to_both("test", f.name):
                return f"it uses the test {f.name!r}", frozenset()
            continue
        if f.name not in FILTERS:
            if _unknown_to_both("filter", f.name):  # an error in both engines wherever it is reached
                continue
            return f"it uses the filter {f.name!r}", frozenset()
        guards.add(FILTERS[f.name])
        if f.name in ("map", "select", "reject", "selectattr", "rejectattr"):
            named = [a for a in f.args[1 if f.name.endswith("attr") else 0:][:1]]
            for arg in named:
                name = _literal_str(arg)
                table: dict[str, str] | frozenset[str] = FILTERS if f.name == "map" else TESTS
                if name is None or name not in table:
                    return f"it applies {name or 'a computed name'!r} through {f.name!r}", frozenset()
                if isinstance(table, dict):
                    guards.add(table[name])
    for call in tree.find_all(nodes.Call):
        callee = call.node
        if isinstance(callee, nodes.Name):
            if callee.name not in FUNCTIONS and callee.name not in macros:
                return f"it calls {callee.name!r}", frozenset()
        elif isinstance(callee, nodes.Getattr):
            method = callee.attr
            if method in WHITESPACE_METHODS:
                sep = _literal_str(call.args[0]) if call.args else None
                if method == "split" and sep == "":
                    return "it splits on an empty separator", frozenset()
                if sep is None or call.kwargs or call.dyn_args or call.dyn_kwargs:
                    guards.add("whitespace")
            elif method in METHODS:
                guards.add(METHODS[method])
            else:
                return f"it calls the method {method!r}", frozenset()
        elif not (isinstance(callee, nodes.ExtensionAttribute) and callee.name == "_render"):
            return "it calls a computed value", frozenset()  # (``_render``: the ``generation`` tag's body)
    return None, frozenset(guards - {""})


#: value kinds whose printed and compared forms agree in both engines
_SCALARS = frozenset({str, bool, type(None)})
_INT_RANGE = range(-(1 << 63), 1 << 63)


def admits(plan_: Plan, values: list[Any]) -> bool:
    """Whether ``values`` (the render's messages, tools and variables) hold only what both engines render alike:
    JSON-like kinds, ints within 64 bits, floats printed without an exponent, str keys, and no string with a
    character of the plan's guard."""
    guards = plan_.guards
    strings: list[str] | None = [] if guards else None
    stack = list(values)
    push = stack.append
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind is str:
            if strings is not None:
                strings.append(value)
        elif kind is dict:
            if len(value) == 2 and type(role := value.get("role")) is str \
                    and type(content := value.get("content")) is str:
                # the plain message (most of a long conversation): its keys are known, its values strings
                if strings is not None:
                    strings.append(role)
                    strings.append(content)
                continue
            for key, item in value.items():
                if type(key) is not str:
                    return False
                if type(item) is str:
                    if strings is not None:
                        strings.append(item)
                else:
                    push(item)
            if strings is not None:
                strings.extend(value)
        elif kind is list:
            stack.extend(value)
        elif kind in _SCALARS:
            continue
        elif kind is int:
            if value not in _INT_RANGE:
                return False
        elif kind is float:
            text = repr(value)
            if "e" in text or "n" in text:  # 1e-05, 1e+16, inf, nan: Rust prints them otherwise
                return False
        else:
            return False
    if strings:
        joined = "\x00".join(strings)
        # four characters: four substring scans (~0.04 ms for 300 kB) beat one regex (~0.7 ms)
        if "whitespace" in guards and any(c in joined for c in WHITESPACE):
            return False
        if "case" in guards and not joined.isascii() and _CASE.search(joined):
            return False
    return True


def prove(plan_: Plan, jinja2_render: Callable[[dict[str, Any]], str],
          minijinja_render: Callable[[dict[str, Any]], str]) -> str | None:
    """Render every probe with both engines; None when every outcome agrees, else what differed first.

    A probe the request guard would send to Jinja2 anyway is skipped (it says nothing about MiniJinja). An
    engine failing on a probe the other renders is a difference; so is a resource limit on either (the probes
    are small: a template that needs seconds for them is not worth proving)."""
    from . import probes

    for n, context in enumerate(probes.contexts()):
        if not admits(plan_, [context]):
            continue
        want, want_error = outcome(jinja2_render, context)
        got, got_error = outcome(minijinja_render, context)
        if want_error is not None and got_error is not None:
            continue
        if want_error is not None:
            return f"probe {n}: Jinja2 refused it ({want_error}), MiniJinja rendered it"
        if got_error is not None:
            return f"probe {n}: MiniJinja failed ({got_error}), Jinja2 rendered it"
        if want != got:
            return f"probe {n}: the outputs differ"
    return None


class ResourceLimit(Exception):
    """A probe ran into a render limit: the proof is abandoned (the template stays on Jinja2)."""


def outcome(render: Callable[[dict[str, Any]], str], context: dict[str, Any]) -> tuple[str, str | None]:
    """(text, None), or ("", the error's name) when the template refuses; a render limit raises
    :class:`ResourceLimit`."""
    from ...errors import RenderLimit, RenderTimeout
    from .limits import OffLoop

    try:
        return render(context), None
    except (RenderLimit, RenderTimeout, OffLoop, MemoryError, RecursionError) as exc:
        raise ResourceLimit(type(exc).__name__) from exc
    except Exception as exc:  # any refusal: raise_exception, an undefined attribute, a type error, ...
        return "", type(exc).__name__
