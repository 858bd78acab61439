"""Render with MiniJinja where a template is proven to give Jinja2's bytes; say None everywhere else.

:func:`render` is asked first by :func:`.render.render_here` for every render; None means "render with Jinja2"
(the template is not proven, the request holds values the engines treat differently, or MiniJinja failed in any
way). What "proven" means: :mod:`.equivalence`. The proof runs here, at a template's first render in a process,
under a budget of its own (:data:`PROOF_TIMEOUT_S`), never on the event loop's tiny budget.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from . import equivalence, limits, minijinja_env

#: seconds the probes of one template may take with both engines (they take ~1-10 ms for real templates)
PROOF_TIMEOUT_S = 1.0

#: per template digest, why it stays on Jinja2 in this process ("" when proven), for :func:`engine`
_reasons: dict[str, str] = {}
_lock = threading.Lock()


class Tally:
    """Renders in this process: by MiniJinja, and proven templates' renders that fell back to Jinja2 (the
    request's values or a MiniJinja failure). Updated without a lock: a count, not an account."""

    minijinja = 0
    fallbacks = 0




def render(source: str, context: dict[str, Any], jinja2_render: Callable[[dict[str, Any]], str]) -> str | None:
    """The prompt rendered by MiniJinja, or None: render it with Jinja2 (``jinja2_render``, used for the proof).

    Runs inside the render's budget (:func:`.limits.begin` was called): the fuel comes from its limits, and a
    render that falls back continues on Jinja2 within what is left of the same budget."""
    budget = limits.current()
    bounds = budget.limits
    if not bounds.native:
        return None
    plan = equivalence.plan(source)
    if plan.refused is not None:
        return None
    reason = _reasons.get(plan.digest)
    if reason is None:
        if bounds.off_loop:  # a proof takes milliseconds: never on the event loop; this render uses Jinja2
            return None
        reason = _prove(source, plan, jinja2_render, bounds)
    if reason:
        return None
    if not equivalence.admits(plan, [context]):
        Tally.fallbacks += 1
        return None
    try:
        text = minijinja_env.render(plan.digest, source, context, minijinja_env.fuel_for(bounds))
    except Exception:  # an error, out of fuel, a panic (minijinja turns those into TemplateError): Jinja2 decides
        Tally.fallbacks += 1
        return None
    if len(text) > bounds.max_chars or "\ufffd" in text:  # too large: Jinja2 names the limit; U+FFFD: see module
        Tally.fallbacks += 1
        return None
    Tally.minijinja += 1
    return text


def _prove(source: str, plan: equivalence.Plan, jinja2_render: Callable[[dict[str, Any]], str],
           bounds: limits.Limits) -> str:
    """Run the probes (see :func:`.equivalence.prove`) under their own budget; record and return the reason the
    template stays on Jinja2 ("" when it is proven)."""
    proof = replace(bounds, timeout_s=min(PROOF_TIMEOUT_S, bounds.timeout_s), off_loop=False, full=None)
    fuel = minijinja_env.fuel_for(proof)

    def native(context: dict[str, Any]) -> str:
        return minijinja_env.render(plan.digest, source, context, fuel)

    with limits.active(proof):
        outer = limits.begin()
        try:
            why = equivalence.prove(plan, jinja2_render, native)
        except equivalence.ResourceLimit as exc:
            why = f"a probe ran into a render limit ({exc})"
        finally:
            limits.end(outer)
    with _lock:
        if len(_reasons) > 1024:
            _reasons.clear()
        _reasons[plan.digest] = why or ""
    return why or ""


def reason(source: str, jinja2_render: Callable[[dict[str, Any]], str]) -> str:
    """Why ``source`` renders on Jinja2 in this process ("" when MiniJinja renders it); a template not rendered
    yet is proven now, under the limits of this thread."""
    plan = equivalence.plan(source)
    if plan.refused is not None:
        return plan.refused
    found = _reasons.get(plan.digest)
    return found if found is not None else _prove(source, plan, jinja2_render, limits.configured())


def forget() -> None:
    """Drop every recorded proof (tests)."""
    with _lock:
        _reasons.clear()
