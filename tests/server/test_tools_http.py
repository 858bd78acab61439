"""``POST /v1/fit`` and ``POST /v1/playground/count`` over a real server on loopback, auth on."""

from __future__ import annotations

import httpx
import pytest

from support.serverkit import running_server
from tokcount.fit import fit_answer
from tokcount.settings import Settings

KEY = "test-key-tools"
AUTH = {"Authorization": f"Bearer {KEY}"}
HTTP = httpx.Client(timeout=60)  # the first count loads the model's files on a loaded 2-core machine
post, get = HTTP.post, HTTP.get


@pytest.fixture(scope="module")
def base() -> str:
    with running_server(Settings(api_keys=(KEY,))) as url:
        yield url


def _chat(turns: int = 6) -> dict:
    msgs: list[dict] = [{"role": "system", "content": "Be brief."}]
    for i in range(turns):
        msgs.append({"role": "user", "content": f"Question {i}: " + "tokens " * 30})
        msgs.append({"role": "assistant", "content": "Answer " * 20})
    return {"model": "qwen3.5", "messages": msgs}


def test_fit_route_equals_library_and_refits_to_itself(base: str) -> None:
    body = _chat()
    r = post(f"{base}/v1/fit", params={"dialect": "stepfun", "budget": 300}, json=body, headers=AUTH)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["tokens_after"] <= 300 < out["tokens_before"] and out["dropped"][0] == 1
    assert out == fit_answer("stepfun", body, Settings(), budget=300).body
    count = post(f"{base}/v1/token/count", json=out["request"], headers=AUTH).json()
    assert count["data"]["total_tokens"] == out["tokens_after"]
    again = post(f"{base}/v1/fit", params={"dialect": "stepfun", "budget": 300}, json=out["request"],
                       headers=AUTH).json()
    assert again["dropped"] == [] and again["request"] == out["request"]


def test_fit_route_anthropic_key_header_and_shapes(base: str) -> None:
    body = {**_chat(), "model": "claude-sonnet-4-5"}
    system = body["messages"].pop(0)["content"]
    body["system"] = system
    r = post(f"{base}/v1/fit", params={"dialect": "anthropic", "reserve": 199_000}, json=body,
                   headers={"x-api-key": KEY})
    assert r.status_code == 200, r.text
    assert r.json()["budget"] == 200_000 - 199_000 and r.json()["request"]["system"] == system
    small = post(f"{base}/v1/fit", params={"dialect": "anthropic", "budget": 3}, json=body,
                       headers={"x-api-key": KEY})
    assert small.status_code == 400 and small.json()["type"] == "error"
    assert str(small.json()["minimum_tokens"]) in small.json()["error"]["message"]
    denied = post(f"{base}/v1/fit", params={"dialect": "anthropic"}, json=body)
    assert denied.status_code == 401 and denied.json()["error"]["type"] == "authentication_error"


@pytest.mark.parametrize(("params", "param"), [({"budget": "lots"}, "budget"), ({"truncate": "maybe"}, "truncate"),
                                               ({"dialect": "nope"}, "dialect"), ({"budget": "-5"}, "budget")])
def test_fit_route_bad_query_is_400_naming_it(base: str, params: dict, param: str) -> None:
    r = post(f"{base}/v1/fit", params={"dialect": "stepfun", **params}, json=_chat(), headers=AUTH)
    assert r.status_code == 400, r.text
    assert param in r.text


def test_fit_route_bad_bodies_are_4xx(base: str) -> None:
    for raw in (b"", b"{", b"[1, 2]", b'{"messages": 3}', b'{"model": "qwen3.5", "messages": [{"role": "x"}]}'):
        r = post(f"{base}/v1/fit", params={"dialect": "stepfun", "budget": 10}, content=raw, headers=AUTH)
        assert 400 <= r.status_code < 500, (raw, r.status_code, r.text)
        assert "error" in r.json()


def test_playground_count_equals_each_route(base: str) -> None:
    body = _chat(2)
    r = post(f"{base}/v1/playground/count", headers=AUTH,
                   json={"dialect": "stepfun", "models": ["qwen3.5", "gpt-4o", "no-such-model"], "request": body})
    assert r.status_code == 200, r.text
    by = {x["model"]: x for x in r.json()["results"]}
    for model in ("qwen3.5", "gpt-4o"):
        direct = post(f"{base}/v1/token/count", json={**body, "model": model}, headers=AUTH).json()
        assert by[model]["count"]["input_tokens"] == direct["data"]["total_tokens"] == \
            by[model]["answer"]["data"]["total_tokens"]
        assert by[model]["count"]["exact"] is True and by[model]["count"]["breakdown"]["messages"]
        assert len(by[model]["count"]["token_strings"]) == len(by[model]["count"]["tokens"])
    assert by["no-such-model"]["status"] == 404
    text = post(f"{base}/v1/playground/count", headers=AUTH,
                      json={"dialect": "text", "models": ["qwen3.5"], "request": "Hello world"}).json()
    tok = post(f"{base}/tokenize", json={"model": "qwen3.5", "prompt": "Hello world"}, headers=AUTH).json()
    assert text["results"][0]["count"]["input_tokens"] == tok["count"]
    for bad in ({"models": []}, {"models": ["qwen3.5"], "dialect": "x"}, {"models": ["a"] * 9},
                {"dialect": "text", "models": ["qwen3.5"], "request": {}},
                {"dialect": {}, "models": ["qwen3.5"], "request": None}):  # found by schemathesis: was a 500
        assert post(f"{base}/v1/playground/count", json=bad, headers=AUTH).status_code == 400
    assert post(f"{base}/v1/playground/count", json={"models": ["qwen3.5"]}).status_code == 401


def test_playground_static_files(base: str) -> None:
    page = get(f"{base}/playground")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "http" not in page.text.replace("http-equiv", "")  # no external host: every file is served here
    js = get(f"{base}/playground/app.js")
    assert js.status_code == 200 and "/v1/playground/count" in js.text and "https://" not in js.text
    assert get(f"{base}/playground/../server.py").status_code == 404
    assert get(f"{base}/playground/secret.py").status_code == 404


FUZZ_DIALECTS = {"/v1/messages/count_tokens": "anthropic", "/v1/count_tokens": "bifrost",
                 "/v1/token/count": "stepfun", "/tokenize": "vllm"}


@pytest.mark.parametrize("path", list(FUZZ_DIALECTS))
def test_no_mutated_body_produces_a_500(base: str, path: str) -> None:
    """Type-swapped and key-deleted variants of each dialect's rich body (the server-error suite's), through
    ``/v1/fit`` with a budget that forces trimming and through the playground: a 200 or a 4xx with an error."""
    import copy
    import json
    import random

    from support.mutations import RICH, mutations

    rng = random.Random(99)
    bodies = list(mutations(copy.deepcopy(RICH[path]), rng))
    bodies = rng.sample(bodies, min(len(bodies), 60))
    name = FUZZ_DIALECTS[path]
    bad = []
    for body in bodies:
        for budget in (25, 10**6):
            r = post(f"{base}/v1/fit", params={"dialect": name, "budget": budget, "truncate": "true"},
                     content=json.dumps(body), headers={**AUTH, "content-type": "application/json"})
            if r.status_code >= 500 or (r.status_code != 200 and "error" not in r.json()):
                bad.append((body, r.status_code, r.text))
        r = post(f"{base}/v1/playground/count", json={"dialect": name, "models": ["qwen3.5"], "request": body},
                 headers=AUTH)
        if r.status_code >= 500:
            bad.append((body, r.status_code, r.text))
    assert not bad, bad[:3]


def test_fit_and_playground_run_under_the_render_limits(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A hostile template through /v1/fit and the playground answers as on the count routes: an endless loop is
    cut at the server's render timeout (503, the load-dependent condition), a huge output is a 4xx; the server
    still answers afterwards."""
    from support.hostile_models import installed, write_models
    from support.hostile_templates import HOSTILE

    env = write_models(tmp_path_factory.mktemp("fit-hostile"),
                       {"runaway": HOSTILE["runaway"], "repeat": HOSTILE["repeat"]})
    with installed(env), running_server(Settings(render_timeout_s=0.5)) as url:
        for model, ok in (("runaway", lambda s: s == 503), ("repeat", lambda s: 400 <= s < 500)):
            body = {"model": model, "messages": [{"role": "user", "content": "Hello world"}] * 3}
            r = post(f"{url}/v1/fit", params={"dialect": "stepfun", "budget": 5}, json=body)
            assert ok(r.status_code) and r.json()["error"]["message"], r.text
            if model == "runaway":  # the server's own setting, not the process default
                assert "0.5 s" in r.json()["error"]["message"]
            p = post(f"{url}/v1/playground/count", json={"dialect": "stepfun", "models": [model], "request": body})
            assert p.status_code == 200 and ok(p.json()["results"][0]["status"]), p.text
        ok = post(f"{url}/v1/fit", params={"dialect": "stepfun"}, json=_chat(2))
        assert ok.status_code == 200 and ok.json()["dropped"] == []
