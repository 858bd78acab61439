"""A model's ``tokenizer.json`` whose split regex backtracks catastrophically, or makes the Rust side panic, served
by a real server: answered within the render budget + 1 s in the route's shape while ``/healthz`` and other models'
counts keep answering (issue: hostile input, round 2, item 5). Files with only vetted patterns stay in process."""

from __future__ import annotations

import importlib.util
import json
import os
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

import tokcount
from support.hostile_models import installed, write_models
from support.hostile_tokenizers import BACKTRACKING, SLOW_TEXT, with_split
from support.serverkit import running_server
from support.shared import HUB, REPO
from tokcount import loader
from tokcount.models.catalog import default_catalog
from tokcount.settings import Settings
from tokcount.tokenizers.isolated import IsolatedEncoder, unvetted, vetted

#: nested quantifiers: ~2^20 steps at every start of a 20-letter run, so 250 runs (5 kB) take ~10 s in Oniguruma
#: one run longer than Oniguruma's retry limit: the tokenizers library panics (a BaseException in Python)
PANIC_TEXT = "a" * 40
BUDGET_S = 2.0


def collect() -> dict[str, list[str]]:
    """scripts/vetted_patterns.py's list of the patterns of every tested tokenizer file."""
    spec = importlib.util.spec_from_file_location("vetted_patterns", REPO / "scripts" / "vetted_patterns.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    found: dict[str, list[str]] = module.collect()
    return found


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Iterator[dict[str, str]]:
    root = tmp_path_factory.mktemp("regex")
    plain = "{% for m in messages %}{{ m.content }}{% endfor %}"
    env = write_models(root, {"backtracking": plain, "ordinary": plain})
    with_split(root / "hub" / "tokcount-test" / "backtracking", BACKTRACKING)
    with installed(env):
        yield env


def test_every_tested_tokenizer_file_is_vetted() -> None:
    """The list covers every tokenizer.json the oracle tests use, so none of them leaves the fast in-process path
    (regenerate it with ``python scripts/vetted_patterns.py``)."""
    missing = {p: users for p, users in collect().items() if p not in vetted()}
    assert not missing, missing
    assert HUB.is_dir()


def test_unvetted_file_gets_the_isolated_encoder(hostile) -> None:
    assert isinstance(loader.load(default_catalog().resolve("backtracking")).tokenizer.encoder, IsolatedEncoder)
    assert not isinstance(loader.load(default_catalog().resolve("ordinary")).tokenizer.encoder, IsolatedEncoder)
    data = json.loads((HUB / "Qwen" / "Qwen3.5-9B" / "tokenizer.json").read_bytes())
    assert unvetted(data) == []


def test_library_counts_in_process_and_agrees(hostile) -> None:
    """Outside the server the user's own file runs in process; a short text counts the same either way."""
    msgs = [{"role": "user", "content": "ab a b"}]
    local = tokcount.count("backtracking", msgs).input_tokens
    assert local > 0


def test_server_bounds_a_backtracking_tokenizer(hostile) -> None:
    settings = Settings.load(env={**os.environ, **hostile, "TOKCOUNT_RENDER_TIMEOUT": str(BUDGET_S)})
    with running_server(settings) as url, httpx.Client(base_url=url, timeout=60) as client:
        ordinary = {"model": "ordinary", "messages": [{"role": "user", "content": "hello ab"}]}
        assert client.post("/v1/token/count", json=ordinary).status_code == 200
        worst_health = 0.0
        done = threading.Event()

        def poll() -> None:
            nonlocal worst_health
            with httpx.Client(base_url=url, timeout=30) as poller:
                while not done.is_set():
                    started = time.monotonic()
                    assert poller.get("/healthz").status_code == 200
                    worst_health = max(worst_health, time.monotonic() - started)
                    done.wait(0.05)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        results: dict[str, tuple[httpx.Response, float]] = {}

        def send(name: str, text: str) -> None:
            started = time.monotonic()
            resp = client.post("/v1/token/count", json={"model": "backtracking",
                                                        "messages": [{"role": "user", "content": text}]})
            results[name] = (resp, time.monotonic() - started)

        threads = [threading.Thread(target=send, args=a) for a in (("slow", SLOW_TEXT), ("panic", PANIC_TEXT))]
        for t in threads:
            t.start()
        time.sleep(0.5)
        started = time.monotonic()
        for _ in range(5):
            assert client.post("/v1/token/count", json=ordinary).status_code == 200
        ordinary_s = time.monotonic() - started
        for t in threads:
            t.join(30)
        done.set()
        poller.join(10)

        slow, slow_s = results["slow"]
        assert slow.status_code == 503, slow.text
        assert slow.json()["error"]["code"] == "render_timeout"
        assert "tokenizer" in slow.json()["error"]["message"]
        assert slow_s < BUDGET_S + 1.5
        panic, _ = results["panic"]
        assert panic.status_code == 400, panic.text
        assert panic.json()["error"]["code"] == "tokenizer_failed"
        assert worst_health < 0.5, worst_health
        assert ordinary_s < 2.0, ordinary_s
        assert client.post("/v1/token/count", json=ordinary).status_code == 200


def test_a_panic_in_process_is_answered_in_the_route_shape(hostile) -> None:
    """With isolation off (the operator's choice), a tokenizer's Rust panic is still a 400 in the route's shape,
    not Starlette's plain-text 500."""
    settings = Settings.load(env={**os.environ, **hostile, "TOKCOUNT_RENDER_ISOLATION": "0"})
    with running_server(settings) as url, httpx.Client(base_url=url, timeout=60) as client:
        body = {"model": "backtracking", "messages": [{"role": "user", "content": PANIC_TEXT}]}
        resp = client.post("/v1/token/count", json=body)
        assert resp.status_code == 400, resp.text
        assert resp.json()["error"]["code"] == "tokenizer_failed"
        resp = client.post("/v1/messages/count_tokens", json={**body, "max_tokens": 1})
        assert resp.status_code == 400 and resp.json()["type"] == "error", resp.text
