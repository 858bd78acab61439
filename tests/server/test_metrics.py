"""Observability on a real server on loopback: ``/metrics`` (Prometheus text, what each count adds, behind auth),
request ids in and out on every answer, the JSON access log (no bodies, no secrets), and ``--workers 2`` scrapes
that add up every worker's requests."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.serverkit import free_port, running_server
from support.shared import REPO
from tokcount import metrics, observe
from tokcount.settings import Settings

KEY = "metrics-test-key"
#: long enough (>= 64 characters between special tokens) for the segment cache to keep it
LONG = "The quick brown fox jumps over the lazy dog, and then it runs far away into the deep green forest."
CHAT = {"model": "qwen3.5", "messages": [{"role": "user", "content": LONG}]}


def scrape(base: str, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, keyed by (name, sorted labels)."""
    r = httpx.get(f"{base}/metrics", headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: dict, name: str, **labels: str) -> float:
    """Sum of ``name`` over the samples whose labels include ``labels``."""
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with running_server(Settings(default_model="qwen3.5")) as url:
        httpx.post(f"{url}/v1/token/count", json=CHAT, timeout=120)  # the model loaded before the tests measure
        yield url


def test_a_count_adds_a_request_its_tokens_and_latency(base: str) -> None:
    before = scrape(base)
    r = httpx.post(f"{base}/v1/token/count", json=CHAT, timeout=30)
    assert r.status_code == 200
    tokens = r.json()["data"]["total_tokens"]
    after = scrape(base)
    route = {"route": "/v1/token/count"}
    assert value(after, "tokcount_requests_total", **route, status="200", model="qwen3.5") \
        - value(before, "tokcount_requests_total", **route, status="200", model="qwen3.5") == 1
    assert value(after, "tokcount_tokens_counted_total", **route, model="qwen3.5") \
        - value(before, "tokcount_tokens_counted_total", **route, model="qwen3.5") == tokens > 0
    assert value(after, "tokcount_request_duration_seconds_count", **route) \
        - value(before, "tokcount_request_duration_seconds_count", **route) == 1
    assert value(after, "tokcount_request_duration_seconds_bucket", **route, le="+Inf") \
        == value(after, "tokcount_request_duration_seconds_count", **route)


def test_errors_and_unknown_paths_are_counted_with_bounded_labels(base: str) -> None:
    before = scrape(base)
    assert httpx.post(f"{base}/v1/token/count", content=b"{nope", timeout=30).status_code == 400
    assert httpx.get(f"{base}/no/such/path/{time.time_ns()}", timeout=30).status_code == 404
    r = httpx.post(f"{base}/v1beta/models/not-a-model-{time.time_ns()}:countTokens",
                   json={"contents": "hi"}, timeout=30)
    assert r.status_code == 404
    after = scrape(base)
    diff = {k: v - before.get(k, 0.0) for k, v in after.items() if k[0] == "tokcount_requests_total"}
    assert diff[("tokcount_requests_total", (("model", ""), ("route", "/v1/token/count"), ("status", "400")))] == 1
    assert diff[("tokcount_requests_total", (("model", ""), ("route", "unmatched"), ("status", "404")))] == 1
    gemini = ("tokcount_requests_total", (("model", ""), ("route", "/v1beta/models/{model}:countTokens"),
                                          ("status", "404")))
    assert diff[gemini] == 1  # the route template, never the client's path or model name
    changed = [k for k, v in after.items() if v != before.get(k)]  # this test's series (the registry is per process)
    assert not any("not-a-model" in str(k) or "/no/such" in str(k) for k in changed)


def test_segment_cache_hits_and_misses(base: str) -> None:
    fresh = {"model": "qwen3.5", "messages": [{"role": "user", "content": f"{LONG} {time.time_ns()} once more."}]}
    before = scrape(base)
    # the first count misses the new segment and keeps it; the second (a longer conversation, so not an identical
    # body the answer memo would serve) hits it
    longer = {**fresh, "messages": [*fresh["messages"], {"role": "assistant", "content": "Yes."},
                                    {"role": "user", "content": "And then?"}]}
    for body in (fresh, longer):
        assert httpx.post(f"{base}/v1/token/count", json=body, timeout=30).status_code == 200
    after = scrape(base)
    assert value(after, "tokcount_segment_cache_misses_total") > value(before, "tokcount_segment_cache_misses_total")
    assert value(after, "tokcount_segment_cache_hits_total") > value(before, "tokcount_segment_cache_hits_total")


def test_memo_and_upstream_hooks_reach_the_scrape(base: str) -> None:
    """The hooks the memo (jobs/server) and the passthrough call: this process's counters are what /metrics shows."""
    before = scrape(base)
    metrics.memo(True)
    metrics.memo(True)
    metrics.memo(False)
    metrics.upstream("anthropic", "ok")
    after = scrape(base)
    assert value(after, "tokcount_memo_lookups_total", result="hit") \
        - value(before, "tokcount_memo_lookups_total", result="hit") == 2
    assert value(after, "tokcount_memo_lookups_total", result="miss") \
        - value(before, "tokcount_memo_lookups_total", result="miss") == 1
    assert value(after, "tokcount_upstream_requests_total", provider="anthropic", outcome="ok") \
        - value(before, "tokcount_upstream_requests_total", provider="anthropic", outcome="ok") == 1


def test_model_label_values_are_bounded() -> None:
    names = [f"bounded-{i}-{time.time_ns()}" for i in range(metrics.MAX_MODEL_LABELS + 5)]
    labels = [metrics.model_label(n) for n in names]
    assert labels[-1] == "other"
    assert len(set(labels) - {"other"}) <= metrics.MAX_MODEL_LABELS
    assert metrics.model_label(None) == ""


@pytest.mark.parametrize(("sent", "echoed"), [
    ("req-42.abc:7", True),
    ("0f8fad5b-d9cb-469f-a165-70867728950e", True),
    ("has space", False),
    ("x" * 129, False),
    ("new\u00e9line", False),
])
def test_request_id_in_and_out(base: str, sent: str, echoed: bool) -> None:
    r = httpx.post(f"{base}/v1/token/count", json=CHAT, headers={"x-request-id": sent.encode("utf-8")}, timeout=30)
    rid = r.headers["x-request-id"]
    if echoed:
        assert rid == sent
    else:
        assert re.fullmatch(r"[0-9a-f]{32}", rid)


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/healthz", 200), ("GET", "/nowhere", 404), ("POST", "/v1/token/count", 400),
    ("POST", "/v1/messages/count_tokens", 422), ("GET", "/metrics", 200),
])
def test_every_answer_carries_a_request_id(base: str, method: str, path: str, status: int) -> None:
    r = httpx.request(method, base + path, json={} if method == "POST" else None, timeout=30)
    assert r.status_code == status
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])


def test_metrics_behind_auth_unless_public() -> None:
    with running_server(Settings(api_keys=(KEY,))) as url:
        r = httpx.get(f"{url}/metrics", timeout=30)
        assert r.status_code == 401
        assert r.json()["error"]["type"]  # the OpenAI-style error shape, as /v1/models
        assert "x-request-id" in r.headers
        assert scrape(url, authorization=f"Bearer {KEY}")
        assert scrape(url, **{"x-api-key": KEY})
        assert httpx.get(f"{url}/metrics", headers={"authorization": "Bearer wrong"}, timeout=30).status_code == 401
    with running_server(Settings(api_keys=(KEY,), public_metrics=True)) as url:
        assert scrape(url)
        assert httpx.post(f"{url}/v1/token/count", json=CHAT, timeout=30).status_code == 401  # the rest stays shut


def test_json_access_log_has_request_id_and_no_secrets() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    observe.access_log.addHandler(handler)
    observe.access_log.setLevel(logging.INFO)
    try:
        secret_body = "secret-prompt-text-that-must-not-be-logged"
        with running_server(Settings(access_log="json", api_keys=(KEY,))) as url:
            r = httpx.post(f"{url}/v1beta/models/qwen3.5:countTokens?key={KEY}&alt=json",
                           json={"contents": secret_body}, headers={"x-request-id": "trace-1", "x-goog-api-key": KEY},
                           timeout=60)
            assert r.status_code == 200, r.text
            httpx.post(f"{url}/v1/token/count", json=CHAT, headers={"authorization": "Bearer wrong-key"}, timeout=30)
        with running_server(Settings()) as url:  # json off: nothing written
            httpx.get(f"{url}/healthz", timeout=30)
    finally:
        observe.access_log.removeHandler(handler)
    text = stream.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) == 2, text
    first, second = lines
    assert first["request_id"] == "trace-1" == r.headers["x-request-id"]
    assert first["path"] == "/v1beta/models/qwen3.5:countTokens?key=***&alt=***"
    assert (first["status"], first["method"], first["route"]) == (200, "POST", "/v1beta/models/{model}:countTokens")
    assert first["tokens"] == r.json()["totalTokens"] and first["model"] == "qwen3.5"
    assert first["duration_ms"] > 0 and first["client"] == "127.0.0.1"
    assert second["status"] == 401 and re.fullmatch(r"[0-9a-f]{32}", second["request_id"])
    for secret in (KEY, "wrong-key", secret_body, "Bearer"):
        assert secret not in text


def test_settings_read_access_log_and_public_metrics(tmp_path: Path) -> None:
    assert Settings.load(env={"TOKCOUNT_ACCESS_LOG": "json"}).access_log == "json"
    assert Settings.load(env={"TOKCOUNT_ACCESS_LOG": "1"}).access_log == "plain"
    assert Settings.load(env={"TOKCOUNT_PUBLIC_METRICS": "true"}).public_metrics is True
    config = tmp_path / "c.toml"
    config.write_text('public_metrics = true\naccess_log = "json"\n')
    s = Settings.load(config, env={})
    assert (s.public_metrics, s.access_log) == (True, "json")
    with pytest.raises(ValueError, match="TOKCOUNT_ACCESS_LOG must be json"):
        Settings.load(env={"TOKCOUNT_ACCESS_LOG": "xml"})
    config.write_text('public_metrics = "perhaps"\n')
    with pytest.raises(ValueError, match="public_metrics must be true or false"):  # like every TOML bool
        Settings.load(config, env={})


def test_two_workers_scrape_adds_up_every_worker(tmp_path: Path) -> None:
    """``serve --workers 2``: each worker writes its own metric files, and any worker's /metrics sums them all
    (stale files from an earlier run in the operator's directory are removed first)."""
    mpdir = tmp_path / "prom"
    mpdir.mkdir()
    (mpdir / "counter_99999.db").write_bytes(b"stale values of a previous run")
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PROMETHEUS_MULTIPROC_DIR": str(mpdir),
           "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "tokcount.cli", "serve", "--port", str(port), "--workers", "2"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        assert not (mpdir / "counter_99999.db").exists()
        n = 12
        for _ in range(n):  # a new connection each time: the kernel spreads them over the workers
            with httpx.Client() as client:
                r = client.post(f"{base}/v1/tokenize", json={"model": "qwen3.5", "prompt": LONG}, timeout=120)
                assert r.status_code == 200, r.text
        for _ in range(4):
            samples = scrape(base)
            assert value(samples, "tokcount_requests_total", route="/v1/tokenize", status="200", model="qwen3.5") == n
            assert total(samples, "tokcount_model_loads_total", model="qwen3.5", outcome="ok") in (1, 2)
        pids = {p.name.split("_")[-1] for p in mpdir.glob("*.db")}
        assert pids  # the workers' files are in the operator's directory
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_multiprocess_dir_of_our_own_is_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with metrics.multiprocess_dir() as path:
        assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == path
        (Path(path) / "counter_1.db").write_bytes(b"x")
    assert not Path(path).exists()
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
