"""Chat-template renders in render processes: memory and time bounded by the OS, whatever the template calls.

Why a process: a template is a program from a model repository, and Jinja reaches Python's object model (string
and bytes methods, ``format``, filters over generators). The in-process sandbox sizes the amplifying operations it
knows (:mod:`.bounds`) and reads the clock at loops and calls (:mod:`.limits`), but a list of names never covers
everything a template can call: one C call that allocates gigabytes or runs for seconds takes the server with it.
A render process (:mod:`.render_child`) has its address space capped (``RLIMIT_AS``, ``render_memory_mb`` more
than it starts with), and is killed when the render's wall-clock budget plus :data:`GRACE_S` is spent, so both bounds
hold for any operation; the cooperative checks still run inside it and answer the common bombs fast and by name.

Fairness: a server worker keeps ``processes`` render processes for ordinary renders. A render that has used
:data:`SLOW_S` of CPU time (wall time alone says more about the machine's load than about the template) is lowered
to the lowest CPU priority, stops counting against those processes (others may start beside it) and marks its
template *suspect* for :data:`SUSPECT_S`; a suspect template's renders start at the lowest priority and at most
:data:`SLOW_LANE` of them run at once, until one of them finishes without turning slow (a big request, not a
hostile template). On a counting thread (``hand_off``), a slow render also raises :class:`.limits.SlowRender`: the
server re-runs the job on its slow pool, which adopts the render in flight. So a hostile template can take its own
budget and at most its lane's share of the CPU, never the processes or threads everyone else needs.

The event loop's renders (small bodies, :class:`.limits.Limits` ``off_loop``) wait for their reply at most the
inline budget; one not back by then is left running and :class:`.limits.OffLoop` moves the job to a counting
thread, whose identical render adopts the one in flight instead of starting it again.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import logging
import pickle
import threading
import time
from typing import Any

from ...errors import RenderLimit, RenderTimeout, TemplateError, TokcountError, TokenizerFailure
from . import limits
from .render_processes import Child, Zygote

log = logging.getLogger("tokcount.render")

#: seconds past a render's own budget before its process is killed (its cooperative checks normally end it first)
GRACE_S = 0.25
#: a render running longer than this is slow: lowest CPU priority, out of the ordinary processes' count
SLOW_S = 0.25
#: seconds a template stays suspect after a slow or refused render
SUSPECT_S = 60.0
#: suspect templates' renders at once (per server worker)
SLOW_LANE = 2
#: how often a waiting thread looks at the clock (to lower a slow render's priority in time)
_TICK_S = 0.05

_ERRORS: dict[str, type[TokcountError]] = {
    cls.__name__: cls for cls in (TemplateError, RenderLimit, RenderTimeout, TokenizerFailure)}


class _Pending:
    """A render sent to a process, not yet answered."""

    def __init__(self, child: Child, digest: str, lane: bool, started: float, hard_deadline: float) -> None:
        self.child = child
        self.digest = digest
        #: admitted through the suspect lane (holds a lane slot), else holds an ordinary slot until it turns slow
        self.lane = lane
        self.ordinary = not lane
        self.started = started
        self.hard_deadline = hard_deadline
        #: the process's CPU time when this render was sent (see :meth:`Child.cpu_s`)
        self.cpu0 = child.cpu_s()
        #: judged slow (by CPU time used): lowered, its template suspect
        self.slow = False

    def is_slow(self, now: float) -> bool:
        """Past :data:`SLOW_S` of wall time *and* of the process's CPU time (read only once the first holds)."""
        if not self.slow and now - self.started > SLOW_S and self.child.cpu_s() - self.cpu0 > SLOW_S:
            self.slow = True
        return self.slow


class RenderPool:
    """The render processes of one server process (see the module doc)."""

    def __init__(self, processes: int, memory_mb: int) -> None:
        self.processes = max(1, processes)
        self.memory_bytes = max(0, memory_mb) << 20
        self._cond = threading.Condition()
        self._idle: list[Child] = []
        self._ordinary = 0  # ordinary (not slow) renders in flight
        self._lane = 0  # suspect templates' renders in flight
        self._suspects: dict[str, float] = {}
        #: renders the event loop stopped waiting for, by request key, for the counting thread to adopt
        self._abandoned: dict[bytes, _Pending] = {}
        #: how abandoned renders ended before anyone adopted them (expiry, the reply or None for a timeout), so an
        #: adopter that comes late gets that answer and never a second budget
        self._results: dict[bytes, tuple[float, tuple[Any, ...] | None]] = {}
        self._closed = False
        self._zygote: Zygote | None = None
        self._zygote_lock = threading.Lock()

    # ---------------------------------------------------------------------------------------- processes
    def warm(self) -> None:
        """Start the ordinary processes now (server start-up), not on the first requests."""
        fresh = [self._spawn(slow=False) for _ in range(self.processes)]
        with self._cond:
            self._idle.extend(fresh)

    def _spawn(self, slow: bool) -> Child:
        with self._zygote_lock:
            if self._zygote is None or not self._zygote.alive():
                self._zygote = Zygote()
            zygote = self._zygote
        pid, conn = zygote.fork(self.memory_bytes, slow)
        return Child(pid, conn, slow)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            children, self._idle = self._idle, []
            pending, self._abandoned = list(self._abandoned.values()), {}
        for child in children:
            child.close()
        for p in pending:
            p.child.kill()
        with self._zygote_lock:
            zygote, self._zygote = self._zygote, None
        if zygote is not None:
            zygote.close()

    def suspect(self, digest: str) -> bool:
        until = self._suspects.get(digest)
        if until is None:
            return False
        if until < time.monotonic():
            self._suspects.pop(digest, None)
            return False
        return True

    def _mark(self, digest: str) -> None:
        self._suspects[digest] = time.monotonic() + SUSPECT_S
        if len(self._suspects) > 4096:
            now = time.monotonic()
            self._suspects = {d: t for d, t in self._suspects.items() if t > now}

    def _acquire(self, digest: str, until: float, off_loop: bool) -> tuple[Child, bool]:
        """A process for one render of ``digest``: an idle ordinary one, or a fresh low-priority one for a suspect
        template; waits for a free slot until ``until`` (then the render counts as timed out, or, on the event
        loop, moves to a counting thread)."""
        lane = self.suspect(digest)
        while True:
            with self._cond:
                done = self._unclaimed() if self._abandoned else []
                if not done:
                    if self._closed:
                        raise RenderTimeout("The server is shutting down.")
                    if lane and self._lane < SLOW_LANE:
                        self._lane += 1
                        break
                    if not lane and self._ordinary < self.processes:
                        self._ordinary += 1
                        child = self._idle.pop() if self._idle else None
                        if child is not None:
                            return child, False
                        break
                    left = until - time.monotonic()
                    if left <= 0:
                        if off_loop:
                            raise limits.OffLoop
                        raise RenderTimeout("The server's render processes are all busy; try again.")
                    # abandoned renders are looked at again after a tick: one may turn slow or end meanwhile
                    self._cond.wait(min(left, _TICK_S))
                    continue
            for pending in done:
                self._finish(pending, broken=True)
        try:
            return self._spawn(slow=lane), lane
        except BaseException:
            self._release(None, ordinary=not lane, lane=lane)
            raise

    def _release(self, child: Child | None, *, ordinary: bool, lane: bool) -> None:
        """Give back a render's slot; a healthy ordinary process goes back to the idle list, a slow one ends."""
        with self._cond:
            if ordinary:
                self._ordinary -= 1
            if lane:
                self._lane -= 1
            keep = child is not None and not child.slow and not self._closed and len(self._idle) < self.processes
            if keep:
                self._idle.append(child)  # type: ignore[arg-type]  # keep implies child is not None
            self._cond.notify_all()
        if child is not None and not keep:
            child.close()

    # -------------------------------------------------------------------------------------------- render
    def call(self, source: str, payload: bytes, bounds: limits.Limits, what: str = "The chat template") -> Any:
        """``payload`` (a pickled request for :func:`.render_child.handle`) run on ``source`` (a template's text, a
        tokenizer file's) in a render process, within ``bounds``; its answer, or its error raised here. ``what``
        names the code in timeout errors."""
        full = bounds.full or bounds
        digest = _digest(source)
        now = time.monotonic()
        hard = now + full.timeout_s + GRACE_S
        clock = limits.current_clock()
        if clock is not None:  # the server's one budget per request, from its first render
            if clock.started is None:
                clock.started = now
            hard = min(hard, clock.started + full.timeout_s + GRACE_S)
            if hard <= now:
                raise RenderTimeout(f"{what} did not finish within the request's render budget.")
        wait_until = min(now + bounds.timeout_s, hard) if bounds.off_loop else hard
        pending = None
        key = b""
        if self._abandoned or self._results:  # rare: only after a render was handed off
            self._sweep()
            key = _key(digest, payload)
            with self._cond:
                pending = self._abandoned.pop(key, None)
                ended = self._results.pop(key, None)
            if ended is not None:
                if ended[1] is None:
                    raise RenderTimeout(f"{what} did not finish within the render's budget; its render process "
                                        f"was stopped.")
                return self._answer(ended[1], digest)
        if pending is None:
            if bounds.hand_off and self.suspect(digest):
                # a suspect template waits for its lane on the slow pool's threads, not on the counting ones
                raise limits.SlowRender
            child, lane = self._acquire(digest, wait_until, bounds.off_loop)
            # the budget counts from the call, not from when a process was free: waiting for one is part of it
            pending = _Pending(child, digest, lane, time.monotonic(), hard)
            try:
                self._send(child, key, digest, source, payload)
            except (OSError, ValueError):
                self._finish(pending, broken=True)
                raise TemplateError("The render process failed; try again.") from None
        return self._wait(pending, key, source, payload, wait_until, off_loop=bounds.off_loop,
                          hand_off=bounds.hand_off, what=what)

    def _sweep(self) -> None:
        """Free the abandoned renders nobody adopted (see :meth:`_unclaimed`)."""
        with self._cond:
            done = self._unclaimed()
        for p in done:
            self._finish(p, broken=True)

    def _unclaimed(self) -> list[_Pending]:
        """With the lock held: abandoned renders that answered, died or are overdue (taken out, to be ended by the
        caller), and the slow ones' ordinary slots freed as a waiting thread would have (nobody waits on them)."""
        now = time.monotonic()
        done = []
        if len(self._results) > 1024 or any(t < now for t, _ in self._results.values()):
            self._results = {k: v for k, v in self._results.items() if v[0] >= now}
        for key, p in list(self._abandoned.items()):
            if p.hard_deadline < now or p.child.conn.closed or p.child.conn.poll(0):
                del self._abandoned[key]
                done.append(p)
                outcome: tuple[Any, ...] | None = None
                if p.hard_deadline >= now and not p.child.conn.closed:
                    try:
                        outcome = pickle.loads(p.child.conn.recv_bytes())
                    except (EOFError, OSError, pickle.UnpicklingError):
                        continue
                    if outcome[1] == "resend":
                        continue
                if len(self._results) < 1024:
                    self._results[key] = (now + SUSPECT_S, outcome)
            elif p.ordinary and p.is_slow(now):
                p.child.lower_priority()
                self._mark(p.digest)
                p.ordinary = False
                self._ordinary -= 1
        return done

    @staticmethod
    def _send(child: Child, key: bytes, digest: str, source: str, payload: bytes) -> None:
        first = digest not in child.known
        child.conn.send_bytes(pickle.dumps((key, digest, source if first else None, payload),
                                           protocol=pickle.HIGHEST_PROTOCOL))
        child.known.add(digest)

    def _wait(self, pending: _Pending, key: bytes, source: str, payload: bytes, wait_until: float, *,
              off_loop: bool, hand_off: bool, what: str) -> Any:
        child = pending.child
        while True:
            now = time.monotonic()
            if pending.is_slow(now):
                if pending.ordinary:
                    child.lower_priority()
                    self._mark(pending.digest)
                    pending.ordinary = False
                    with self._cond:  # its ordinary slot is free for others from now on
                        self._ordinary -= 1
                        self._cond.notify_all()
                if hand_off:  # this thread is one ordinary counts need: the slow pool's thread takes over
                    with self._cond:
                        self._abandoned[key or _key(pending.digest, payload)] = pending
                    raise limits.SlowRender
            if now >= pending.hard_deadline:
                self._finish(pending, broken=True)
                self._mark(pending.digest)
                raise RenderTimeout(f"{what} did not finish within the render's budget; its render process "
                                    f"was stopped.")
            if off_loop and now >= wait_until:
                with self._cond:
                    self._abandoned[key or _key(pending.digest, payload)] = pending
                raise limits.OffLoop
            step = min(_TICK_S, max(0.0, min(pending.hard_deadline, wait_until if off_loop else 1e18) - now))
            try:
                if not child.conn.poll(step):
                    continue
                reply = pickle.loads(child.conn.recv_bytes())
            except (EOFError, OSError):
                self._finish(pending, broken=True)
                self._mark(pending.digest)
                raise RenderLimit(f"{what}'s render process ended without an answer (it needed more memory than "
                                  f"render_memory_mb allows, or crashed).") from None
            if reply[1] == "resend":
                child.known.discard(pending.digest)
                self._send(child, key, pending.digest, source, payload)
                continue
            self._finish(pending, broken=False)
            return self._answer(reply, pending.digest)

    def _answer(self, reply: tuple[Any, ...], digest: str) -> Any:
        """A render process's reply: its value, or its error raised (a limit marks the template suspect)."""
        if reply[1] == "ok":
            return reply[2]
        kind, message = reply[2], reply[3]
        if kind != "TemplateError":
            self._mark(digest)
        raise _ERRORS.get(kind, TemplateError)(message)

    def _finish(self, pending: _Pending, *, broken: bool) -> None:
        if not broken and not pending.slow and pending.digest in self._suspects:
            # a render of a suspect template that finished without turning slow: it was a big request, not a
            # hostile template (or the machine was busy), and its next renders are ordinary again
            self._suspects.pop(pending.digest, None)
        if broken:
            pending.child.kill()
        self._release(None if broken else pending.child, ordinary=pending.ordinary, lane=pending.lane)


@functools.lru_cache(maxsize=256)
def _digest(source: str) -> str:
    """A template's name in the render processes' caches (its text is sent once per process)."""
    return hashlib.blake2b(source.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _key(digest: str, payload: bytes) -> bytes:
    """One render request's identity: the same template with the same values (for adopting an abandoned one)."""
    return hashlib.blake2b(payload, digest_size=16, key=digest.encode()).digest()


_POOL: RenderPool | None = None
_POOL_LOCK = threading.Lock()


def pool(bounds: limits.Limits) -> RenderPool:
    """This process's render pool, made on first use with ``bounds``' process count and memory."""
    global _POOL
    if _POOL is None:
        with _POOL_LOCK:
            if _POOL is None:
                _POOL = RenderPool(bounds.processes, bounds.memory_mb)
                atexit.register(shutdown)
    return _POOL


def shutdown() -> None:
    """End this process's render processes (server shutdown, tests)."""
    global _POOL
    with _POOL_LOCK:
        found, _POOL = _POOL, None
    if found is not None:
        found.close()


def render_isolated(source: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, *,
                    add_generation_prompt: bool, continue_final: bool, variables: dict[str, Any], name: str,
                    bounds: limits.Limits) -> str:
    """:func:`.render.render` in a render process (see the module doc)."""
    full = bounds.full or bounds
    try:
        payload = pickle.dumps(("render", messages, tools, add_generation_prompt, continue_final, variables, name,
                                full.timeout_s, full.max_chars, full.max_iterations, _clock(), full.native),
                               protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:  # only JSON-like values reach a template
        raise TemplateError(f"The request's values cannot be given to the chat template: {exc}") from exc
    text: str = pool(bounds).call(source, payload, bounds)
    return text


def _clock() -> str | None:
    """The server's pinned ``now`` (None: the render process reads the real clock)."""
    from ... import settings_in_force

    return settings_in_force.current().now
