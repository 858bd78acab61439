"""A dialect is one unit: the server mounts exactly the routes the dialect modules declare, the CLI offers every
dialect by name and answers as its route does (same body, same error shape), and ``/detokenize`` works for every
renderer with a public vocabulary. Over a real server on loopback."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import tokcount
from support.serverkit import running_server
from tokcount import fit_route
from tokcount.cli import build_parser, main
from tokcount.dialects import dialects
from tokcount.errors import AuthenticationError, SchemaError
from tokcount.playground import routes as playground_routes
from tokcount.settings import Settings

#: needs none of ../shared (tests/conftest.py gives it an empty asset directory and cache)
pytestmark = pytest.mark.no_shared

DEFAULT = "qwen3.5"
EXPECTED = ["anthropic", "bedrock", "bifrost", "gemini", "moonshot", "openai-chat", "openai-responses", "stepfun",
            "vertex", "vllm"]
#: the status of a missing or wrong key where the provider's own is not 401 (AWS answers 403)
AUTH_STATUS = {"bedrock": 403}
#: the tests below walk the dialects the package declares, so a new dialect module is tested with no edit here
NAMES = sorted(dialects())
#: bodies every dialect must refuse: an array where an object is expected, and fields of the wrong type
BAD_BODIES: list[Any] = [[1, 2], {"model": DEFAULT, "messages": 5, "input": 5, "contents": 5, "prompt": 5}]


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with running_server(Settings(default_model=DEFAULT)) as url:
        yield url


def _cli(dialect: str, body: Any, *, model: str | None, monkeypatch: pytest.MonkeyPatch,
         capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(body)))
    monkeypatch.setenv("TOKCOUNT_DEFAULT_MODEL", DEFAULT)
    code = main(["count", "--dialect", dialect, *(["--model", model] if model else [])])
    return code, json.loads(capsys.readouterr().out)


def _http(base: str, path: str, body: Any, params: dict[str, str]) -> httpx.Response:
    for name, value in params.items():
        path = path.replace("{" + name + "}", value)
    return httpx.post(base + path, json=body, timeout=60)


def _stable(out: Any) -> Any:
    """The answer without what depends on the moment (Bifrost's measured latency)."""
    if isinstance(out, dict) and isinstance(out.get("extra_fields"), dict):
        out = {**out, "extra_fields": {k: v for k, v in out["extra_fields"].items() if k != "latency"}}
    return out


def test_every_dialect_is_offered() -> None:
    assert NAMES == EXPECTED
    parser = build_parser()
    for name in EXPECTED:
        assert parser.parse_args(["count", "--dialect", name]).dialect == name
    with pytest.raises(SystemExit):
        parser.parse_args(["count", "--dialect", "openai-completions"])


def test_server_mounts_exactly_the_declared_routes(base: str) -> None:
    declared = {r.path for d in dialects().values() for r in d.routes if r.path is not None}
    spec = httpx.get(base + "/openapi.json").json()
    posts = {p for p, ops in spec["paths"].items() if "post" in ops}
    # the dialects' routes, and the tools' (fit, playground)
    assert posts == declared | set(fit_route.POST_PATHS) | set(playground_routes.POST_PATHS)
    for d in dialects().values():  # each route's docs example is the one its dialect declares
        for r in d.routes:
            if r.path is not None:
                body = spec["paths"][r.path]["post"]["requestBody"]["content"]["application/json"]
                assert body["example"] == r.example


@pytest.mark.parametrize("name", NAMES)
def test_cli_answers_as_the_route_does(name: str, base: str, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    dialect = dialects()[name]
    route = dialect.routes[0]
    params = dict.fromkeys(route.path_params, DEFAULT)
    code, out = _cli(name, route.example, model=params.get("model"), monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0, out
    if route.path is None:  # the library's own shape: the library's answer
        assert out == tokcount.count(DEFAULT, route.example).to_dict()
        return
    r = _http(base, route.path, route.example, params)
    assert r.status_code == 200, r.text
    assert _stable(out) == _stable(r.json())


@pytest.mark.parametrize("bad", BAD_BODIES, ids=["array", "wrong-types"])
@pytest.mark.parametrize("name", NAMES)
def test_cli_refuses_as_the_route_does(name: str, bad: Any, base: str, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    dialect = dialects()[name]
    route = dialect.routes[0]
    params = dict.fromkeys(route.path_params, DEFAULT)
    code, out = _cli(name, bad, model=params.get("model"), monkeypatch=monkeypatch, capsys=capsys)
    assert code == 1
    expected_status, _ = dialect.error(SchemaError("x", param="body"))
    if route.path is None:
        assert "error" in out and out["error"]["type"] == "invalid_request"
        return
    r = _http(base, route.path, bad, params)
    assert r.status_code == expected_status and 400 <= r.status_code < 500
    assert out == r.json()


def test_errors_are_one_tree_mapped_per_dialect() -> None:
    """The same error becomes each provider's own shape; schema errors are Anthropic's 422."""
    for name, d in dialects().items():
        status, body = d.error(AuthenticationError("Invalid API key."))
        assert status == AUTH_STATUS.get(name, 401) and "Invalid API key." in json.dumps(body), name
        status, _ = d.error(SchemaError("messages must be an array.", param="messages"))
        assert status == (422 if name == "anthropic" else 400), name


@pytest.mark.parametrize("model", ["gpt-4o", "mistral-nemo"])
def test_detokenize_closed_and_mistral_models(model: str, base: str) -> None:
    text = "Déjà vu — 你好 🙂 <|endoftext|> [INST]"
    tok = httpx.post(base + "/tokenize", json={"model": model, "prompt": text}, timeout=60)
    assert tok.status_code == 200, tok.text
    ids = tok.json()["tokens"]
    assert ids == tokcount.count_text(model, text, return_tokens=True).tokens
    r = httpx.post(base + "/detokenize", json={"model": model, "tokens": ids}, timeout=60)
    assert r.status_code == 200 and r.json() == {"prompt": text}
    r = httpx.post(base + "/detokenize", json={"model": model, "tokens": [1, 10**7]}, timeout=60)
    assert r.status_code == 400 and r.json()["error"]["param"] == "tokens" and "10000000" in r.text


def test_detokenize_of_a_mistral_chat_gives_its_prompt(base: str) -> None:
    messages = [{"role": "user", "content": "Hello world"}]
    ids = httpx.post(base + "/tokenize", json={"model": "mistral-nemo", "messages": messages},
                     timeout=60).json()["tokens"]
    r = httpx.post(base + "/detokenize", json={"model": "mistral-nemo", "tokens": ids}, timeout=60)
    assert r.json() == {"prompt": "<s>[INST]Hello world[/INST]"}


def test_detokenize_refuses_claude_clearly(base: str) -> None:
    r = httpx.post(base + "/detokenize", json={"model": "claude-sonnet-4-5", "tokens": [1, 2]}, timeout=60)
    assert r.status_code == 400 and "cannot be decoded" in r.json()["error"]["message"]


def test_default_model_in_the_gemini_path(base: str) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}
    r = httpx.post(base + "/v1beta/models/default:countTokens", json=body, timeout=60)
    assert r.status_code == 200 and r.json()["totalTokens"] == tokcount.count(DEFAULT, [
        {"role": "user", "content": [{"type": "text", "text": "Hi"}]}]).input_tokens


def test_plain_messages_parse_as_the_full_parse_does() -> None:
    """``{"role", "content": str}`` takes a short path in the OpenAI-chat parser: the same Message as the full
    parse gives (a third key, a tool role, a bad role or a non-string content all take the full parse)."""
    from tokcount.dialects.openai_chat import parse_message
    from tokcount.errors import InvalidRequest
    from tokcount.request import Message, TextPart, ToolResultPart

    for role in ("system", "developer", "user", "assistant"):
        assert parse_message({"role": role, "content": "hi"}, "m") == Message(role=role, parts=[TextPart("hi")])
        assert parse_message({"content": "hi", "role": role, "name": "n"}, "m") == \
            Message(role=role, parts=[TextPart("hi")], name="n")
    tool = parse_message({"role": "tool", "content": "42"}, "m")
    assert tool.role == "tool" and isinstance(tool.parts[0], ToolResultPart)
    assert parse_message({"role": "user", "content": [{"type": "text", "text": "hi"}]}, "m").content_is_list
    for bad in ({"role": "robot", "content": "hi"}, {"role": "user", "contnet": "hi"}):
        with pytest.raises(InvalidRequest):
            parse_message(bad, "m")
