"""Every route, every way a request can be wrong: the right status, the route's own error shape, the field named.
No input may produce a 500 or hang, and a bad request never disturbs a good one."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from support.mutations import RICH, mutations
from support.serverkit import running_server
from tokcount.settings import Settings

SMALL_LIMIT = 64 * 1024
KEYS = ("key-one-0123456789", "key-two-abcdefghij")

CHAT = {"model": "qwen3.5", "messages": [{"role": "user", "content": "Hello"}]}
ANTHROPIC = {"model": "qwen3.5", "messages": [{"role": "user", "content": "Hello"}]}
RESPONSES = {"model": "qwen3.5", "input": [{"role": "user", "content": "Hello"}]}
BIFROST = {"model": "qwen/qwen3.5", "input": [{"role": "user", "content": "Hello"}]}
TOKENIZE = {"model": "qwen3.5", "prompt": "Hello"}
DETOKENIZE = {"model": "qwen3.5", "tokens": [9419]}


def openai_shape(body: dict) -> str:
    assert set(body) == {"error"}, body
    err = body["error"]
    assert isinstance(err["message"], str) and err["message"]
    assert isinstance(err["type"], str) and "code" in err
    return err["message"]


def anthropic_shape(body: dict) -> str:
    assert body["type"] == "error" and set(body) == {"type", "error"}, body
    assert body["error"]["type"] in {"invalid_request_error", "authentication_error", "not_found_error",
                                     "request_too_large", "api_error"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]["message"]


def bifrost_shape(body: dict) -> str:
    assert body["is_bifrost_error"] is True and isinstance(body["status_code"], int), body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]["message"]


Shape = Callable[[dict], str]

#: path, error shape, a valid body, a body with a wrong type (and the field the message must name), an empty one
ROUTES: list[tuple[str, Shape, dict, tuple[dict, str], dict | None]] = [
    ("/v1/token/count", openai_shape, CHAT, ({**CHAT, "messages": "Hello"}, "messages"), {**CHAT, "messages": []}),
    ("/v1/tokenizers/estimate-token-count", openai_shape, CHAT,
     ({**CHAT, "messages": [{"role": "user", "content": 5}]}, "messages[0].content"), {**CHAT, "messages": []}),
    ("/v1/messages/count_tokens", anthropic_shape, ANTHROPIC,
     ({**ANTHROPIC, "messages": [{"role": "user", "content": [{"type": "text", "text": 7}]}]},
      "messages[0].content[0].text"), {**ANTHROPIC, "messages": []}),
    ("/v1/count_tokens", bifrost_shape, BIFROST, ({**BIFROST, "input": 5}, "input"), {**BIFROST, "input": []}),
    ("/v1/responses/input_tokens", openai_shape, RESPONSES,
     ({**RESPONSES, "input": [{"role": "user", "content": {"x": 1}}]}, "input[0].content"),
     {**RESPONSES, "input": []}),
    ("/tokenize", openai_shape, TOKENIZE, ({**TOKENIZE, "prompt": ["a"]}, "prompt"),
     {"model": "qwen3.5", "messages": []}),
    ("/detokenize", openai_shape, DETOKENIZE, ({**DETOKENIZE, "tokens": ["a"]}, "tokens[0]"), None),
]
IDS = [r[0] for r in ROUTES]


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with running_server(Settings(default_model="qwen3.5", max_body_bytes=SMALL_LIMIT, max_messages=50,
                                 max_json_depth=32)) as url:
        yield url


@pytest.fixture(scope="module")
def auth_base() -> Iterator[str]:
    with running_server(Settings(default_model="qwen3.5", api_keys=KEYS)) as url:
        yield url


def post(url: str, body: object, **kw: object) -> httpx.Response:
    return httpx.post(url, json=body, timeout=60, **kw)  # type: ignore[arg-type]


def expected_schema_status(path: str) -> int:
    return 422 if path == "/v1/messages/count_tokens" else 400


@pytest.mark.parametrize(("path", "shape", "good", "wrong", "empty"), ROUTES, ids=IDS)
def test_valid_body_counts(base: str, path: str, shape: Shape, good: dict, wrong: tuple, empty: dict | None) -> None:
    r = post(base + path, good)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(("path", "shape", "good", "wrong", "empty"), ROUTES, ids=IDS)
def test_malformed_json(base: str, path: str, shape: Shape, good: dict, wrong: tuple, empty: dict | None) -> None:
    for raw in (b'{"model": ', b"", b"\xff\xfe not utf-8", b"{'single': 'quotes'}", b"[1, 2"):
        r = httpx.post(base + path, content=raw, headers={"content-type": "application/json"}, timeout=60)
        assert r.status_code == 400, (raw, r.text)
        assert "JSON" in shape(r.json())


@pytest.mark.parametrize(("path", "shape", "good", "wrong", "empty"), ROUTES, ids=IDS)
def test_wrong_types_name_the_field(base: str, path: str, shape: Shape, good: dict, wrong: tuple,
                                    empty: dict | None) -> None:
    body, field = wrong
    r = post(base + path, body)
    assert r.status_code == expected_schema_status(path), r.text
    assert field in shape(r.json())
    for not_an_object in ([good], "text", 5, None):
        r = httpx.post(base + path, content=json.dumps(not_an_object), timeout=60)
        assert r.status_code == expected_schema_status(path), r.text
        assert "body" in shape(r.json())


@pytest.mark.parametrize(("path", "shape", "good", "wrong", "empty"), ROUTES, ids=IDS)
def test_empty_messages(base: str, path: str, shape: Shape, good: dict, wrong: tuple, empty: dict | None) -> None:
    if empty is None:  # /detokenize: an empty id list is a valid (empty) text
        r = post(base + path, {**good, "tokens": []})
        assert r.status_code == 200 and r.json() == {"prompt": ""}
        return
    r = post(base + path, empty)
    assert r.status_code == expected_schema_status(path), r.text
    assert "empty" in shape(r.json())


@pytest.mark.parametrize(("path", "shape", "good", "wrong", "empty"), ROUTES, ids=IDS)
def test_unknown_model(base: str, path: str, shape: Shape, good: dict, wrong: tuple, empty: dict | None) -> None:
    r = post(base + path, {**good, "model": "qwen3.55"})
    assert r.status_code == 404, r.text
    message = shape(r.json())
    assert "qwen3.55" in message and "qwen3.5" in message  # names the model and suggests a close one
    r = post(base + path, {**good, "model": "stepfun/step-3.7-flash"})  # known, but no vocabulary here
    assert r.status_code == 404, r.text
    assert "step-3.7-flash" in shape(r.json())


@pytest.mark.parametrize(("path", "shape", "good", "wrong", "empty"), ROUTES, ids=IDS)
def test_oversized_body(base: str, path: str, shape: Shape, good: dict, wrong: tuple, empty: dict | None) -> None:
    big = json.dumps({**good, "padding": "x" * (SMALL_LIMIT + 10)}).encode()
    r = httpx.post(base + path, content=big, headers={"content-type": "application/json"}, timeout=60)
    assert r.status_code == 413, r.text
    assert str(SMALL_LIMIT) in shape(r.json())

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must hold for chunked bodies too
        for i in range(0, len(big), 8192):
            yield big[i:i + 8192]

    r = httpx.post(base + path, content=chunks(), headers={"content-type": "application/json"}, timeout=60)
    assert r.status_code == 413, r.text
    shape(r.json())
    assert post(base + path, good).status_code == 200  # the server is fine afterwards


def test_default_limit_is_32_mib() -> None:
    with running_server(Settings(default_model="qwen3.5")) as url:
        body = b'{"model": "qwen3.5", "messages": [], "pad": "' + b"x" * (32 * 1024 * 1024) + b'"}'
        r = httpx.post(url + "/v1/messages/count_tokens", content=body, headers={"content-type": "application/json"},
                       timeout=120)
        assert r.status_code == 413
        assert r.json()["error"]["type"] == "request_too_large"


@pytest.mark.parametrize(("path", "shape", "good", "wrong", "empty"), ROUTES, ids=IDS)
def test_auth(auth_base: str, path: str, shape: Shape, good: dict, wrong: tuple, empty: dict | None) -> None:
    url = auth_base + path
    r = post(url, good)
    assert r.status_code == 401, r.text
    assert "Missing" in shape(r.json())
    r = post(url, good, headers={"Authorization": "Bearer wrong-key"})
    assert r.status_code == 401
    message = shape(r.json())
    assert "wrong-key" not in message and KEYS[0] not in message
    assert post(url, good, headers={"Authorization": "Basic " + KEYS[0]}).status_code == 401
    for key in KEYS:
        assert post(url, good, headers={"Authorization": f"Bearer {key}"}).status_code == 200
    via_x_api_key = post(url, good, headers={"x-api-key": KEYS[1]}).status_code
    assert via_x_api_key == (200 if path == "/v1/messages/count_tokens" else 401)
    if path == "/v1/messages/count_tokens":
        assert post(url, good, headers={"x-api-key": "nope"}).status_code == 401


def test_auth_leaves_health_open_and_guards_models(auth_base: str) -> None:
    assert httpx.get(auth_base + "/healthz").status_code == 200
    assert httpx.get(auth_base + "/readyz").status_code == 200
    assert httpx.get(auth_base + "/v1/models").status_code == 401
    r = httpx.get(auth_base + "/v1/models", headers={"Authorization": f"Bearer {KEYS[0]}"})
    assert r.status_code == 200 and r.json()["object"] == "list"


def test_limits_on_messages_and_depth(base: str) -> None:
    many = {"model": "qwen3.5", "messages": [{"role": "user", "content": "x"}] * 51}
    r = post(base + "/v1/token/count", many)
    assert r.status_code == 413 and "messages" in openai_shape(r.json())
    deep: dict = {"type": "object"}
    for _ in range(40):
        deep = {"type": "object", "properties": {"a": deep}}
    body = {**ANTHROPIC, "tools": [{"name": "t", "input_schema": deep}]}
    r = post(base + "/v1/messages/count_tokens", body)
    assert r.status_code == 422 and "nested" in anthropic_shape(r.json())
    r = httpx.post(base + "/v1/token/count", content=b"[" * 5000 + b"]" * 5000, timeout=60)
    assert r.status_code == 400


def test_template_refusal_is_a_400(base: str) -> None:
    # gemma-3's template refuses tool messages; the refusal is the caller's problem, not a server error
    body = {"model": "gemma-3-1b-it", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "1", "content": "ok"}]}
    r = post(base + "/v1/token/count", body)
    assert r.status_code == 400, r.text
    assert openai_shape(r.json())




@pytest.mark.parametrize("path", list(RICH))
def test_no_input_produces_a_500(base: str, path: str) -> None:
    """Hundreds of type-swapped and key-deleted variants of a rich body: every answer is a 200 or a 4xx."""
    rng = random.Random(1234)
    bodies = list(mutations(copy.deepcopy(RICH[path]), rng))
    assert len(bodies) > 40

    def send(body: object) -> tuple[object, int, str]:
        with httpx.Client(timeout=60) as client:
            r = client.post(base + path, content=json.dumps(body), headers={"content-type": "application/json"})
            return body, r.status_code, r.text

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(send, bodies))
    bad = [(b, s, t) for b, s, t in results if s >= 500 or (s != 200 and "error" not in json.loads(t))]
    assert not bad, bad[:3]
    assert {s for _, s, _ in results} - {200, 400, 404, 413, 422} == set()


def test_bad_requests_do_not_disturb_good_ones(base: str) -> None:
    good = {"model": "qwen3.5", "messages": [{"role": "user", "content": "Hello there"}]}
    expected = post(base + "/v1/token/count", good).json()
    jobs = [("good", good), ("bad", {"model": "qwen3.5", "messages": "x"}), ("bad", b"{"),
            ("bad", {"model": "nope-nope", "messages": good["messages"]})] * 10

    def send(job: tuple[str, object]) -> tuple[str, int, dict]:
        kind, body = job
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        r = httpx.post(base + "/v1/token/count", content=content, timeout=60)
        return kind, r.status_code, r.json()

    with ThreadPoolExecutor(8) as pool:
        for kind, status, body in pool.map(send, jobs):
            if kind == "good":
                assert status == 200 and body == expected
            else:
                assert 400 <= status < 500


def _hostile_images() -> list[bytes]:
    """A header over Pillow's bomb limit, a huge size in a 60-byte header, a cut-short PNG, garbage."""
    import io

    from PIL import Image

    from support.images import declared_png

    bomb = io.BytesIO()
    Image.new("1", (13400, 13400)).save(bomb, format="PNG")
    small = io.BytesIO()
    Image.new("RGB", (8, 8)).save(small, format="PNG")
    return [bomb.getvalue(), declared_png(2**31 - 1, 1), small.getvalue()[:20], b"\x89PNG\r\n\x1a\n" + b"\xff" * 40]


@pytest.mark.parametrize("path", ["/v1/messages/count_tokens", "/v1/token/count"])
def test_hostile_images_in_rich_bodies_are_4xx(base: str, path: str) -> None:
    """Every image slot of a rich body holding each hostile image (and a data URL that is not base64): a 4xx in
    the route's shape, never a 500; the request's other parts do not change that."""
    import base64

    shape = anthropic_shape if path == "/v1/messages/count_tokens" else openai_shape
    hostile = [base64.b64encode(data).decode() for data in _hostile_images()] + ["@@not base64@@"]
    for b64 in hostile:
        body = copy.deepcopy(RICH[path])
        for msg in body["messages"]:
            for part in msg["content"] if isinstance(msg["content"], list) else []:
                if part.get("type") == "image":
                    part["source"]["data"] = b64
                elif part.get("type") == "image_url":
                    part["image_url"]["url"] = "data:image/png;base64," + b64
        r = post(base + path, body)
        assert 400 <= r.status_code < 500, (b64[:40], r.text)
        assert "messages[1].content[1]" in shape(r.json()) or "data" in shape(r.json()), r.text
