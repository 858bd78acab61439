"""Render with MiniJinja where a template is proven to give Jinja2's bytes and renders faster; say None elsewhere.

:func:`render` is asked first by :func:`.render.render_here` for every render; None means "render with Jinja2"
(the template is not proven or not faster, the request holds values the engines treat differently, or MiniJinja
failed in any way). What "proven" means: :mod:`.equivalence`. The proof runs here, at a template's first render
in a process, under a budget of its own (:data:`PROOF_TIMEOUT_S`), never on the event loop's tiny budget.

Why "faster" is a condition: MiniJinja reads the request's values through Python on every access (each dict
item, each string copied across), so a template that does little per message (Llama 3.1's, Gemma 3's) renders
faster on tokcount's Jinja2 sandbox, while one that does much (Qwen3.5's macros, GLM's and MiniMax's branches)
renders 1.5-2.5x faster on MiniJinja. Once proven, a template is timed on both engines over an agent's and a
chat's conversation (:func:`.probes.timing_contexts`), and MiniJinja renders it only where it was clearly faster
(:data:`FASTER`). Either way the bytes are the same; only time differs.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from . import equivalence, limits, minijinja_env

#: what the proof of one template may take with both engines, probes and timing together: this share of the
#: render's time budget, at most PROOF_TIMEOUT_S (real templates take 5-60 ms). It is spent inside the budget of
#: the render that needed it, so a template whose probes are slow stays on Jinja2 and that render keeps ~90 % of
#: its budget
PROOF_SHARE = 0.1
PROOF_TIMEOUT_S = 1.0
#: MiniJinja renders a proven template when its time on the probes (the request guard included) is at most this
#: share of Jinja2's
FASTER = 0.8


@dataclass(frozen=True)
class Verdict:
    """What a template's first render in this process found."""

    #: why the template is not proven ("" when it is)
    why: str
    #: MiniJinja's time over Jinja2's on the timing conversations (the geometric mean over them: an agent's and a
    #: chat's count alike, whatever their sizes; 0 when not proven), and the seconds each took in all
    ratio: float = 0.0
    jinja2_s: float = 0.0
    minijinja_s: float = 0.0

    @property
    def proven(self) -> bool:
        return not self.why

    def uses_minijinja(self, mode: str = "auto") -> bool:
        """Whether MiniJinja renders the template under ``mode`` (``render_minijinja``)."""
        if mode == "off" or not self.proven:
            return False
        return mode == "proven" or self.ratio <= FASTER

    def describe(self, mode: str = "auto") -> str:
        if self.uses_minijinja(mode):
            return "minijinja"
        if mode == "off":
            return "jinja2: render_minijinja is off"
        if not self.proven:
            return f"jinja2: {self.why}"
        return (f"jinja2: proven, but not faster on the timing conversations ({self.ratio:.2f}x Jinja2's time; "
                f"MiniJinja {self.minijinja_s * 1000:.2f} ms, Jinja2 {self.jinja2_s * 1000:.2f} ms)")


#: per template digest, the verdict of its first render in this process
_verdicts: dict[str, Verdict] = {}
_lock = threading.Lock()


class Tally:
    """Renders in this process: by MiniJinja, and renders of MiniJinja's templates that fell back to Jinja2
    (the request's values or a MiniJinja failure). Updated without a lock: a count, not an account."""

    minijinja = 0
    fallbacks = 0


def render(source: str, context: dict[str, Any], jinja2_render: Callable[[dict[str, Any]], str]) -> str | None:
    """The prompt rendered by MiniJinja, or None: render it with Jinja2 (``jinja2_render``, used for the proof).

    Runs inside the render's budget (:func:`.limits.begin` was called): the fuel comes from its limits, and a
    render that falls back continues on Jinja2 within what is left of the same budget."""
    bounds = limits.current().limits
    if bounds.native == "off":
        return None
    plan = equivalence.plan(source)
    if plan.refused is not None:
        return None
    verdict = _verdicts.get(plan.digest)
    if verdict is None:
        if bounds.off_loop:  # a proof takes milliseconds: never on the event loop; this render uses Jinja2
            return None
        verdict = _prove(source, plan, jinja2_render, bounds)
    if not verdict.uses_minijinja(bounds.native):
        return None
    if not equivalence.admits(plan, [context]):
        Tally.fallbacks += 1
        return None
    try:
        text = minijinja_env.render(plan.digest, source, context, minijinja_env.fuel_for(bounds))
    except Exception:  # an error, out of fuel, a panic (minijinja turns those into TemplateError): Jinja2 decides
        Tally.fallbacks += 1
        return None
    if len(text) > bounds.max_chars or "\ufffd" in text:  # too large: Jinja2 names the limit; U+FFFD: a lone
        Tally.fallbacks += 1                               # surrogate as MiniJinja received it
        return None
    Tally.minijinja += 1
    return text


def _prove(source: str, plan: equivalence.Plan, jinja2_render: Callable[[dict[str, Any]], str],
           bounds: limits.Limits) -> Verdict:
    """Run the probes (:func:`.equivalence.prove`) under their own budget, time both engines on them when they
    agree, and record the verdict."""
    proof = replace(bounds, timeout_s=min(PROOF_TIMEOUT_S, PROOF_SHARE * bounds.timeout_s), off_loop=False, full=None)
    fuel = minijinja_env.fuel_for(proof)

    def native(context: dict[str, Any]) -> str:
        return minijinja_env.render(plan.digest, source, context, fuel)

    with limits.active(proof):
        outer = limits.begin()
        try:
            why = equivalence.prove(plan, jinja2_render, native)
            verdict = Verdict(why) if why else Verdict("", *_timed(plan, jinja2_render, native))
        except equivalence.ResourceLimit as exc:
            verdict = Verdict(f"a probe ran into a render limit ({exc})")
        finally:
            limits.end(outer)
    with _lock:
        if len(_verdicts) > 1024:
            _verdicts.clear()
        _verdicts[plan.digest] = verdict
    return verdict


def _timed(plan: equivalence.Plan, jinja2_render: Callable[[dict[str, Any]], str],
           native: Callable[[dict[str, Any]], str]) -> tuple[float, float, float]:
    """(ratio, Jinja2's seconds, MiniJinja's) on :func:`.probes.timing_contexts` (MiniJinja's time with the
    request guard it runs before every render), the best of two passes for each; a context the template refuses
    (Gemma 3's refuses tool turns) is left out, and the probes are timed together when it refuses both. Within the
    proof's budget: running out raises :class:`.equivalence.ResourceLimit` (the template stays on Jinja2)."""
    from . import probes

    groups = [[c] for c in probes.timing_contexts() if equivalence.outcome(jinja2_render, c)[1] is None]
    if not groups:
        groups = [[c for c in probes.contexts() if equivalence.admits(plan, [c])]]
    times = []
    for contexts in groups:
        best = [float("inf"), float("inf")]
        for _ in range(2):
            for which, render in enumerate((jinja2_render, native)):
                started = time.perf_counter()
                for context in contexts:
                    equivalence.admits(plan, [context])
                    equivalence.outcome(render, context)  # a refusal is an outcome; a render limit ends the proof
                best[which] = min(best[which], time.perf_counter() - started)
        times.append(best)
    ratio = math.prod(m / max(j, 1e-9) for j, m in times) ** (1 / len(times))
    return ratio, sum(j for j, _ in times), sum(m for _, m in times)


def verdict(source: str, jinja2_render: Callable[[dict[str, Any]], str]) -> Verdict:
    """The verdict on ``source`` in this process; a template not rendered yet is proven now, under the limits of
    this thread (a template refused by :func:`.equivalence.plan` is not proven)."""
    plan = equivalence.plan(source)
    if plan.refused is not None:
        return Verdict(plan.refused)
    found = _verdicts.get(plan.digest)
    return found if found is not None else _prove(source, plan, jinja2_render, limits.configured())


def forget() -> None:
    """Drop every recorded verdict (tests)."""
    with _lock:
        _verdicts.clear()
