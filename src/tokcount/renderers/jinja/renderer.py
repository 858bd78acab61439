"""The Jinja renderer: the model's own chat template, rendered as ``transformers`` renders it, then the model's
tokenizer on the rendered text (the vLLM-exact path for open-weight models).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ... import loader
from ...errors import InvalidRequest
from ...media.expand import count_media, has_media, placeholder_for
from ...media.sources import FetchPolicy
from ...models.catalog import ModelSpec
from ...request import Message, Request, TextPart, text_only
from ...token_count import Count, split
from .._attribute import attribute
from ..base import Capabilities
from . import kwargs as template_kwargs
from .inspect import free_variables, iterates_content
from .jinja_env import compile_template
from .prepare import template_messages, template_tools
from .render import render
from .typescript_tools import prepare as typescript_tools


@dataclass(frozen=True)
class RenderInputs:
    """What one render of a model's chat template is given (:func:`render_inputs`)."""

    source: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None
    add_generation_prompt: bool
    continue_final: bool
    variables: dict[str, Any]
    name: str


def render_inputs(model: loader.LoadedModel, req: Request, *, with_tools: bool = True) -> RenderInputs:
    """The template, values and flags :func:`render_prompt` renders ``req`` with (prepared as vLLM prepares them)."""
    if not req.messages:
        raise InvalidRequest("messages must not be empty.", param="messages")
    source = model.template()
    name = f"{model.spec.id}'s chat template ({model.template_source})"
    compile_template(source, name)  # one that does not compile is a TemplateError naming it and the line
    iterates = iterates_content(source)  # cached per template source (templates.inspect)
    messages = template_messages(req, iterates=iterates, args_as_string=model.spec.tool_arguments == "string",
                                 media_placeholder=placeholder_for(model.spec.vision))
    last_is_assistant = req.messages[-1].role == "assistant"
    add_gen = req.add_generation_prompt if req.add_generation_prompt is not None else not last_is_assistant
    continue_final = last_is_assistant and not add_gen and _has_text(req.messages[-1])
    variables: dict[str, Any] = dict(model.variables)
    if req.thinking is not None:
        variables.setdefault("enable_thinking", req.thinking)
        variables.setdefault("thinking", req.thinking)
    # checked again here, not only by the dialects: a Request built by a library caller never went through them
    variables.update(template_kwargs.check(req.template_kwargs))
    tools = template_tools(req) if with_tools else None
    if tools and "tools_ts_str" in free_variables(source):
        # Kimi's tokenizer sorts the tools and declares them in TypeScript before its template runs
        tools, declared = typescript_tools(tools)
        if declared is not None:
            variables["tools_ts_str"] = declared
    return RenderInputs(source, messages, tools, add_gen, continue_final, variables, name)


def render_prompt(model: loader.LoadedModel, req: Request, *, with_tools: bool = True) -> str:
    """The exact prompt text the model receives for ``req``."""
    given = render_inputs(model, req, with_tools=with_tools)
    return render(given.source, given.messages, given.tools, add_generation_prompt=given.add_generation_prompt,
                  continue_final=given.continue_final, variables=given.variables, name=given.name)


def _has_text(msg: Message) -> bool:
    return any(isinstance(p, TextPart) and p.text for p in msg.parts)


class JinjaRenderer:
    name = "jinja"
    capabilities = Capabilities(needs_template=True)

    def count(self, spec: ModelSpec, req: Request, *, breakdown: bool, return_tokens: bool,
              media_policy: FetchPolicy | None) -> Count:
        loaded = loader.load(spec, template=True)
        prompt = render_prompt(loaded, req)
        tok = loaded.tokenizer
        notes: list[str] = []
        exact = True
        # the prompt is tokenized once: with images, only as expanded (its plain count only if a breakdown asks)
        media = count_media(tok, spec.vision, req, prompt, policy=media_policy) \
            if not text_only(req) and has_media(req) else None
        if media is not None:
            total, exact = media.total, media.exact
            notes.extend(media.notes)
        else:
            total = tok.count(prompt)
        result = Count(model=spec.id, input_tokens=total, exact=exact, method=f"chat_template+{tok.engine}",
                       context_window=spec.context_window, notes=notes,
                       modalities=split(total, image=media.tokens if media is not None else 0))
        if breakdown:
            base = total if media is None else tok.count(prompt)
            tools = base - tok.count(render_prompt(loaded, req, with_tools=False)) if req.tools else 0
            result.breakdown = attribute(req, base, tools, tok.count, prompt, tok.count_many)
            if media is not None:  # media tokens move out of the template's share; the parts still sum to the total
                result.breakdown["media"] = media.parts
                result.breakdown["media_tokens"] = media.tokens
                result.breakdown["template"] += total - base - media.tokens
        if return_tokens:
            ids = tok.encode(prompt)
            if media is not None and len(ids) != total:
                result.partial_tokens(f"the prompt before image expansion ({len(ids)} ids for {total} tokens)")
            result.tokens = ids
            result.token_strings = [tok.id_to_string(i) for i in ids]
        return result

    def count_text(self, spec: ModelSpec, text: str, *, return_tokens: bool) -> Count:
        tok = loader.load(spec, template=True).tokenizer
        result = Count(model=spec.id, input_tokens=tok.count(text), exact=True, method=f"text+{tok.engine}",
                       context_window=spec.context_window)
        if return_tokens:
            result.tokens = tok.encode(text)
            result.token_strings = [tok.id_to_string(i) for i in result.tokens]
        return result

    def decode(self, spec: ModelSpec, ids: list[int]) -> str:
        return loader.load(spec, template=True).tokenizer.decode(ids)


RENDERER = JinjaRenderer()
