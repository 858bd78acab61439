"""A Jinja2 sandbox set up exactly as ``transformers`` sets it up for chat templates, compiled once per template.

Chat templates come from the Hub and are untrusted code: they run in ``ImmutableSandboxedEnvironment`` with
the same globals and filters ``transformers`` gives them (``tojson`` without HTML escaping, ``raise_exception``,
``strftime_now``, a guarded ``namespace`` and ``dict``), so a template renders byte-for-byte as it would there.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from functools import lru_cache
from typing import Any

import jinja2
import jinja2.ext
import jinja2.nodes
import jinja2.runtime
import jinja2.utils
from jinja2.sandbox import ImmutableSandboxedEnvironment


def now() -> datetime:
    """The clock templates read through ``strftime_now``; ``TOKCOUNT_NOW`` (ISO date) pins it."""
    pinned = os.environ.get("TOKCOUNT_NOW")
    return datetime.fromisoformat(pinned) if pinned else datetime.now()


def _raise_exception(message: str) -> None:
    raise jinja2.exceptions.TemplateError(message)


def _tojson(x: Any, ensure_ascii: bool = False, indent: int | None = None,
            separators: tuple[str, str] | None = None, sort_keys: bool = False) -> str:
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
#: types whose every attribute without a leading underscore the immutable sandbox allows (none is a mutating method
#: of a known mutable type, none is internal): strings, the loop variable, ``namespace()`` objects
_PLAIN_ATTRIBUTE_TYPES = frozenset({str, jinja2.runtime.LoopContext, _TemplateNamespace})


class ChatTemplateSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox with the two attribute lookups chat templates make most answered without its checks.

    ``message.role`` on a plain dict, ``content.strip`` on a str, ``loop.index0`` and ``ns.flag`` are most of a
    chat template's work, and the sandbox's generic ``getattr`` (attribute lookup, safety checks, then the item)
    was ~60% of rendering time. For those exact types the answer is the one the sandbox gives (a dict has no
    ``role`` attribute, so it returns the item; their attributes without a leading underscore are always safe),
    just without the detour.
    Everything else, and any name a dict or str really has, goes through the sandbox unchanged.
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        kind = type(obj)
        if kind is dict and type(attribute) is str and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        if kind in _PLAIN_ATTRIBUTE_TYPES and type(attribute) is str and not attribute.startswith("_"):
            try:
                return getattr(obj, attribute)
            except AttributeError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


def environment() -> ImmutableSandboxedEnvironment:
    env = ChatTemplateSandbox(
        trim_blocks=True, lstrip_blocks=True, extensions=[_GenerationTag, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    env.globals["dict"] = _TemplateDict()
    env.globals["namespace"] = _TemplateNamespace
    return env


_ENV = environment()


@lru_cache(maxsize=256)
def compile_template(source: str) -> jinja2.Template:
    """Compile a chat template once per distinct source text."""
    return _ENV.from_string(source)


def parse_template(source: str) -> jinja2.nodes.Template:
    return _ENV.parse(source)
