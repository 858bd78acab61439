"""Tenants stay apart (issue 21, item 10): the answer memo is keyed by a keyed hash of the caller's API key, so a
key holder can no longer tell whether another client sent a body (a hit's speed, Bifrost's ``latency``, the
``/metrics`` hit counter). Two keys over a real server on loopback."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from support.serverkit import running_server
from tokcount.memo import AnswerMemo
from tokcount.settings import Settings
from tokcount.tenancy import ANONYMOUS, Keys

A, B = "tenant-a-key-1111", "tenant-b-key-2222"
ROUTE = "/v1/count_tokens"  # Bifrost's: its answer shows the latency a memo hit has (0 ms)


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with running_server(Settings(api_keys=(A, B), default_model="qwen3.5")) as url:
        yield url


def body(text: str) -> dict[str, Any]:
    # large enough that a fresh count takes milliseconds, so a hit (0 ms) shows in Bifrost's latency
    return {"model": "qwen/qwen3.5", "input": f"{text} " + "the same long document " * 4000}


def send(base: str, key: str, payload: dict[str, Any], header: str = "authorization",
         route: str = ROUTE) -> httpx.Response:
    value = f"Bearer {key}" if header == "authorization" else key
    r = httpx.post(base + route, json=payload, headers={header: value}, timeout=60)
    assert r.status_code == 200, r.text
    return r


def hits(base: str, key: str) -> float:
    text = httpx.get(base + "/metrics", headers={"authorization": f"Bearer {key}"}, timeout=30).text
    found = re.search(r'^tokcount_memo_lookups_total\{result="hit"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def test_a_body_another_key_sent_is_never_a_hit(base: str) -> None:
    """Before: B's first request of the body A had sent was a memo hit (10 of 10 probes, ~7x faster, latency 0)."""
    secret = body("a body only tenant A sends")
    first = send(base, A, secret)
    h = hits(base, A)
    again = send(base, A, secret)  # A's own repeat: still memoized
    assert hits(base, A) == h + 1 and again.json()["extra_fields"]["latency"] == 0
    assert again.json()["input_tokens"] == first.json()["input_tokens"]
    h = hits(base, B)
    probe = send(base, B, secret)  # B probing A's body: counted afresh
    assert hits(base, B) == h
    assert probe.json()["input_tokens"] == first.json()["input_tokens"]
    assert probe.json()["extra_fields"]["latency"] > 0
    h = hits(base, B)
    send(base, B, secret)  # from now on it is B's own body as well
    assert hits(base, B) == h + 1


def test_the_tenant_is_the_key_not_the_header_it_came_in(base: str) -> None:
    route = "/v1/messages/count_tokens"  # Anthropic's route takes its x-api-key header besides Bearer
    payload = {"model": "qwen3.5", "messages": [{"role": "user", "content": "one tenant, two ways to send a key"}]}
    send(base, A, payload, route=route)
    h = hits(base, A)
    send(base, A, payload, header="x-api-key", route=route)
    assert hits(base, A) == h + 1
    send(base, B, payload, header="x-api-key", route=route)
    assert hits(base, A) == h + 1


def test_metrics_carry_aggregates_only(base: str) -> None:
    """What /metrics may reveal: server-wide counts (no label, tag or value per key)."""
    send(base, B, body("metrics"))
    text = httpx.get(base + "/metrics", headers={"authorization": f"Bearer {A}"}, timeout=30).text
    memo_lines = [line for line in text.splitlines() if line.startswith("tokcount_memo_lookups_total")]
    assert sorted(line.split(" ")[0] for line in memo_lines) == [
        'tokcount_memo_lookups_total{result="hit"}', 'tokcount_memo_lookups_total{result="miss"}']
    assert A not in text and B not in text and "tenant" not in text


def test_the_memo_holds_a_keyed_hash_never_the_key() -> None:
    keys = Keys((A, B))
    tag_a, tag_b = keys.tenant([A]), keys.tenant(["wrong", B])
    assert tag_a is not None and tag_b is not None and tag_a != tag_b and len(tag_a) == 16
    assert keys.tenant(["wrong"]) is None and keys.tenant([]) is None
    assert keys.tenant([A, B]) == tag_a  # the first presented value that is a key
    assert Keys((A,)).tenant([A]) != tag_a  # a secret per process: the tag of a key is not guessable from it
    memo = AnswerMemo()
    key_a, key_b = memo.key("bifrost", ROUTE, {}, b"{}", tag_a), memo.key("bifrost", ROUTE, {}, b"{}", tag_b)
    assert key_a is not None and key_b is not None and key_a.lookup != key_b.lookup
    assert not any(A.encode() in part for part in key_a.lookup if isinstance(part, bytes))


def test_without_auth_everyone_is_one_tenant() -> None:
    """With no key configured anyone may call: there is no one to keep apart (docs/security.md)."""
    with running_server(Settings(default_model="qwen3.5")) as url:
        payload = body("no auth")
        httpx.post(url + ROUTE, json=payload, timeout=60)
        again = httpx.post(url + ROUTE, json=payload, timeout=60)
        assert again.json()["extra_fields"]["latency"] == 0
    assert Keys(()).tenant(["x"]) is None and ANONYMOUS == b""
