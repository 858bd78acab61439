"""The server's memo of whole answers (:mod:`tokcount.memo`): a re-sent byte-identical body gets the answer a fresh
count gives, keyed by the date for templates that read it, never for media fetched by URL or for errors."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn

import tokcount
from support.serverkit import free_port
from tokcount import loader
from tokcount.count import as_request
from tokcount.memo import AnswerMemo, clock_dependence
from tokcount.models.catalog import default_catalog
from tokcount.server import create_app
from tokcount.settings import Settings

CHAT = {"model": "qwen3.5", "messages": [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Count me: 東京の天気は？ 🌧️ and café."},
]}


@contextmanager
def serving() -> Iterator[tuple[str, Any]]:
    """A real server on loopback, and its Service (to read the memo's hit/miss counters)."""
    app = create_app(Settings(default_model="qwen3.5"))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", app.state.service
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def srv() -> Iterator[tuple[str, Any]]:
    with serving() as pair:
        yield pair


def send(base: str, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(base + path, content=json.dumps(body).encode(), timeout=60,
                      headers={"Content-Type": "application/json"})


def test_memoized_answer_equals_fresh_count(srv: tuple[str, Any]) -> None:
    base, service = srv
    body = {**CHAT, "messages": [*CHAT["messages"], {"role": "user", "content": "memo test one"}]}
    fresh = tokcount.count("qwen3.5", body, breakdown=False).input_tokens
    hits = service.memo.hits
    first = send(base, "/v1/token/count", body)
    second = send(base, "/v1/token/count", body)
    assert first.status_code == second.status_code == 200
    assert service.memo.hits == hits + 1  # the second was answered from the memo
    assert first.json() == second.json()
    assert second.json()["data"]["total_tokens"] == fresh
    # StepFun's reply shows no latency, so the hit sent the bytes and headers the fresh answer had
    assert second.content == first.content
    skip = {"x-request-id", "date"}
    assert {k: v for k, v in second.headers.items() if k not in skip} == \
        {k: v for k, v in first.headers.items() if k not in skip}
    # the same bytes on another route get that route's answer, never the memoized StepFun one
    vllm = send(base, "/tokenize", body)
    assert vllm.status_code == 200 and vllm.json()["count"] == fresh and "data" not in vllm.json()


def test_bifrost_replay_reports_its_own_latency(srv: tuple[str, Any]) -> None:
    """What is memoized is the count, not the reply: a hit is formatted again, with the hit's own latency."""
    base, service = srv
    body = {"model": "qwen/qwen3.5", "input": [{"role": "user", "content": "latency of a memo hit " * 2000}]}
    first = send(base, "/v1/count_tokens", body).json()
    hits = service.memo.hits
    again = send(base, "/v1/count_tokens", body).json()
    assert service.memo.hits == hits + 1
    assert again["input_tokens"] == first["input_tokens"]
    assert {k: v for k, v in again.items() if k != "extra_fields"} == \
        {k: v for k, v in first.items() if k != "extra_fields"}
    assert again["extra_fields"]["latency"] == 0  # well under a millisecond, unlike a fresh count of this body


def test_errors_and_urls_are_never_memoized(srv: tuple[str, Any]) -> None:
    base, service = srv
    bad = {"model": "no-such-model-xyz", "messages": [{"role": "user", "content": "hi"}]}
    assert send(base, "/v1/token/count", bad).status_code == 404
    size = len(service.memo)
    assert send(base, "/v1/token/count", bad).status_code == 404
    assert len(service.memo) == size
    text_url = {**CHAT, "messages": [{"role": "user", "content": "see https://example.com/page"}]}
    hits = service.memo.hits
    for _ in range(2):
        assert send(base, "/v1/token/count", text_url).status_code == 200
    assert service.memo.hits == hits + 1  # a URL in text is only text


def test_media_by_url_is_never_memoized() -> None:
    from tokcount.dialects._api import Job, Outcome
    from tokcount.token_count import Count

    def job_with(url: str) -> Job:
        return Job(models=["qwen3.5"], request=as_request({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this?"}, {"type": "image_url", "image_url": {"url": url}}]}]}))

    result = Outcome(model="qwen3.5", count=Count(model="qwen3.5", input_tokens=9, exact=True, method="t"))
    memo = AnswerMemo()
    for i, url in enumerate(("https://example.com/cat.png", "http://10.0.0.1/x.png", "data:image/png;base64,AAAA")):
        key = memo.key("stepfun", "/v1/token/count", {}, b"body %d" % i)
        assert key is not None
        memo.put(key, job_with(url), result, "none", "2025-01-01")
        assert (memo.get(key, "2025-01-01") is not None) == url.startswith("data:")


def test_date_reading_template_is_keyed_by_date(srv: tuple[str, Any], use_settings: Any) -> None:
    """gpt-oss's template prints today's date (``strftime_now("%Y-%m-%d")``): a new day is a fresh count."""
    base, service = srv
    body = {"model": "gpt-oss-20b", "messages": [{"role": "user", "content": "What day is it?"}]}
    use_settings(now="2025-01-01")
    day1 = send(base, "/v1/token/count", body).json()
    hits = service.memo.hits
    assert send(base, "/v1/token/count", body).json() == day1
    assert service.memo.hits == hits + 1
    use_settings(now="2025-06-30")
    day2 = send(base, "/v1/token/count", body).json()
    assert service.memo.hits == hits + 1  # a miss: yesterday's entry is not served
    assert day2["data"]["total_tokens"] == tokcount.count("gpt-oss-20b", body, breakdown=False).input_tokens
    # a template that reads no clock keeps its entry across days
    plain = {**CHAT, "messages": [{"role": "user", "content": "no clock here"}]}
    send(base, "/v1/token/count", plain)
    use_settings(now="2025-07-01")
    hits = service.memo.hits
    send(base, "/v1/token/count", plain)
    assert service.memo.hits == hits + 1


def test_clock_dependence_of_real_templates() -> None:
    catalog = default_catalog()
    assert clock_dependence(loader.load(catalog.resolve("gpt-oss-20b")).template()) == "date"
    assert clock_dependence(loader.load(catalog.resolve("qwen3.5")).template()) == "none"
    assert clock_dependence('{{ strftime_now("%d %b %Y") }}') == "date"
    assert clock_dependence('{{ strftime_now("%H:%M") }}') == "time"
    assert clock_dependence("{{ strftime_now(fmt) }}") == "time"


def test_memo_bounds_and_lru() -> None:
    from tokcount.dialects._api import Job, Outcome
    from tokcount.token_count import Count

    memo = AnswerMemo(max_entries=2, max_bytes=10_000)
    job = Job(models=["m"])
    result = Outcome(model="m", count=Count(model="m", input_tokens=1, exact=True, method="t"))
    keys = [memo.key("d", "/p", {}, b"body%d" % i) for i in range(3)]
    for k in keys:
        assert k is not None
        memo.put(k, job, result, "none", "2025-01-01")
    assert len(memo) == 2 and memo.get(keys[0], "2025-01-01") is None  # the oldest was evicted
    assert memo.get(keys[2], "2025-01-01") is not None
    assert memo.key("d", "/p", {}, b"x" * 2_000) is None  # too large for this bound
    fallback = Outcome(model="other", count=result.count)
    k = memo.key("d", "/p", {}, b"fallback")
    assert k is not None
    memo.put(k, job, fallback, "none", "2025-01-01")
    assert memo.get(k, "2025-01-01") is None  # a fallback model's answer may change once the first has files


def test_bodies_sharing_a_fingerprint_are_never_confused() -> None:
    """A large body is looked up by samples of it, then compared whole: two bodies that differ only where no
    sample falls get their own answers (or none), never each other's; the request is not kept in the memo."""
    from tokcount.dialects._api import Job, Outcome
    from tokcount.request import Message, Request, TextPart
    from tokcount.token_count import Count

    memo = AnswerMemo(max_entries=8, max_bytes=10_000_000)
    first = bytearray(b"a" * 8192)
    second = bytearray(first)
    second[2001] = ord("b")  # not in the first or last kB, and off the 4-byte sampling stride
    k1, k2 = memo.key("d", "/p", {}, bytes(first)), memo.key("d", "/p", {}, bytes(second))
    assert k1 is not None and k2 is not None and k1.lookup == k2.lookup and k1.raw != k2.raw

    def answer(n: int) -> tuple[Job, Outcome]:
        job = Job(models=["m"], request=Request(messages=[Message(role="user", parts=[TextPart("x")])]))
        return job, Outcome(model="m", count=Count(model="m", input_tokens=n, exact=True, method="t"))

    memo.put(k1, *answer(1), "none", "2025-01-01")
    assert memo.get(k2, "2025-01-01") is None
    hit = memo.get(k1, "2025-01-01")
    assert hit is not None and hit[1].count is not None and hit[1].count.input_tokens == 1
    assert hit[0].request is None and hit[0].models == ["m"]
    memo.put(k2, *answer(2), "none", "2025-01-01")  # the newer body takes the slot
    assert memo.get(k1, "2025-01-01") is None
    hit = memo.get(k2, "2025-01-01")
    assert hit is not None and hit[1].count is not None and hit[1].count.input_tokens == 2


def test_only_routes_that_declare_timed_show_the_latency() -> None:
    """The memo resends a route's bytes as they were made unless the route declares ``timed`` (its answer shows the
    request's latency: Bifrost's ``latency``, then formatted again for each hit). Every route's answer to its own
    docs example, formatted at two latencies, is the same bytes exactly when it does not declare it."""
    from tokcount import jobs
    from tokcount.dialects import dialects
    from tokcount.dialects._api import Outcome
    from tokcount.token_count import Count

    timed = []
    for dialect in dialects().values():
        for route in dialect.routes:
            params = {"model": "gemini-2.5-flash"} if route.path_params else {}
            job = route.parse(route.example, Settings(default_model="qwen3.5"), **params)
            model = job.models[0]
            count = Count(model=model, input_tokens=7, exact=True, method="test", tokens=[1, 2],
                          token_strings=["a", "b"])
            slow, quick = (Outcome(model=model, count=None if job.op == "decode" else count,
                                  text="hi" if job.op == "decode" else None, latency_ms=ms) for ms in (1.0, 900.0))
            one, two = jobs.formatted(route, job, slow), jobs.formatted(route, job, quick)
            same = json.dumps(one.body) == json.dumps(two.body) and one.headers == two.headers
            assert same != route.timed, f"{dialect.name} {route.path}: timed={route.timed}, same bytes: {same}"
            if route.timed:
                timed.append(dialect.name)
    assert timed == ["bifrost"]


def test_made_up_model_names_cannot_grow_the_server_without_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any ``gpt-4o-<anything>`` counts (a family match, labelled an estimate), so a client without a key can send
    endless distinct names; what the memo keeps per name stays bounded, and every answer is still kept."""
    from tokcount import memo as memo_module

    monkeypatch.setattr(memo_module, "CLOCK_NAMES", 8)
    with serving() as (base, service):
        answers = service.answers
        for i in range(30):
            body = {**CHAT, "model": f"gpt-4o-made-up-{i}"}
            r = send(base, "/v1/token/count", body)
            assert r.status_code == 200, r.text
            assert 0 < len(answers._clocks) <= 8
        assert send(base, "/v1/token/count", body).json() == r.json()  # kept, replayed
