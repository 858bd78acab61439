"""The Vertex AI dialect on a real server on loopback: google-genai with ``vertexai=True`` pointed at tokcount
(project/location with a token as credentials, and express mode with an API key, on v1beta1 and v1), Vertex's
counting rules (no per-Content token: the two recorded Vertex counts of ../shared/calibration/vertex.jsonl, where the
Gemini route's rules miss one), Google's error shape on Vertex's paths, fit, and no forwarding of a Vertex request
to the Gemini Developer API upstream."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from google import genai
from google.genai import errors, types
from google.oauth2.credentials import Credentials

from bench import calibrate
from support.serverkit import running_server
from support.shared import SHARED
from support.standins import stand_ins
from tokcount.dialects import dialects
from tokcount.jobs import Policy, answer
from tokcount.passthrough import Passthrough, Upstream
from tokcount.settings import Settings

KEY = "vertex-test-key"
AUTH = {"authorization": f"Bearer {KEY}"}
JOKE = "Tell me a funny joke, a one-liner."  # recorded on Vertex AI: 11 tokens for gemini-2.5-flash (vertex.jsonl)
PATH = "/v1beta1/projects/my-project/locations/us-central1/publishers/google/models/{model}:countTokens"


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with running_server(Settings(default_model="qwen3.5", api_keys=(KEY,))) as base:
        yield base


def vertex_client(url: str, version: str = "v1beta1", token: str = KEY) -> genai.Client:
    """google-genai as a Vertex AI user has it, only the base URL changed; the token is a tokcount key."""
    return genai.Client(vertexai=True, project="my-project", location="us-central1",
                        credentials=Credentials(token=token),
                        http_options=types.HttpOptions(base_url=url, api_version=version))


@pytest.mark.parametrize("version", ["v1beta1", "v1"])
def test_google_genai_vertex_counts_as_vertex_does(url: str, version: str) -> None:
    client = vertex_client(url, version)
    assert client.models.count_tokens(model="gemini-2.5-flash", contents=JOKE).total_tokens == 11  # Vertex's count
    # the system instruction is a Content too: no token of its own on Vertex ("Be brief." is 3 tokens)
    config = types.CountTokensConfig(system_instruction="Be brief.")
    assert client.models.count_tokens(model="gemini-2.5-flash", contents=JOKE, config=config).total_tokens == 14
    developer = genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=url, api_version="v1beta"))
    assert developer.models.count_tokens(model="gemini-2.5-flash", contents=JOKE).total_tokens == 12  # +1 Content


def test_google_genai_vertex_express_mode(url: str) -> None:
    """``vertexai=True`` with an API key and no project posts to ``/v1beta1/publishers/google/models/...`` with
    ``x-goog-api-key``."""
    client = genai.Client(vertexai=True, api_key=KEY, http_options=types.HttpOptions(base_url=url))
    assert client.models.count_tokens(model="gemini-2.5-flash", contents=JOKE).total_tokens == 11


def test_a_wrong_key_is_googles_401(url: str) -> None:
    client = vertex_client(url, token="not-a-key")  # kept: a collected client closes its connections
    with pytest.raises(errors.APIError) as caught:
        client.models.count_tokens(model="gemini-2.5-flash", contents=JOKE)
    assert caught.value.code == 401 and caught.value.status == "UNAUTHENTICATED"


def test_vertex_counts_are_labelled_estimates_with_their_rules(url: str) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": JOKE}]}]}
    r = httpx.post(url + PATH.format(model="gemini-2.5-flash"), json=body, headers=AUTH, timeout=60)
    assert r.status_code == 200 and r.json() == {"totalTokens": 11,
                                                 "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 11}]}
    assert r.headers["x-tokcount-exact"] == "false"
    assert r.headers["x-tokcount-method"].startswith("gemini-local+vertex+")
    # the full resource name is taken as the model too; and the Developer API's wrapped body
    wrapped = {"generateContentRequest": {"model": "models/gemini-2.5-flash", **body}}
    r2 = httpx.post(url + PATH.format(model="gemini-2.5-flash"), json=wrapped, headers=AUTH, timeout=60)
    assert r2.json()["totalTokens"] == 11


def test_the_recorded_vertex_counts_are_reproduced() -> None:
    """Both Vertex recordings of the calibration set, counted through the Vertex dialect; through the Gemini
    dialect (the Developer API's rules) gemini-2.5-flash's is 12, one too many."""
    outcomes = calibrate.run(SHARED / "calibration", ["vertex"])
    assert len(outcomes) == 2
    assert [(o.id, o.got, o.expected) for o in outcomes if not o.exact] == []
    assert not any(o.exact_label for o in outcomes)  # two recordings: labelled estimates
    case = next(c for p, c in calibrate.load_cases(SHARED / "calibration", ["vertex"]) if c["id"] == "x-vertex-0009")
    assert calibrate.run_case("gemini", {**case, "dialect": "gemini"}).got == case["expected"] + 1


@pytest.mark.parametrize("path", ["/v1beta1/projects/p/locations/l/endpoints/123:predict",
                                  "/v1/projects/p/locations/l/publishers/google/models/x:generateContent"])
def test_unknown_vertex_paths_answer_in_googles_shape(url: str, path: str) -> None:
    r = httpx.post(url + path, json={}, headers=AUTH, timeout=30)
    assert r.status_code == 404 and r.json()["error"]["status"] == "NOT_FOUND"
    get = httpx.get(url + PATH.format(model="gemini-2.5-flash"), headers=AUTH, timeout=30)
    assert get.status_code == 405 and get.json()["error"]["code"] == 405 and get.headers["allow"] == "POST"


def test_bad_bodies_are_googles_400(url: str) -> None:
    for body in ({}, {"contents": 5}, {"contents": [{"role": "robot", "parts": [{"text": "x"}]}]}, [1]):
        r = httpx.post(url + PATH.format(model="gemini-2.5-flash"), json=body, headers=AUTH, timeout=30)
        assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT", body


def test_fit_takes_vertex_bodies(url: str) -> None:
    turns = [{"role": "user" if i % 2 == 0 else "model", "parts": [{"text": f"turn {i} " + "words " * 40}]}
             for i in range(9)]
    r = httpx.post(url + "/v1/fit?dialect=vertex&model=gemini-2.5-flash&budget=150", json={"contents": turns},
                   headers=AUTH, timeout=60)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["tokens_after"] <= 150 < out["next_tokens"] and out["dropped"] == list(range(len(out["dropped"])))
    again = httpx.post(url + PATH.format(model="gemini-2.5-flash"), json=out["request"], headers=AUTH, timeout=60)
    assert again.json()["totalTokens"] == out["tokens_after"]


def test_a_vertex_request_is_not_forwarded_to_the_developer_api() -> None:
    """The Gemini upstream is the Developer API, which counts the same request differently: a request that came
    in through Vertex's route is counted locally; the Gemini route's is still forwarded."""
    with stand_ins() as servers:
        gemini = servers["gemini"]
        settings = Settings(upstreams=(Upstream("gemini", gemini.url, gemini.key, timeout=10.0),))
        body = {"contents": [{"role": "user", "parts": [{"text": JOKE}]}]}
        d = dialects()["vertex"]
        got = answer(d, d.routes[0], body, settings, path_params={"model": "gemini-2.5-flash"},
                     policy=Policy(upstream=Passthrough(settings.upstreams)))
        assert got.body["totalTokens"] == 11 and not gemini.requests
        g = dialects()["gemini"]
        forwarded = answer(g, g.routes[0], body, settings, path_params={"model": "gemini-2.5-flash"},
                           policy=Policy(upstream=Passthrough(settings.upstreams)))
        assert forwarded.headers["x-tokcount-method"] == "upstream:gemini" and len(gemini.requests) == 1
