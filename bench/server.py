"""The server under load: requests/s and latency percentiles from wrk on loopback, next to the HTTP floor.

Each server (tokcount, then the bare FastAPI floor) is started with 1 and 2 workers on a free loopback port; wrk
(Debian package ``wrk``) sends StepFun ``/v1/token/count`` bodies at concurrency 1, 16 and 64 for a fixed time
after a warm-up, and the server is stopped. Traffic never leaves 127.0.0.1.

Bodies are ``fresh`` by default: wrk's Lua script writes its request counter into every message of the body, so
no two requests are alike (no memo hit, no segment-cache hit on any message: what a service counting distinct
conversations sees). ``same`` sends one body over and over (what the answer memo serves: agent start-up bursts).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from . import workloads

REPO = Path(__file__).resolve().parents[1]
CONCURRENCY = (1, 16, 64)
WORKERS = (1, 2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(port: int, path: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server on port {port} not ready after {timeout}s")


def _start(kind: str, workers: int, port: int) -> subprocess.Popen[bytes]:
    if kind == "tokcount":
        cmd = [sys.executable, "-c", "from tokcount.cli import main; main()", "serve", "--host", "127.0.0.1",
               "--port", str(port), "--workers", str(workers), "--preload", "qwen3.5"]
    else:
        cmd = [sys.executable, "-m", "uvicorn", "bench.floor_app:app", "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env={**os.environ, "TOKCOUNT_LOG_LEVEL": "warning"})


def _stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


def _ms(value: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", value)
    if not m:
        return float("nan")
    n, unit = float(m.group(1)), m.group(2)
    return n / 1000 if unit == "us" else n * 1000 if unit == "s" else n


MARK = "@@N@@"


def wrk(port: int, body_file: Path, connections: int, seconds: int, fresh: bool = True) -> dict[str, float]:
    script = body_file.with_suffix(".lua")
    lines = ['wrk.method = "POST"', 'wrk.headers["Content-Type"] = "application/json"',
             f'local f = io.open("{body_file}", "rb"); local body = f:read("*a"); f:close()']
    if fresh:  # every request distinct: the counter written where the body says @@N@@ (once per message)
        lines += ["local n = 0", "request = function()", "  n = n + 1",
                  f'  return wrk.format(nil, nil, nil, (body:gsub("{MARK}", tostring(n))))', "end"]
    else:
        lines.append("wrk.body = body")
    script.write_text("\n".join(lines) + "\n")
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script),
                          f"http://127.0.0.1:{port}/v1/token/count"], capture_output=True, text=True, check=True,
                         timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50_ms": _ms(lat.get("50", "")), "p99_ms": _ms(lat.get("99", "")),
            "non_2xx": int(errors.group(1)) if errors else 0}


def bodies(tmp: Path) -> dict[str, Path]:
    """The bodies: a ~1k-token chat (6 messages) and the agent trace, with a mark at the start of every message."""
    out = {}
    for label, request in (("1k chat", workloads.chat(1_000, 6, 42)), ("agent trace", workloads.agent_trace(42))):
        for m in request["messages"]:
            m["content"] = f"{MARK} {m['content']}"
        path = tmp / (label.replace(" ", "_") + ".json")
        path.write_text(json.dumps({"model": "qwen3.5", **request}, ensure_ascii=False))
        out[label] = path
    return out


def load(seconds: int = 10, warmup: int = 2, log: Any = print) -> list[dict[str, Any]]:
    """Rows of (server, workers, body, mode, connections) → req/s, p50, p99, non-2xx answers."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (Debian: apt-get install wrk; ./bench/run does it)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        files = bodies(Path(tmp))
        for workers in WORKERS:
            for kind in ("tokcount", "floor"):
                port = _free_port()
                proc = _start(kind, workers, port)
                try:
                    _wait_ready(port, "/readyz" if kind == "tokcount" else "/healthz")
                    for label, body in files.items():
                        modes = ("fresh", "same") if kind == "tokcount" and label == "1k chat" else ("fresh",)
                        for mode in modes:
                            wrk(port, body, 16, warmup, fresh=mode == "fresh")  # every worker loads and warms up
                            for c in CONCURRENCY:
                                row = {"server": kind, "workers": workers, "body": label, "mode": mode,
                                       "connections": c, **wrk(port, body, c, seconds, fresh=mode == "fresh")}
                                rows.append(row)
                                log(f"  load {kind} w{workers} {label} {mode} c{c}: {row['rps']:.0f} req/s, "
                                    f"p50 {row['p50_ms']:.2f} ms, p99 {row['p99_ms']:.2f} ms")
                finally:
                    _stop(proc)
    return rows


def process_ms(rounds: int = 400) -> tuple[float, float]:
    """Median ms of ``Service.answers.count`` (JSON parse, count, StepFun format: what a request costs beyond HTTP) and
    of the chat template's render alone, on fresh 1k chat bodies in this process: what bounds a worker's req/s
    however light the HTTP stack is."""
    import statistics

    import orjson

    from tokcount import loader
    from tokcount.count import as_request, render_prompt
    from tokcount.dialects import dialects
    from tokcount.models.catalog import default_catalog
    from tokcount.server import Service
    from tokcount.settings import Settings

    service = Service(Settings(default_model="qwen3.5"))
    dialect = dialects()["stepfun"]
    route = dialect.routes[0]
    model = loader.load(default_catalog().resolve("qwen3.5"))
    with tempfile.TemporaryDirectory() as tmp:
        body = bodies(Path(tmp))["1k chat"].read_bytes()

    def process(raw: bytes) -> object:  # a fresh body: no memo key
        return service.answers.count(None, "", dialect, route, raw, {}, service.settings)

    process(body.replace(MARK.encode(), b"warm"))
    whole, render = [], []
    for n in range(rounds):
        raw = body.replace(MARK.encode(), str(2 * n).encode())
        started = time.perf_counter()
        process(raw)
        whole.append((time.perf_counter() - started) * 1000)
        request = as_request(orjson.loads(body.replace(MARK.encode(), str(2 * n + 1).encode())))
        started = time.perf_counter()
        render_prompt(model, request)
        render.append((time.perf_counter() - started) * 1000)
    return statistics.median(whole), statistics.median(render)
