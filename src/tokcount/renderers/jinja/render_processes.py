"""The server's side of one render process and of the zygote that forks them (see :mod:`.render_pool` for why
renders run in processes, and :mod:`.render_child` for the processes' own side).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class Zygote:
    """The process that forks render processes (:func:`.render_child.zygote`), started once per server process.

    A plain subprocess running a fresh interpreter, not ``multiprocessing``: that re-imports the parent's
    ``__main__`` in every child (a test runner's, a server's), which a render process has no use for."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        # where ``tokcount`` is imported from in this process: up one directory per dot of this module's name
        root = str(Path(__file__).resolve().parents[__name__.count(".")])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", "from tokcount.renderers.jinja.render_child import zygote; zygote()",
                 str(theirs.fileno())], pass_fds=(theirs.fileno(),), env=env, stdin=subprocess.DEVNULL)
        finally:
            theirs.close()
        self.control = ours
        self.lock = threading.Lock()

    def fork(self, memory_bytes: int, slow: bool) -> tuple[int, Connection]:
        """A new render process: its pid and our end of its socket."""
        ours, theirs = socket.socketpair()
        try:
            with self.lock:
                socket.send_fds(self.control, [f"{memory_bytes} {'slow' if slow else 'normal'}".encode()],
                                [theirs.fileno()])
                answer = b""
                while len(answer) < 4:
                    got = self.control.recv(4 - len(answer))
                    if not got:
                        raise OSError("the render zygote exited")
                    answer += got
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        return struct.unpack("!i", answer)[0], Connection(ours.detach())

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        self.control.close()
        try:
            self.proc.wait(2.0)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Child:
    """One render process and our end of its socket. Closing our end makes it exit; the zygote reaps it."""

    def __init__(self, pid: int, conn: Connection, slow: bool) -> None:
        self.pid = pid
        self.conn = conn
        #: template digests this process has been sent
        self.known: set[str] = set()
        #: at the lowest CPU priority (started so, or lowered when its render turned slow): never reused
        self.slow = slow

    def cpu_s(self) -> float:
        """CPU seconds this process has used (0 when it is gone): slowness is judged by work done, not by wall
        time, which a loaded machine stretches for every render alike."""
        try:
            with open(f"/proc/{self.pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
        except (OSError, ValueError, IndexError):
            return 0.0

    def lower_priority(self) -> None:
        if not self.slow:
            self.slow = True
            with contextlib.suppress(OSError):  # the process is already gone: its reply (or EOF) says so
                os.setpriority(os.PRIO_PROCESS, self.pid, 19)

    def close(self) -> None:
        if not self.conn.closed:
            self.conn.close()

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGKILL)
        self.close()
