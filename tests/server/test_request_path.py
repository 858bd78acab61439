"""Following one request body from the HTTP entry to the answer, the path climbs back up at most once (issue 24).

How it is measured: a real server on loopback counts one Anthropic body while a profiler on every thread
(``threading.setprofile_all_threads``) sees each Python call. For a call into a tokcount function, its caller is
the nearest tokcount frame below it on the same thread's stack; the call *climbs back up* when the callee's layer
(:data:`PATH`, top first: the request path of docs/architecture.md, then the package's import layers) is above the
caller's. Returns and raised exceptions go up by nature and are not calls; a thread hop (the event loop handing a
count to a pool thread) starts a stack with no tokcount caller and is not counted either, only what runs on it.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import httpx
import pytest

from support.layers import LAYERS
from support.serverkit import running_server
from tokcount.settings import Settings

#: the request path's layers, top first: the server's own steps, then the package's import layers below the entry
PATH: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("server", ("tokcount.server", "tokcount.fastpath", "tokcount.routing", "tokcount.observe", "tokcount.metrics")),
    #: with the guards on what is read: the header deadline (protocol) and the body deadline (httpguard)
    ("admission", ("tokcount.admission", "tokcount.tenancy", "tokcount.sigv4", "tokcount.httpguard",
                   "tokcount.protocol")),
    ("scheduling", ("tokcount.scheduling",)),
    ("memo", ("tokcount.memo",)),
    *LAYERS[1:],
)
#: issue 24 asks for at most one; before it, both bodies climbed back 3 times (jobs.answer calling the server's
#: check= and keep= hooks, jobs.execute its resolve= hook); now a warm count climbs none, and a model's first load
#: once (the loader telling the server's metrics of the load, through the recorder the server handed down)
MAX_CLIMBS = 1


def _layer(module: str) -> int | None:
    best: tuple[int, int] | None = None
    for i, (_, prefixes) in enumerate(PATH):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (i, len(prefix))
    return None if best is None else len(PATH) - 1 - best[0]


def _where(frame: FrameType) -> str:
    return f"{frame.f_globals.get('__name__')}.{frame.f_code.co_qualname}"


@contextmanager
def climbs() -> Iterator[list[tuple[str, str]]]:
    """The (caller, callee) calls that climb back up while the block runs, on any thread."""
    found: list[tuple[str, str]] = []
    lock = threading.Lock()

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event != "call":
            return
        callee = _layer(frame.f_globals.get("__name__") or "")
        if callee is None:
            return
        caller_frame = frame.f_back
        while caller_frame is not None and _layer(caller_frame.f_globals.get("__name__") or "") is None:
            caller_frame = caller_frame.f_back
        if caller_frame is None:
            return
        caller = _layer(caller_frame.f_globals.get("__name__") or "")
        if caller is not None and callee > caller:
            with lock:
                found.append((_where(caller_frame), _where(frame)))

    threading.setprofile_all_threads(profile)
    try:
        yield found
    finally:
        threading.setprofile_all_threads(None)
        sys.setprofile(None)


def _anthropic(text: str) -> dict[str, Any]:
    return {"model": "qwen3.5", "system": "Be brief.", "max_tokens": 16,
            "messages": [{"role": "user", "content": text},
                         {"role": "assistant", "content": [{"type": "text", "text": "Sure."}]},
                         {"role": "user", "content": [{"type": "text", "text": "And again?"}]}]}


def test_the_measure_sees_a_climb() -> None:
    """A recorder passed down and called back is a climb (the loader telling the server's metrics of a load: it
    happens on a model's first load only), and a call going down is not."""
    from tokcount import jobs, loader, metrics
    from tokcount.models.catalog import default_catalog

    spec = default_catalog().resolve("qwen3.5")
    loader.configure(on_load=metrics.model_load)
    with climbs() as seen:
        loader._record_load(spec, 0.0, ok=True)
    assert ("tokcount.loader._record_load", "tokcount.metrics.model_load") in seen, seen
    with climbs() as seen:
        jobs.parse_body(b'{"a": [[[1]]]}', 8)  # jobs -> dialects._fields.check_depth: down
    assert seen == []


@pytest.mark.parametrize("size", ["small", "large", "cold"])
def test_one_anthropic_body_climbs_back_up_at_most_once(size: str) -> None:
    """A small body is counted on the event loop, a large one (over 16 kB) on a counting thread; a cold one loads
    its model first (on a counting thread: a load never runs on the event loop)."""
    from tokcount import loader

    text = "How many tokens is this? " * (1200 if size == "large" else 1)
    with running_server(Settings(default_model="qwen3.5")) as url:
        if size == "cold":
            loader.clear()
        else:
            warm = httpx.post(f"{url}/v1/messages/count_tokens", json=_anthropic("warm-up " + text), timeout=120)
            assert warm.status_code == 200, warm.text  # the model loaded: the traced body is the steady state
        with climbs() as seen:
            r = httpx.post(f"{url}/v1/messages/count_tokens", json=_anthropic(text), timeout=120)
        assert r.status_code == 200 and r.json()["input_tokens"] > 0, r.text
    assert len(seen) <= (MAX_CLIMBS if size == "cold" else 0), "\n".join(f"{a} -> {b}" for a, b in seen)
    if size == "cold":
        assert seen == [("tokcount.loader._record_load", "tokcount.metrics.model_load")]


def test_the_policy_is_a_value_passed_down() -> None:
    """What the server allows comes down as one value, no hook into the caller: the same ``jobs.answer`` refuses a
    body over the server's limits (413, in the route's shape) and a repo the server does not allow (403), and
    counts that body under the library's default policy; the model that counted is marked warm."""
    from tokcount import jobs, loader
    from tokcount.dialects import dialects
    from tokcount.models.catalog import RepoPolicy, default_catalog

    anthropic = dialects()["anthropic"]
    route = anthropic.routes[0]
    settings = Settings(default_model="qwen3.5", max_messages=2)
    server = jobs.Policy(limits=settings, repos=RepoPolicy(()))
    body = _anthropic("Hi")  # three messages
    refused = jobs.answer(anthropic, route, body, settings, policy=server)
    assert refused.status == 413 and refused.body["error"]["type"] == "request_too_large", refused.body
    counted = jobs.answer(anthropic, route, body, settings)
    assert counted.status == 200 and counted.tokens and counted.model == "qwen3.5"
    assert counted.job is not None and counted.result is not None  # what the memo keeps, returned with it
    repo = {**body, "model": "some-org/some-model", "messages": body["messages"][:1]}
    assert jobs.answer(anthropic, route, repo, settings, policy=server).status == 403
    # a closed model counted through the policy is warm: the server may count it on the event loop next time
    claude = default_catalog().resolve("claude-sonnet-4-5")
    loader._warm.discard(claude)
    out = jobs.answer(anthropic, route, {**body, "model": "claude-sonnet-4-5"}, Settings(), policy=jobs.Policy())
    assert out.status == 200 and loader.is_loaded(claude)
