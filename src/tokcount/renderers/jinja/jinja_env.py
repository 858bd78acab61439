"""A Jinja2 sandbox set up exactly as ``transformers`` sets it up for chat templates, compiled once per template.

Chat templates come from the Hub and are untrusted code: they run in ``ImmutableSandboxedEnvironment`` with
the same globals and filters ``transformers`` gives them (``tojson`` without HTML escaping, ``raise_exception``,
``strftime_now``, a guarded ``namespace`` and ``dict``), so a template renders byte-for-byte as it would there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from types import BuiltinMethodType
from typing import Any

import jinja2
import jinja2.compiler
import jinja2.ext
import jinja2.nodes
import jinja2.runtime
import jinja2.utils
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ...errors import TemplateError
from . import bounds, limits

#: a render process's pinned clock, sent with each render (:func:`pin_clock`); ``False``: read the settings
_pinned: str | bool | None = False


def pin_clock(value: str | None) -> None:
    """Make :func:`now` answer ``value`` (an ISO date, or None for the real clock) in this process, whatever the
    settings say: a render process is told the server's ``now`` with every render."""
    global _pinned
    _pinned = value


def now() -> datetime:
    """The clock templates read through ``strftime_now``; the ``now`` setting (``TOKCOUNT_NOW``) pins it."""
    pinned = _pinned
    if pinned is False:
        from ... import settings_in_force

        pinned = settings_in_force.current().now
    return datetime.fromisoformat(pinned) if isinstance(pinned, str) and pinned else datetime.now()


def _raise_exception(message: str) -> None:
    raise jinja2.exceptions.TemplateError(message)


#: ``json.dumps(x, ensure_ascii=False)``'s encoder, built once: that call builds a new one every time (the
#: filter's usual call, once per tool in most templates)
_PLAIN_JSON = json.JSONEncoder(ensure_ascii=False)


def _tojson(x: Any, ensure_ascii: bool = False, indent: int | None = None,
            separators: tuple[str, str] | None = None, sort_keys: bool = False) -> str:
    if indent is None and separators is None and not ensure_ascii and not sort_keys:
        return _PLAIN_JSON.encode(x)
    if indent is not None:
        bounds.json_indent(indent)
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _strftime_now(fmt: str) -> str:
    return now().strftime(fmt)


class _TemplateDict:
    """``dict(...)`` for templates without exposing the type itself."""

    def __call__(self, *args: Any, **kwargs: Any) -> dict[Any, Any]:
        return dict(*args, **kwargs)

    def fromkeys(self, *args: Any, **kwargs: Any) -> dict[Any, Any]:
        return dict.fromkeys(*args, **kwargs)


class _TemplateNamespace(jinja2.utils.Namespace):
    """``namespace(...)`` that refuses underscore attributes, as in ``transformers``."""

    def __init__(*args: Any, **kwargs: Any) -> None:
        self, args = args[0], args[1:]
        attrs = dict(*args, **kwargs)
        for name in attrs:
            _TemplateNamespace._check_name(name)
        jinja2.utils.Namespace.__init__(self, attrs)

    def __setitem__(self, name: str, value: Any) -> None:
        _TemplateNamespace._check_name(name)
        jinja2.utils.Namespace.__setitem__(self, name, value)

    @staticmethod
    def _check_name(name: Any) -> None:
        if isinstance(name, str) and name.startswith("_"):
            raise jinja2.exceptions.SecurityError(
                f"Chat templates cannot store underscore-prefixed attributes on a namespace, but got {name!r}."
            )


class _GenerationTag(jinja2.ext.Extension):
    """``{% generation %}...{% endgeneration %}`` (assistant-mask markers): rendered as its body."""

    tags = {"generation"}  # noqa: RUF012 - Jinja reads this class attribute

    def parse(self, parser: jinja2.parser.Parser) -> jinja2.nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller: Any) -> str:
        return caller()


_DICT_ATTRIBUTES = frozenset(dir(dict))


def _proven_plain(sample: Any) -> frozenset[str]:
    """Attribute names of ``type(sample)`` that plain ``ImmutableSandboxedEnvironment`` returns unwrapped.

    A name is kept only when the plain sandbox hands back that very value (no ``str.format`` wrapper, no unsafe
    undefined) and it is neither an internal attribute nor an unsafe callable; ``format`` and ``format_map`` of a
    str are wrapped by the sandbox and so never answered by the fast path. Computed from Jinja itself, so a Jinja
    upgrade that starts wrapping another name takes it off the fast path.
    """
    plain = ImmutableSandboxedEnvironment()
    names = set()
    for name in dir(sample):
        if name.startswith("_"):
            continue
        try:
            value = getattr(sample, name)
        except AttributeError:
            continue
        got = plain.getattr(sample, name)
        if isinstance(got, jinja2.Undefined) or plain.wrap_str_format(value) is not None:
            continue
        if not plain.is_safe_attribute(sample, name, value) or (callable(value) and not plain.is_safe_callable(value)):
            continue
        if got is value or got == value:
            names.add(name)
    return frozenset(names)


def _loop_sample() -> jinja2.runtime.LoopContext:
    return jinja2.runtime.LoopContext(iter([1, 2]), jinja2.runtime.Undefined)


#: per exact type, the attribute names the fast path may answer with a plain ``getattr`` (see :func:`_proven_plain`)
FAST_ATTRIBUTES: dict[type, frozenset[str]] = {
    str: _proven_plain("x"),
    jinja2.runtime.LoopContext: _proven_plain(_loop_sample()),
}
#: values a ``namespace()`` attribute may hold and be returned without the sandbox's check: plain data, which the
#: sandbox itself returns as is (anything else, e.g. a stored bound method, takes the checked path)
_PLAIN_VALUES = frozenset({str, int, float, bool, type(None), list, dict, tuple})


#: calls made by templates, over all threads: an unlocked shared counter is exact enough to read the clock about
#: every ``CHECK_EVERY`` calls and costs one global add (this is what stops a runaway that has no loop, e.g.
#: ``{% macro f(n) %}{{ f(n-1) }}{{ f(n-1) }}{% endmacro %}``)
_calls = 0
_CLOCK_MASK = limits.CHECK_EVERY - 1
#: the environment method every ``{% for %}`` iterable is passed through (see ``ChatTemplateSandbox._generate``)
_ITERATE = "iterate"


def _ticked(iterable: jinja2.nodes.Node) -> jinja2.nodes.Call:
    """``environment.iterate(iterable)`` as a node (Jinja allows no custom node types; the parser never makes an
    ``EnvironmentAttribute``, so this one is recognisably ours)."""
    return jinja2.nodes.Call(jinja2.nodes.EnvironmentAttribute(_ITERATE), [iterable], [], None, None,
                             lineno=iterable.lineno)


class _BoundedCodeGenerator(jinja2.compiler.CodeGenerator):
    """Jinja's code generator, with ``{% for %}`` iterables and ``~`` concatenation routed through the budget."""

    def visit_Call(self, node: jinja2.nodes.Call, frame: jinja2.compiler.Frame,
                   forward_caller: bool = False) -> None:
        callee = node.node
        if isinstance(callee, jinja2.nodes.EnvironmentAttribute) and callee.name == _ITERATE:
            self.write(f"environment.{_ITERATE}(")  # a direct call: no sandbox ``call`` per loop
            self.visit(node.args[0], frame)
            self.write(")")
            return
        super().visit_Call(node, frame, forward_caller=forward_caller)

    def visit_Add(self, node: jinja2.nodes.BinExpr, frame: jinja2.compiler.Frame) -> None:
        """``+`` with a literal string on one side (``'<|im_start|>' + role``, most of a template's ``+``) grows
        by the literal's length only, so it runs as plain Python; ``a + b`` of two values goes through
        ``call_binop``, where doubling (``s + s`` in a loop) is sized."""
        if any(isinstance(side, jinja2.nodes.Const) and isinstance(side.value, str)
               for side in (node.left, node.right)):
            self.write("(")
            self.visit(node.left, frame)
            self.write(" + ")
            self.visit(node.right, frame)
            self.write(")")
            return
        super().visit_Add(node, frame)

    def visit_Concat(self, node: jinja2.nodes.Concat, frame: jinja2.compiler.Frame) -> None:
        if frame.eval_ctx.volatile or frame.eval_ctx.autoescape:  # never in chat templates (no autoescape)
            super().visit_Concat(node, frame)
            return
        self.write("environment.str_join((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class ChatTemplateSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, bounded (see :mod:`.limits`), with the lookups chat templates make most answered
    without its generic checks.

    ``message.role`` on a plain dict, ``content.strip`` on a str, ``loop.index0`` and ``ns.flag`` are most of a
    chat template's work, and the sandbox's generic ``getattr`` (attribute lookup, safety checks, then the item)
    was ~60% of rendering time. For those exact types the fast path gives the answer the plain sandbox gives: a
    dict has no ``role`` attribute, so it returns the item; a str or loop attribute is answered only when its name
    is in :data:`FAST_ATTRIBUTES` (proven, at import, to be returned unwrapped by the plain sandbox: never
    ``format``/``format_map``); a namespace attribute only when its value is plain data. Everything else goes
    through the sandbox unchanged, including the lookups ``str.format`` makes (``'{0.__class__}'.format(x)``).

    Bounds: every ``{% for %}`` iterable and every call ticks the render's budget (time, iteration cap);
    ``*``, ``**``, ``%`` and ``+`` are intercepted so repetitions and padding are sized before they are built;
    the filters and str methods that amplify (``center``, ``indent``, ``replace``, ``ljust``, ...) are sized
    too, and buffers (``{% set %}`` blocks, macros) and ``~`` are checked before they are joined.
    """

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def getattr(self, obj: Any, attribute: str) -> Any:
        kind = type(obj)
        if kind is dict and type(attribute) is str and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        fast = FAST_ATTRIBUTES.get(kind)
        if fast is not None and attribute in fast:
            return getattr(obj, attribute)
        if kind is _TemplateNamespace and type(attribute) is str and not attribute.startswith("_"):
            try:
                value = getattr(obj, attribute)
            except AttributeError:
                return self.undefined(obj=obj, name=attribute)
            if type(value) in _PLAIN_VALUES:
                return value
        return super().getattr(obj, attribute)

    # -- bounds
    def _generate(self, source: jinja2.nodes.Template, name: str | None, filename: str | None,
                  defer_init: bool = False) -> str:
        for loop in list(source.find_all(jinja2.nodes.For)):
            loop.iter = _ticked(loop.iter)
        return super()._generate(source, name, filename, defer_init=defer_init)

    def iterate(self, iterable: Any) -> Any:
        return limits.current().iterate(iterable)

    def call(__self, __context: jinja2.runtime.Context, __obj: Any, *args: Any,
             **kwargs: Any) -> Any:
        global _calls
        _calls += 1
        if not _calls & _CLOCK_MASK:  # every CHECK_EVERY calls, over all threads (see _calls)
            limits.current().check_clock()
        if type(__obj) is BuiltinMethodType:
            bound = __obj.__self__
            if type(bound) is str:
                # a str method (``strip``, ``startswith``, ...: most of a template's calls) is called directly:
                # the sandbox's checks and ``Context.call`` always let it through unchanged (a builtin method has
                # no ``unsafe_callable`` / ``alters_data`` / ``jinja_pass_arg`` and none can be set on it, and no
                # str method raises StopIteration), at ~1 us per call; like Context.call, it drops the scope
                # variables the generated code passes along inside loops and blocks
                if kwargs:
                    kwargs.pop("_loop_vars", None)
                    kwargs.pop("_block_vars", None)
                guard = bounds.STR_METHODS.get(__obj.__name__)
                if guard is not None:
                    args = guard(bound, args, kwargs)
                if len(bound) > bounds.SMALL:  # one uninterruptible step on a large string: read the clock
                    limits.current().check_clock()
                return __obj(*args, **kwargs)
            if type(bound) is int and __obj.__name__ == "to_bytes":
                bounds.to_bytes(args, kwargs)
        if not __self.is_safe_callable(__obj):  # the sandbox's own ``call``, inlined
            raise jinja2.exceptions.SecurityError(f"{__obj!r} is not safely callable")
        return __context.call(__obj, *args, **kwargs)

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "+" and type(left) is str and type(right) is str and len(left) + len(right) <= bounds.SMALL:
            return left + right  # by far the most common intercepted operation, first
        return bounds.binop(operator, left, right)

    def wrap_str_format(self, value: Any) -> Any:
        """The sandbox's ``str.format`` wrapper, with every field's width and precision sized first."""
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        return bounds.sized_format(self, value)

    @staticmethod
    def concat(parts: Any) -> str:
        """``{% set %}`` blocks, macros and call blocks join their buffers here: sized before the join."""
        if type(parts) is not list:
            parts = list(parts)
        if len(parts) < 2:  # nothing to join: no new string
            return "".join(parts)
        size = sum(map(len, parts))
        if size > bounds.SMALL:
            limits.current().allow_result(size, "a block of the template")
        return "".join(parts)

    @staticmethod
    def str_join(parts: tuple[Any, ...]) -> str:
        """The ``~`` operator (Jinja's ``str_join``), sized before the join."""
        strings = [p if type(p) is str else str(p) for p in parts]
        size = sum(map(len, strings))
        if size > bounds.SMALL:
            limits.current().allow_result(size, "the ~ operator")
        return "".join(strings)


def environment() -> ImmutableSandboxedEnvironment:
    env = ChatTemplateSandbox(
        trim_blocks=True, lstrip_blocks=True, extensions=[_GenerationTag, jinja2.ext.loopcontrols]
    )
    env.filters.update(bounds.FILTERS)
    env.filters["tojson"] = _tojson
    env.filters.update({name: bounds.clocked(name, env.filters[name]) for name in bounds.SLOW_FILTERS})
    env.globals["lipsum"] = bounds.lipsum
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    env.globals["dict"] = _TemplateDict()
    env.globals["namespace"] = _TemplateNamespace
    return env


_ENV = environment()


@dataclass(frozen=True)
class _Broken:
    """A template that does not compile, remembered as such (so it is not re-parsed on every request)."""

    lineno: int | None
    message: str

    def error(self, name: str) -> TemplateError:
        where = f" at line {self.lineno}" if self.lineno else ""
        return TemplateError(f"{name} does not compile{where}: {self.message}")


@lru_cache(maxsize=256)
def _compiled(source: str) -> jinja2.Template | _Broken:
    try:
        return _ENV.from_string(source)
    except jinja2.TemplateSyntaxError as exc:  # also TemplateAssertionError: an unknown filter or test
        return _Broken(exc.lineno, exc.message or str(exc))
    except RecursionError:
        return _Broken(None, "it is nested too deeply")


def compile_template(source: str, name: str = "The model's chat template") -> jinja2.Template:
    """Compile a chat template once per distinct source text; a failure is remembered too, and raised as a
    :class:`TemplateError` naming ``name`` and the line."""
    got = _compiled(source)
    if isinstance(got, _Broken):
        raise got.error(name)
    return got


def parse_template(source: str, name: str = "The model's chat template") -> jinja2.nodes.Template:
    """The syntax tree (for inspection); a template that does not compile raises as :func:`compile_template`."""
    compile_template(source, name)
    return _ENV.parse(source)
