"""What a request's ``chat_template_kwargs`` may hold: extra template variables, never the renderer's own.

vLLM merges a request's ``chat_template_kwargs`` into ``apply_chat_template``'s arguments; transformers then
renders with ``template.render(messages=..., tools=..., documents=..., add_generation_prompt=..., **kwargs)``. So
there a kwarg named ``messages`` or ``conversation`` is a ``TypeError`` (a 400), ``chat_template`` and ``tokenize``
are refused by name, and everything else becomes a template variable that shadows the environment's globals.
Here the kwargs went straight into the render context, *after* the renderer's own values: a one-message body
carrying 20,000 messages in its kwargs was counted past ``max_messages``, and ``raise_exception`` or ``namespace``
could be replaced by a string. So the names the renderer itself passes, the call parameters that are not template
variables, and the sandbox's globals are refused by name (a 400 naming the key), for every caller. The special
tokens (``bos_token``, ...) stay overridable: transformers documents that kwargs win over them.

The values reach the template too, so the server bounds their size (:func:`size`) by ``max_parts``, as it bounds
the content parts of the messages.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from ...errors import InvalidRequest

#: the variables :func:`tokcount.renderers.jinja.render.render` itself puts in the context
RENDER_VARIABLES = ("messages", "tools", "documents", "add_generation_prompt")
#: ``apply_chat_template``'s own parameters that tokcount takes from the request's fields, never from the kwargs
#: (vLLM refuses ``chat_template`` and ``tokenize``; ``conversation`` is a TypeError in transformers)
CALL_PARAMETERS = ("conversation", "chat_template", "continue_final_message", "tokenize")


@cache
def reserved() -> frozenset[str]:
    """Every name a kwarg may not take: the render's variables, the call's parameters and the sandbox's globals
    (read from the environment itself, so a global added there is refused here too)."""
    from .jinja_env import environment  # jinja2 is imported on first use: `import tokcount` stays quick

    return frozenset((*RENDER_VARIABLES, *CALL_PARAMETERS, *environment().globals))


def check(kwargs: dict[str, Any], where: str = "chat_template_kwargs") -> dict[str, Any]:
    """``kwargs`` itself, or an :class:`InvalidRequest` naming the first reserved key it holds."""
    clash = reserved().intersection(kwargs)
    if clash:
        name = sorted(clash)[0]
        why = ("is set from the request's own fields, never from its kwargs" if name in RENDER_VARIABLES
               + CALL_PARAMETERS else "names a function of the template sandbox, which a request cannot replace")
        raise InvalidRequest(f"{where}.{name} is not allowed: {name!r} {why}.", param=f"{where}.{name}")
    return kwargs


def size(kwargs: dict[str, Any]) -> int:
    """How many values the kwargs hold at any depth (each object member and array item counts one), the measure
    the server bounds like the messages' content parts. Iterative: the body's depth is bounded already, but a walk
    should not depend on it."""
    total = 0
    stack: list[Any] = [kwargs]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            total += len(value)
            stack.extend(v for v in value.values() if isinstance(v, dict | list))
        elif isinstance(value, list):
            total += len(value)
            stack.extend(v for v in value if isinstance(v, dict | list))
    return total
