"""Render a prepared conversation with a model's compiled chat template, inside the render's budget."""

from __future__ import annotations

from typing import Any

import jinja2

from ...errors import TemplateError
from . import limits, native
from .jinja_env import compile_template

_CONTINUE_TAG = "CONTINUE_FINAL_MESSAGE_TAG "


def render(source: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, *,
           add_generation_prompt: bool, continue_final: bool, variables: dict[str, Any],
           name: str = "The model's chat template") -> str:
    """The prompt text, exactly as ``transformers.apply_chat_template(..., tokenize=False)`` renders it.

    Where the active limits say ``isolated`` (the server), the render runs in a render process under OS limits
    (:mod:`.render_pool`); elsewhere (library, CLI: their user chose the template) on this thread, as
    :func:`render_here`.
    """
    bounds = limits.configured()
    if bounds.isolated:
        from .render_pool import render_isolated

        return render_isolated(source, messages, tools, add_generation_prompt=add_generation_prompt,
                               continue_final=continue_final, variables=variables, name=name, bounds=bounds)
    return render_here(source, messages, tools, add_generation_prompt=add_generation_prompt,
                       continue_final=continue_final, variables=variables, name=name)


def render_here(source: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, *,
                add_generation_prompt: bool, continue_final: bool, variables: dict[str, Any],
                name: str = "The model's chat template") -> str:
    """:func:`render` on this thread, under the sandbox's cooperative limits only.

    ``continue_final`` renders the last (assistant) message open-ended, cut right after its content, as
    ``continue_final_message=True`` does; it needs the template to print that content verbatim. ``name`` says
    whose template it is in errors (a template that does not compile is named with its line).

    The render runs under a fresh :class:`.limits.Budget` (time, size, loops; see :mod:`.limits`). MiniJinja
    renders it where the template is proven to give Jinja2's bytes (:mod:`.native`, :mod:`.equivalence`), with
    fuel from the same limits; anywhere else, and whenever MiniJinja fails, Jinja2 does (:func:`jinja2_text`),
    within what is left of the same budget, so its answer (a prompt, or the template's own error) is the answer.
    """
    template = compile_template(source, name)
    context = render_context(messages, tools, add_generation_prompt=add_generation_prompt,
                             continue_final=continue_final, variables=variables)
    outer = limits.begin()
    try:
        text = native.render(source, context, lambda probe: jinja2_text(template, probe))
        if text is None:
            text = jinja2_text(template, context)
    except jinja2.TemplateError as exc:
        raise TemplateError(f"The model's chat template refused the request: {exc.message or exc}") from exc
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, ZeroDivisionError,
            OverflowError, RecursionError) as exc:
        raise TemplateError(f"The model's chat template failed on this request: {type(exc).__name__}: {exc}") from exc
    finally:
        limits.end(outer)
    if continue_final:
        text = _cut_after_final(text)
    return text


def render_context(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, *,
                   add_generation_prompt: bool, continue_final: bool, variables: dict[str, Any]) -> dict[str, Any]:
    """The variables a chat template renders with, as ``apply_chat_template`` passes them (the last message
    tagged when it is continued, see :func:`render_here`)."""
    if continue_final:
        messages = _tag_final(messages)
    return {"messages": messages, "tools": tools, "documents": None, "add_generation_prompt": add_generation_prompt,
            **variables}


def verdict(source: str) -> native.Verdict:
    """Whether MiniJinja is proven to render ``source`` as Jinja2 does in this process, and faster (proven now
    when the template was not rendered yet)."""
    template = compile_template(source)
    return native.verdict(source, lambda context: jinja2_text(template, context))


def engine(source: str) -> str:
    """Which engine renders ``source`` on this thread: ``"minijinja"``, or ``"jinja2: <why>"``."""
    return verdict(source).describe(limits.configured().native)


def jinja2_text(template: jinja2.Template, context: dict[str, Any]) -> str:
    """``template`` rendered by Jinja2 under the budget of the render running on this thread: the output is
    produced chunk by chunk and its length checked after every chunk, so a runaway is stopped after at most one
    chunk past the cap, never after a gigabyte is joined."""
    cap = limits.current().limits.max_chars
    parts: list[str] = []
    size = 0
    # the root render function itself, not ``generate()``: that one rewrites the traceback of every error into
    # template frames (a compile() per frame), which for a budget stopping a deep recursion took ~0.5 s with the
    # GIL held, and no caller here reads those tracebacks
    for chunk in template.root_render_func(template.new_context(context)):
        size += len(chunk)
        if size > cap:
            limits.current().output(size)
        parts.append(chunk)
    return "".join(parts)


def _tag_final(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    last = dict(messages[-1])
    content = last.get("content")
    if isinstance(content, list):
        blocks = [dict(b) for b in content]
        for block in reversed(blocks):
            if "text" in block:
                block["text"] = block["text"] + _CONTINUE_TAG
                break
        else:
            raise TemplateError("The final assistant message has no text to continue.")
        last["content"] = blocks
    else:
        last["content"] = (content or "") + _CONTINUE_TAG
    return [*messages[:-1], last]


def _cut_after_final(text: str) -> str:
    tag = _CONTINUE_TAG.strip()
    if tag not in text:
        raise TemplateError(
            "The final assistant message cannot be continued: the chat template does not print it verbatim."
        )
    loc = text.rindex(tag)
    if text[loc : loc + len(_CONTINUE_TAG)] == _CONTINUE_TAG:
        return text[:loc]
    return text[:loc].rstrip()
