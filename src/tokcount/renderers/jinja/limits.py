"""Budgets for one chat-template render: wall-clock time, rendered size, loop iterations, amplified allocations.

A chat template is an untrusted program; without bounds ``{% for i in range(100000) %}{% for j in range(100000)
%}{% endfor %}{% endfor %}`` runs for hours and ``{{ 'a' * 10**10 }}`` allocates 10 GB. The sandbox
(:mod:`.jinja_env`) calls into the :class:`Budget` of the render running on the current thread at every loop
iteration, call, intercepted operator and output chunk, and refuses a repetition, padding or replacement *before*
it allocates when its result would pass the size cap. Checks are cooperative: between two checks a template can
only do one bounded operation, so a spent budget is noticed within milliseconds and the thread is freed.

Which limits apply is a per-thread setting (:func:`active`): the server gives the event loop a tiny budget (a
render that spends it is moved to a counting thread, :class:`OffLoop`) and the counting threads the full one; the
library and the CLI use :func:`defaults` (the settings in force). Every default is a setting's
(:mod:`tokcount.settings`, section ``render``): this module reads them, it does not define them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from ... import settings_in_force
from ...errors import RenderLimit, RenderTimeout
from ...settings import Settings, default

#: how often (in calls, over all threads) the clock is read: a call may be a slow step (a macro doing
#: ``big|title``), so this is small; a template makes ~50 calls per render
CHECK_EVERY = 16
#: how often (in ``{% for %}`` iterations) the clock is read and the iteration cap checked
LOOP_CLOCK_EVERY = 8


@dataclass(frozen=True)
class Limits:
    """The bounds of one render. ``off_loop`` = exceeding time or size means "move me", not "refuse"."""

    timeout_s: float = default("render_timeout_s")
    max_chars: int = default("max_render_chars")
    max_iterations: int = default("max_loop_iterations")
    off_loop: bool = False
    #: render in a render process under OS limits (:mod:`.render_pool`), not on this thread
    isolated: bool = False
    #: memory a render process may add to its address space for one render (isolated renders)
    memory_mb: int = default("render_memory_mb")
    #: render processes kept for ordinary renders (isolated renders; slow ones get their own, see render_pool)
    processes: int = default("render_processes")
    #: when MiniJinja renders templates proven to give Jinja2's bytes (``MINIJINJA_MODES`` in
    #: :mod:`tokcount.settings`; :mod:`.native`)
    native: str = default("render_minijinja")
    #: an isolated render that turns slow raises :class:`SlowRender` (the server re-runs the job on its slow pool,
    #: which adopts the render) instead of holding this thread until it ends
    hand_off: bool = False
    #: an isolated render's full budget, when this is the event loop's variant (the render process always works
    #: under the full one, so a render the loop gives up on is adopted by the counting thread, not redone)
    full: Limits | None = None

    def inline(self, timeout_s: float, max_chars: int) -> Limits:
        """The event-loop variant: a tiny budget whose exhaustion moves the job to a counting thread."""
        return Limits(timeout_s=min(timeout_s, self.timeout_s), max_chars=min(max_chars, self.max_chars),
                      max_iterations=self.max_iterations, off_loop=True, isolated=self.isolated,
                      memory_mb=self.memory_mb, processes=self.processes, native=self.native,
                      full=replace(self, hand_off=False))


class OffLoop(Exception):
    """The inline (event-loop) budget is spent; the job must be re-run on a counting thread with the full one."""


class SlowRender(Exception):
    """An isolated render on a counting thread turned slow: the job is re-run on the server's slow pool, whose
    identical render adopts the one in flight, so a slow template never holds the threads ordinary counts need."""


class Budget:
    """What one render has used so far; every check raises the moment a bound is passed."""

    __slots__ = ("chars", "deadline", "iterations", "limits", "produced")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.timeout_s
        self.iterations = 0
        self.chars = 0
        #: characters of the large values built so far (a render that builds many, e.g.
        #: ``range(100000)|map('center', 1000000)``, is refused before memory runs out)
        self.produced = 0

    # -- time and loops
    def check_clock(self) -> None:
        if time.monotonic() > self.deadline:
            if self.limits.off_loop:
                raise OffLoop
            raise RenderTimeout(
                f"The chat template did not finish rendering within the {self.limits.timeout_s:g} s budget "
                "(render_timeout_s)."
            )

    def iterate(self, iterable: Any) -> Iterator[Any]:
        """``iterable``'s items, counted against ``max_iterations`` and the clock (every ``{% for %}`` uses it).

        The clock is read every ``LOOP_CLOCK_EVERY`` iterations: one iteration may hold a slow uninterruptible
        step (``big|title``, ``big.upper()`` on millions of characters), so a loop of them must not run many
        between two reads; reading it here is cheaper than wrapping every filter."""
        cap = self.limits.max_iterations
        deadline = self.deadline
        clock = time.monotonic
        for item in iterable:
            self.iterations += 1
            if not self.iterations & (LOOP_CLOCK_EVERY - 1):
                if clock() > deadline:
                    self.check_clock()
                if self.iterations > cap:
                    raise RenderLimit(f"The chat template looped more than {cap} times (max_loop_iterations).")
            yield item

    # -- sizes
    def allow_result(self, size: int, what: str) -> None:
        """Refuse a value of ``size`` characters (or weight) before it is built. Sizes add up over the render
        (at most ``4 * max_chars``): building many large values, e.g. in a loop inside a macro whose buffer holds
        them all, is refused as one huge value would be. Only large values are asked about, so the clock is read
        every time: building them is what takes time."""
        cap = self.limits.max_chars
        if size > cap:
            self._too_large(f"{what} would make {size} characters", cap)
        self.produced += size
        if self.produced > 4 * cap:
            self._too_large(f"{what}: the template has built {self.produced} characters of large values", 4 * cap)
        self.check_clock()

    #: repetition, padding and replacement are sized as any large value
    allow = allow_result

    def output(self, size: int) -> None:
        """A chunk of the rendered prompt was produced."""
        self.chars += size
        if self.chars > self.limits.max_chars:
            self._too_large(f"the rendered prompt passed {self.chars} characters", self.limits.max_chars)

    def _too_large(self, what: str, cap: int) -> None:
        if self.limits.off_loop:
            raise OffLoop
        raise RenderLimit(f"The chat template's output is too large: {what}; the limit is {cap} "
                          "(max_render_chars).")


_local = threading.local()


def current() -> Budget:
    """The budget of the render running on this thread (a fresh default one outside any render)."""
    budget: Budget | None = getattr(_local, "budget", None)
    if budget is None:
        budget = Budget(configured())
    return budget


def begin() -> Budget | None:
    """Start a render on this thread with a fresh budget (limits from :func:`active`, else the defaults); returns
    the budget it replaces, for :func:`end` (a render inside a render, e.g. a breakdown, keeps its own)."""
    outer: Budget | None = getattr(_local, "budget", None)
    _local.budget = Budget(configured())
    return outer


def end(outer: Budget | None) -> None:
    _local.budget = outer


def configured() -> Limits:
    limits: Limits | None = getattr(_local, "limits", None)
    return limits if limits is not None else defaults()


@contextmanager
def active(limits: Limits) -> Iterator[None]:
    """Renders on this thread use ``limits`` inside the block (the server sets them around each job)."""
    outer = getattr(_local, "limits", None)
    _local.limits = limits
    try:
        yield
    finally:
        _local.limits = outer


class RequestClock:
    """When a request's first isolated render (or tokenizer call) started: the server gives each request one render
    budget from that moment, kept across the threads its job moves to (event loop, counting pool, slow pool), so
    waiting and re-runs never add a second budget. Loading a model or reading image sizes before it is not render
    work and does not count."""

    __slots__ = ("started",)

    def __init__(self) -> None:
        self.started: float | None = None


@contextmanager
def request_clock(clock: RequestClock | None) -> Iterator[None]:
    """Isolated renders on this thread share ``clock``'s budget (see :class:`RequestClock`)."""
    outer = getattr(_local, "clock", None)
    _local.clock = clock
    try:
        yield
    finally:
        _local.clock = outer


def current_clock() -> RequestClock | None:
    """The request clock set by :func:`request_clock` on this thread, if any."""
    clock: RequestClock | None = getattr(_local, "clock", None)
    return clock


def of(settings: Settings) -> Limits:
    """The limits of a render in this process under ``settings`` (library, CLI: whoever runs them chose the
    template)."""
    return Limits(timeout_s=settings.render_timeout_s, max_chars=settings.max_render_chars,
                  max_iterations=settings.max_loop_iterations, memory_mb=settings.render_memory_mb,
                  processes=settings.render_processes, native=settings.render_minijinja)


def served(settings: Settings) -> Limits:
    """The limits of a render the server runs for a client: in a render process unless ``render_isolation`` is
    off (docs/security.md)."""
    return replace(of(settings), isolated=settings.render_isolation)


def defaults() -> Limits:
    """The limits outside a server job (which sets its own with :func:`active`): those of the settings in force
    (:func:`tokcount.settings_in_force.current`)."""
    return of(settings_in_force.current())
