"""``chat_template_kwargs`` (issue 21, item 6): a kwarg can no longer replace what the renderer passes (``messages``,
``tools``, ``add_generation_prompt``, ...) nor a function of the sandbox (``raise_exception``, ``namespace``, ...),
and the server bounds the kwargs' size like the messages' parts. Over a real server on loopback, for every route
that reads the field (found by walking every dialect's routes), and for the library."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import tokcount
from support.serverkit import running_server
from tokcount.dialects import dialects
from tokcount.errors import InvalidRequest
from tokcount.request import Message, Request, TextPart
from tokcount.settings import Settings
from tokcount.templates.kwargs import reserved

MODEL = "qwen3.5"
ONE = [{"role": "user", "content": "hi"}]
#: the probe of the issue: 20,000 messages, twice max_messages, hidden in the kwargs of a one-message body
MANY = ONE * 20_000
MAX_PARTS = 1_000


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with running_server(Settings(default_model=MODEL, max_parts=MAX_PARTS)) as url:
        yield url


def post(base: str, path: str, body: Any, **params: Any) -> httpx.Response:
    return httpx.post(base + path, json=body, params=params, timeout=120)


def _path(path: str) -> str:
    return path.replace("{model}", MODEL)


def test_the_reserved_names_cover_the_render_and_the_sandbox() -> None:
    names = reserved()
    assert {"messages", "tools", "documents", "add_generation_prompt", "continue_final_message",
            "chat_template", "tokenize", "conversation"} <= names
    assert {"raise_exception", "strftime_now", "namespace", "range", "dict", "lipsum", "cycler", "joiner"} <= names
    assert not {"enable_thinking", "thinking", "bos_token", "eos_token", "reasoning_effort"} & names


def test_the_probe_is_refused_and_the_routes_that_read_the_field_are_found(base: str) -> None:
    """Every dialect route gets its docs example plus 20,000 messages in ``chat_template_kwargs``: a route either
    refuses it naming the key, or answers exactly as without the field (it does not read it). Before the fix,
    vLLM's /tokenize counted the 20,000 messages (120,005 tokens)."""
    refused = set()
    for d in dialects().values():
        for route in d.routes:
            if route.path is None or "detokenize" in route.path:
                continue
            example = route.example if "prompt" not in route.example else {"model": MODEL, "messages": ONE}
            plain = post(base, _path(route.path), example)
            assert plain.status_code == 200, (route.path, plain.text)
            r = post(base, _path(route.path), {**example, "chat_template_kwargs": {"messages": MANY}})
            if r.status_code == 200:
                assert r.json() == plain.json() or "latency" in r.text, route.path  # Bifrost's own latency
                continue
            assert r.status_code == 400, (route.path, r.text)
            assert "chat_template_kwargs.messages" in r.text
            expected_status, expected = d.error(InvalidRequest("x", param="chat_template_kwargs.messages"))
            assert r.status_code == expected_status and r.json().keys() == expected.keys()  # the route's own shape
            refused.add(route.path)
    assert refused == {"/tokenize", "/v1/tokenize"}
    body = {"model": MODEL, "messages": ONE, "chat_template_kwargs": {"messages": MANY}}
    fit = post(base, "/v1/fit", body, dialect="openai-chat")  # the library's shape, and the tools' routes
    assert fit.status_code == 400 and fit.json()["error"]["param"] == "chat_template_kwargs.messages"
    play = post(base, "/v1/playground/count", {"dialect": "vllm", "models": [MODEL], "request": body})
    (result,) = play.json()["results"]
    assert result["status"] == 400 and "chat_template_kwargs.messages" in str(result)


@pytest.mark.parametrize("name", sorted(reserved()))
def test_each_reserved_name_is_a_400_naming_it(base: str, name: str) -> None:
    r = post(base, "/tokenize", {"model": MODEL, "messages": ONE, "chat_template_kwargs": {name: "x"}})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["param"] == f"chat_template_kwargs.{name}" and error["type"] == "BadRequestError"
    assert repr(name) in error["message"]


def test_kwargs_are_bounded_like_the_messages_parts(base: str) -> None:
    """Values under a free name reach the template too: at most max_parts of them (every object member and array
    item at any depth), a 413 naming the field past it, on every route that reads them."""
    fits = {"history": [{"role": "user", "content": "x"}] * (MAX_PARTS // 3)}  # 1 + 333 items + 666 members: 1,000
    over = {"history": [{"role": "user", "content": "x"}] * (MAX_PARTS // 3 + 1)}  # 1,003
    body = {"model": MODEL, "messages": ONE}
    assert post(base, "/tokenize", {**body, "chat_template_kwargs": fits}).status_code == 200
    r = post(base, "/tokenize", {**body, "chat_template_kwargs": over})
    assert r.status_code == 413 and r.json()["error"]["param"] == "chat_template_kwargs"
    assert "1003 values" in r.text and str(MAX_PARTS) in r.text
    fit = post(base, "/v1/fit", {**body, "chat_template_kwargs": over}, dialect="vllm")
    assert fit.status_code == 413 and fit.json()["error"]["param"] == "chat_template_kwargs"


def test_template_variables_that_are_not_reserved_still_reach_the_template(base: str) -> None:
    body = {"model": MODEL, "messages": ONE}
    on = post(base, "/tokenize", {**body, "chat_template_kwargs": {"enable_thinking": True}}).json()["count"]
    off = post(base, "/tokenize", {**body, "chat_template_kwargs": {"enable_thinking": False}}).json()["count"]
    assert off > on  # Qwen writes an empty think block when thinking is off
    library = tokcount.count(MODEL, {"messages": ONE, "chat_template_kwargs": {"enable_thinking": False}})
    assert off == library.input_tokens
    # a special token stays overridable (transformers: "kwargs overwrite special tokens if both are present")
    assert post(base, "/tokenize", {**body, "chat_template_kwargs": {"bos_token": "<s>"}}).status_code == 200


def test_the_library_refuses_them_too() -> None:
    with pytest.raises(InvalidRequest) as err:
        tokcount.count(MODEL, {"messages": ONE, "chat_template_kwargs": {"add_generation_prompt": False}})
    assert err.value.param == "chat_template_kwargs.add_generation_prompt"
    # a Request built by hand never went through a dialect: the renderer checks it as well
    req = Request(messages=[Message(role="user", parts=[TextPart("hi")])],
                  template_kwargs={"raise_exception": "not a function"})
    with pytest.raises(InvalidRequest) as err:
        tokcount.count(MODEL, req)
    assert err.value.param == "chat_template_kwargs.raise_exception"
