"""The render process's side of :mod:`.render_pool`: a loop that renders chat templates sent over a pipe.

A chat template is a program from a model repository. In process, the sandbox's cooperative checks
(:mod:`.limits`, :mod:`.bounds`) stop what they know about; whatever they do not know about (a C-level method
that allocates gigabytes, a filter chain that never reads the clock) would take the server's memory and time with
it. Here the same render runs in a process of its own whose address space is capped by the OS
(``RLIMIT_AS``: an allocation past it is a ``MemoryError``, whatever made it) and which the server kills when its
wall-clock budget is spent, so the bound holds for every operation a template can reach, known or not.

The process imports only the template machinery. It renders one request at a time and exits when the server's end
of the pipe closes.
"""

from __future__ import annotations

import gc
import os
import pickle
import resource
import signal
import socket
import struct
import sys
from multiprocessing.connection import Connection
from typing import Any

from ...errors import RenderLimit, RenderTimeout, TemplateError, TokcountError, TokenizerFailure
from . import jinja_env, limits
from .render import render_here

#: error classes a render may raise, sent back by name (anything else is a template failure)
KINDS: dict[str, type[TokcountError]] = {
    cls.__name__: cls for cls in (TemplateError, RenderLimit, RenderTimeout, TokenizerFailure)}
#: tokenizers built here from the files the server sent, by digest (see tokenizers/isolated.py)
_TOKENIZERS: dict[str, Any] = {}


def _address_space() -> int:
    """Bytes of address space mapped now (``VmSize``)."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def cap_memory(extra_bytes: int) -> None:
    """Let this process map at most ``extra_bytes`` more than it has mapped now; past that, allocations fail."""
    if extra_bytes <= 0 or not sys.platform.startswith("linux"):
        return
    limit = _address_space() + extra_bytes
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _one(request: tuple[Any, ...], sources: dict[str, str]) -> tuple[Any, ...]:
    key, digest, source, payload = request
    if source is not None:
        sources[digest] = source
    elif digest not in sources:  # the server thought this process knew it (it was restarted): ask again
        return (key, "resend")
    request = pickle.loads(payload)
    try:
        if request[0] == "tokenizer":
            return (key, "ok", _tokenizer_call(digest, sources[digest], request[1], request[2]))
        if request[0] == "ctok":
            from ...tokenizers import claude

            return (key, "ok", claude.count(request[2], request[1]))
        (_, messages, tools, add_generation_prompt, continue_final, variables, name, timeout_s, max_chars,
         max_iterations, now, native) = request
        jinja_env.pin_clock(now)
        bounds = limits.Limits(timeout_s=timeout_s, max_chars=max_chars, max_iterations=max_iterations,
                               native=native)
        with limits.active(bounds):
            text = render_here(sources[digest], messages, tools, add_generation_prompt=add_generation_prompt,
                               continue_final=continue_final, variables=variables, name=name)
        return (key, "ok", text)
    except TokcountError as exc:
        kind = type(exc).__name__ if type(exc).__name__ in KINDS else "TemplateError"
        return (key, "err", kind, exc.message)
    except MemoryError:
        return (key, "err", "RenderLimit", "The chat template needed more memory than a render may use "
                                           "(render_memory_mb).")
    except RecursionError:
        return (key, "err", "RenderLimit", "The chat template recursed too deeply.")
    except Exception as exc:  # the tokenizer's own errors (a plain Exception from the Rust side)
        return (key, "err", "TokenizerFailure", f"The model's tokenizer failed on this text: {str(exc)[:200]}")
    except BaseException as exc:  # a Rust panic arrives as pyo3's PanicException, a BaseException
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        return (key, "err", "TokenizerFailure", f"The model's tokenizer crashed on this text: {str(exc)[:200]}")


def _tokenizer_call(digest: str, source: str, op: str, arg: Any) -> Any:
    """One call on the ``tokenizers`` pipeline built from ``source`` (kept for the next calls)."""
    from ...tokenizers.hf import HFEncoder

    encoder = _TOKENIZERS.get(digest)
    if encoder is None:
        if len(_TOKENIZERS) >= 4:
            _TOKENIZERS.pop(next(iter(_TOKENIZERS)))
        encoder = _TOKENIZERS[digest] = HFEncoder(None, source)
    if op not in HFEncoder.CALLS:
        raise TokenizerFailure(f"unknown tokenizer call {op!r}")
    return getattr(encoder, op)(arg)


def zygote() -> None:
    """The entry point: a process that has imported the render machinery once and forks a render process for each
    socket the server sends it (``argv[1]``: the control socket's fd). A fork costs milliseconds where a fresh
    interpreter costs a few hundred; the server kills its render processes freely because of it.

    Control protocol: the server sends ``b"<memory bytes> <normal|slow>"`` with the render process's socket as an
    ancillary fd; the answer is the new process's pid (4 bytes). Render processes are reaped by the kernel
    (``SIGCHLD`` ignored); the zygote exits when the server closes the control socket."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    control = socket.socket(fileno=int(sys.argv[1]))
    gc.collect()
    gc.freeze()  # what the forks share stays shared
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(control, 64, 1)
        except OSError:
            os._exit(0)
        if not msg or not fds:
            os._exit(0)
        extra, mode = msg.decode("ascii").split()
        pid = os.fork()
        if pid == 0:
            control.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            if mode == "slow":
                os.nice(19)
            try:
                serve(Connection(fds[0]), int(extra))
            finally:
                os._exit(0)
        os.close(fds[0])
        try:
            control.sendall(struct.pack("!i", pid))
        except OSError:
            os._exit(0)


def serve(conn: Connection, extra_bytes: int) -> None:
    """Render requests from ``conn`` until it closes."""
    cap_memory(extra_bytes)
    sources: dict[str, str] = {}
    while True:
        try:
            raw = conn.recv_bytes()
        except (EOFError, OSError):
            os._exit(0)
        try:
            reply = _one(pickle.loads(raw), sources)
            data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        except MemoryError:
            data = pickle.dumps((None, "err", "RenderLimit", "The chat template needed more memory than a render "
                                                             "may use (render_memory_mb)."))
        del raw
        try:
            conn.send_bytes(data)
        except (OSError, MemoryError):
            os._exit(1)
        del data
        if len(sources) > 64:  # a process lives long; templates change rarely
            sources.clear()
        gc.collect(0)
