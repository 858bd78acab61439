"""Sizing the operations a chat template can amplify with, before they run.

``'a' * 10**10``, ``'%*s' % (10**10, '')``, ``'a'|center(10**10)``, ``'a'.ljust(10**10)``,
``'{:>10000000000}'.format(x)``, ``s.replace('', big)``, ``10**10**10`` each allocate gigabytes (or run for
hours) inside a single C call, where no time check can stop them. Each one's result size is known from its
arguments, so it is computed here and checked against the render's budget (:class:`.limits.Budget`) first; only
then does the operation run, unchanged. Small results (the everyday ``' ' * 4``) take a short path that never
reads the budget.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from functools import wraps
from string import Formatter
from typing import Any, TypeGuard

from jinja2 import pass_environment, pass_eval_context
from jinja2.filters import do_batch as _do_batch
from jinja2.filters import (
    do_center,
    do_format,
    do_indent,
    do_wordwrap,
    make_attrgetter,
    sync_do_join,
    sync_do_slice,
    sync_do_sum,
)
from jinja2.filters import do_replace as _do_replace
from jinja2.sandbox import MAX_RANGE, SandboxedFormatter
from jinja2.utils import _PassArg, generate_lorem_ipsum

from ...errors import RenderLimit
from . import limits

#: results up to this many characters (or items) are not worth a budget lookup
SMALL = 1 << 16
#: repetitions from this size on count towards the render's total (``'a' * 10000`` in a loop is the cheap way
#: to fill a macro's buffer with distinct strings)
REPEAT_COUNTED = 1024
#: bits an integer may have: its decimal form is refused by Python past 4,300 digits (~14,000 bits) anyway, so
#: nothing a template prints needs more, and ``x * x`` repeated or ``10**10**10`` is stopped long before it is slow
MAX_INT_BITS = 1 << 16
#: item copies a ``sum`` of lists may make (it copies the running total at every step): ~1 s of copying
MAX_SUM_COPIES = 50_000_000
#: ``tojson(indent=...)`` larger than this is refused: the indent is repeated on every line of the output
MAX_JSON_INDENT = 1024


def _int(x: Any) -> TypeGuard[int]:
    return type(x) is int


def _size(x: Any, memo: dict[int, int] | None = None) -> int:
    """Characters of a str; for a list or tuple its weight: 8 per slot plus the weight of every item, nested
    lists included, each distinct list counted once per reference (``[[[1] * 1000] * 1000] * 1000`` is a few KB in
    memory but a 3 GB string once printed, and is refused for it)."""
    if type(x) is str:
        return len(x)
    memo = {} if memo is None else memo
    known = memo.get(id(x))
    if known is not None:
        return known
    n = 8 * len(x)
    for item in x:
        kind = type(item)
        if kind is str:
            n += len(item)
        elif kind is list or kind is tuple:
            n += _size(item, memo)
    memo[id(x)] = n
    return n


def _int_limit(bits: int, what: str) -> None:
    if bits > MAX_INT_BITS:
        raise RenderLimit(f"The chat template computed an integer of ~{bits} bits with {what}; at most "
                          f"{MAX_INT_BITS} bits are allowed.")


def _mul(left: Any, right: Any) -> Any:
    seq, times = (right, left) if _int(left) else (left, right)
    if _int(times) and isinstance(seq, str | list | tuple):
        size = _size(seq) * times
        if size > REPEAT_COUNTED:
            limits.current().allow(size, "a repetition (*)")
    elif _int(left) and _int(right):
        _int_limit(left.bit_length() + right.bit_length(), "*")
    return left * right


def _pow(left: Any, right: Any) -> Any:
    if _int(left) and _int(right) and right > 0 and left not in (0, 1, -1):
        _int_limit(left.bit_length() * right, "**")
    return left**right


def _add(left: Any, right: Any) -> Any:
    kind = type(left)
    if kind is type(right) and (kind is str or kind is list or kind is tuple):
        size = len(left) + len(right) if kind is str else 8 * (len(left) + len(right))
        if size > SMALL:
            limits.current().allow_result(size, "+")
    elif _int(left) and _int(right):
        _int_limit(max(left.bit_length(), right.bit_length()), "+")
    return left + right


#: one ``%`` conversion: mapping key, flags, width, precision, length modifier, type
_PERCENT = re.compile(r"%(?:\([^)]*\))?[-+ #0]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?[diouxXeEfFgGcrsa%]")


def percent_size(fmt: str, args: Any) -> int:
    """An upper bound of the characters ``fmt % args`` adds over its arguments: every width and precision, with
    the ints of ``args`` counted as widths when a ``*`` takes them."""
    extra = 0
    starred = False
    for m in _PERCENT.finditer(fmt):
        for group in m.groups():
            if group == "*":
                starred = True
            elif group:
                extra += int(group)
    if starred:
        values = args if isinstance(args, tuple) else (args,)
        extra += sum(abs(v) for v in values if _int(v))
    return len(fmt) + extra


def _mod(left: Any, right: Any) -> Any:
    if type(left) is str and "%" in left:
        size = percent_size(left, right)
        if size > SMALL:
            limits.current().allow(size, "a %-format")
    return left % right


_BINOPS: dict[str, Callable[[Any, Any], Any]] = {"*": _mul, "**": _pow, "+": _add, "%": _mod}


def binop(op: str, left: Any, right: Any) -> Any:
    """An intercepted ``*``, ``**``, ``+`` or ``%`` of a template, sized first."""
    fn = _BINOPS.get(op)
    return fn(left, right) if fn is not None else getattr(operator, op)(left, right)


# -------------------------------------------------------------------------------------------------- str methods
Guard = Callable[[str, tuple[Any, ...], dict[str, Any]], tuple[Any, ...]]


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], i: int, name: str, default: Any) -> Any:
    return args[i] if len(args) > i else kwargs.get(name, default)


def _width(s: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    width = _arg(args, kwargs, 0, "width", 0)
    if _int(width) and width > SMALL:
        limits.current().allow(width, "padding a string")
    return args


def _expandtabs(s: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    tabsize = _arg(args, kwargs, 0, "tabsize", 8)
    if _int(tabsize) and "\t" in s:
        size = len(s) + s.count("\t") * max(tabsize, 0)
        if size > SMALL:
            limits.current().allow(size, "expandtabs")
    return args


def replace_size(s: str, old: Any, new: Any, count: Any) -> int:
    if type(old) is not str or type(new) is not str or len(new) <= len(old):
        return len(s)
    hits = s.count(old) if old else len(s) + 1
    if _int(count) and count >= 0:
        hits = min(hits, count)
    return len(s) + hits * (len(new) - len(old))


def _replace(s: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    size = replace_size(s, _arg(args, kwargs, 0, "old", ""), _arg(args, kwargs, 1, "new", ""),
                        _arg(args, kwargs, 2, "count", -1))
    if size > SMALL:
        limits.current().allow(size, "replace")
    return args


def join_size(sep: str, items: list[Any]) -> int:
    return len(sep) * max(len(items) - 1, 0) + sum(len(x) for x in items if type(x) is str)


def _join(s: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    if not args:
        return args
    items = args[0] if type(args[0]) in (list, tuple) else list(args[0])
    size = join_size(s, items)
    if size > SMALL:
        limits.current().allow(size, "join")
    return (items, *args[1:])


def _translate(s: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    table = args[0] if args else None
    if isinstance(table, dict):
        longest = max((len(v) for v in table.values() if type(v) is str), default=1)
        if len(s) * longest > SMALL:
            limits.current().allow(len(s) * longest, "translate")
    return args


STR_METHODS: dict[str, Guard] = {
    "center": _width, "ljust": _width, "rjust": _width, "zfill": _width, "expandtabs": _expandtabs,
    "replace": _replace, "join": _join, "translate": _translate,
}


def to_bytes(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    length = _arg(args, kwargs, 0, "length", 1)
    if _int(length) and length > SMALL:
        limits.current().allow(length, "int.to_bytes")


# -------------------------------------------------------------------------------------------------- str.format
_DIGITS = re.compile(r"\d+")


class _SizedFormatter(SandboxedFormatter):
    """The sandbox's formatter (attribute lookups through the sandbox), with each field's spec sized first."""

    def format_field(self, value: Any, format_spec: str) -> Any:
        if format_spec:
            size = sum(int(d) for d in _DIGITS.findall(format_spec))
            if size > SMALL:
                limits.current().allow(size, "a format field")
        return super().format_field(value, format_spec)


def sized_format(env: Any, value: Any) -> Callable[..., str]:
    """What ``str.format`` / ``str.format_map`` of a template calls: as Jinja's own wrapper, with a sized formatter."""
    f_self: str = value.__self__
    is_format_map = value.__name__ == "format_map"
    formatter: Formatter = _SizedFormatter(env)

    def wrapper(*args: Any, **kwargs: Any) -> str:
        if is_format_map:
            if kwargs:
                raise TypeError("format_map() takes no keyword arguments")
            if len(args) != 1:
                raise TypeError(f"format_map() takes exactly one argument ({len(args)} given)")
            kwargs = args[0]
            args = ()
        return str(formatter.vformat(f_self, args, kwargs))

    return wrapper


# -------------------------------------------------------------------------------------------------- filters
def center(value: Any, width: int = 80) -> str:
    if _int(width) and width > SMALL:
        limits.current().allow(width, "the center filter")
    return do_center(value, width)


def indent(s: Any, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    text = str(s)
    w = width if _int(width) else len(width) if isinstance(width, str) else 0
    size = len(text) + (text.count("\n") + 1) * max(w, 0)
    if size > SMALL:
        limits.current().allow(size, "the indent filter")
    return do_indent(s, width, first, blank)


@pass_environment
def wordwrap(environment: Any, s: Any, width: int = 79, break_long_words: bool = True,
             wrapstring: str | None = None, break_on_hyphens: bool = True) -> str:
    text = str(s)
    sep = len(wrapstring) if isinstance(wrapstring, str) else 1
    lines = len(text) // max(width, 1) + text.count("\n") + 1 if _int(width) else 1
    size = len(text) + lines * sep
    if size > SMALL:
        limits.current().allow(size, "the wordwrap filter")
    return do_wordwrap(environment, s, width, break_long_words, wrapstring, break_on_hyphens)


def format(value: Any, *args: Any, **kwargs: Any) -> str:
    size = percent_size(str(value), kwargs or args)
    if size > SMALL:
        limits.current().allow(size, "the format filter")
    return do_format(value, *args, **kwargs)


@pass_eval_context
def replace(eval_ctx: Any, s: Any, old: Any, new: Any, count: int | None = None) -> str:
    size = replace_size(str(s), str(old), str(new), -1 if count is None else count)
    if size > SMALL:
        limits.current().allow(size, "the replace filter")
    return _do_replace(eval_ctx, s, old, new, count)


@pass_eval_context
def join(eval_ctx: Any, value: Any, d: str = "", attribute: str | int | None = None) -> str:
    items = value if type(value) in (list, tuple) else list(value)
    if attribute is None:
        size = join_size(str(d), list(items))
        if size > SMALL:
            limits.current().allow(size, "the join filter")
    return sync_do_join(eval_ctx, items, d, attribute)


@pass_environment
def sum_filter(environment: Any, iterable: Any, attribute: str | int | None = None, start: Any = 0) -> Any:
    """``sum`` of lists or strings (``start=[]``) is a quadratic copy inside one C call: sized first."""
    if type(start) in (list, tuple, str):
        items = list(iterable if attribute is None else map(make_attrgetter(environment, attribute), iterable))
        total = sum(len(x) for x in items if type(x) in (list, tuple, str))
        copies = len(items) * total
        if copies > SMALL:
            limits.current().allow(8 * total, "the sum filter")
            if copies > MAX_SUM_COPIES:
                raise RenderLimit(f"The chat template's sum filter would copy {copies} items; at most "
                                  f"{MAX_SUM_COPIES} are allowed.")
        return sum(items, start)
    return sync_do_sum(environment, iterable, attribute, start)


def _count_cap(n: Any, what: str) -> None:
    if _int(n) and n > MAX_RANGE:
        raise RenderLimit(f"The chat template asked {what} for {n} items; at most {MAX_RANGE} are allowed.")


def batch(value: Any, linecount: int, fill_with: Any = None) -> Any:
    _count_cap(linecount, "the batch filter")
    return _do_batch(value, linecount, fill_with)


def slice(value: Any, slices: int, fill_with: Any = None) -> Any:
    _count_cap(slices, "the slice filter")
    return sync_do_slice(value, slices, fill_with)


def lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    """``lipsum()``: up to ``n * max`` words of ~8 characters."""
    if _int(n) and _int(max):
        size = n * max * 8
        if size > SMALL:
            limits.current().allow(size, "lipsum")
    return generate_lorem_ipsum(n, html, min, max)


def json_indent(indent: Any) -> None:
    width = len(indent) if isinstance(indent, str) else indent if _int(indent) else 0
    if width > MAX_JSON_INDENT:
        raise RenderLimit(f"tojson indent {width} is larger than the {MAX_JSON_INDENT} allowed.")


#: pure-Python filters whose time grows with their input (~0.15-0.5 s per million characters): larger inputs
#: are refused, as no clock check can run inside them
SLOW_FILTERS = {"wordwrap": 1 << 20, "urlize": 1 << 20}


def clocked(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    """``f`` (a filter), refusing a value past its :data:`SLOW_FILTERS` size and reading the render's clock
    first when its value is large (a filter runs as one uninterruptible step)."""
    pass_arg = _PassArg.from_obj(f)
    at = 0 if pass_arg is None else 1  # pass_environment / pass_eval_context / pass_context: the value is second
    slow = SLOW_FILTERS.get(name)

    @wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if len(args) > at:
            value = args[at]
            kind = type(value)
            if (kind is str or kind is list) and len(value) > SMALL:
                if slow is not None and len(value) > slow:
                    raise RenderLimit(f"The chat template's {name} filter was given {len(value)} characters; at "
                                      f"most {slow} are allowed.")
                limits.current().check_clock()
        return f(*args, **kwargs)

    return wrapper


FILTERS: dict[str, Callable[..., Any]] = {
    "center": center, "indent": indent, "wordwrap": wordwrap, "format": format, "replace": replace,
    "join": join, "batch": batch, "slice": slice, "sum": sum_filter,
}
