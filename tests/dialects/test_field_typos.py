"""A misspelt key is named on every route (issue 26): where a route refuses a field that is absent beside a near
spelling of it, the answer names the key the client wrote and the one it meant, in the route's own error shape.
StepFun and Moonshot already did (their message keys are a closed list); Anthropic answered "messages[0].content
must be an array, got null" and Bifrost "input[0].content must be an array". No model is loaded: the parse refuses."""

from __future__ import annotations

from typing import Any

import pytest

from tokcount.dialects import dialects
from tokcount.jobs import answer
from tokcount.settings import Settings

#: needs none of ../shared (tests/conftest.py gives it an empty asset directory and cache)
pytestmark = pytest.mark.no_shared

TYPO = "messages[0] has an unknown key 'contnet'. Did you mean 'content'?"


def _ask(dialect: str, body: Any, **params: str) -> tuple[int, dict[str, Any]]:
    d = dialects()[dialect]
    out = answer(d, d.routes[0], body, Settings(), path_params=params or None)
    return out.status, out.body


def _message(body: dict[str, Any]) -> str:
    err = body["error"]
    return err["message"]


@pytest.mark.parametrize(("dialect", "body", "params", "status", "message", "param"), [
    ("anthropic", {"model": "claude-sonnet-4-5", "max_tokens": 9, "messages": [{"role": "user", "contnet": "hi"}]},
     {}, 422, TYPO, None),
    ("anthropic", {"model": "claude-sonnet-4-5", "mesages": [{"role": "user", "content": "hi"}]},
     {}, 422, "body has an unknown key 'mesages'. Did you mean 'messages'?", None),
    ("bifrost", {"model": "openai/gpt-4o", "input": [{"role": "user", "contnet": "hi"}]}, {}, 400,
     TYPO.replace("messages", "input"), "input[0].contnet"),
    ("openai-responses", {"model": "gpt-4o", "input": [{"role": "user", "contnet": "hi"}]}, {}, 400,
     TYPO.replace("messages", "input"), "input[0].contnet"),
    ("gemini", {"contnets": [{"parts": [{"text": "hi"}]}]}, {"model": "gemini-2.5-flash"}, 400,
     "body has an unknown key 'contnets'. Did you mean 'contents'?", None),
    ("stepfun", {"model": "step-3.5-flash", "messages": [{"role": "user", "contnet": "hi"}]}, {}, 400, TYPO,
     "messages[0].contnet"),
    ("moonshot", {"model": "kimi-k2.6", "messages": [{"role": "user", "contnet": "hi"}]}, {}, 400, TYPO,
     "messages[0].contnet"),
])
def test_a_misspelt_key_is_named(dialect: str, body: dict[str, Any], params: dict[str, str], status: int,
                                 message: str, param: str | None) -> None:
    got, out = _ask(dialect, body, **params)
    assert (got, _message(out)) == (status, message), out
    if param is not None:
        assert out["error"]["param"] == param


@pytest.mark.parametrize(("dialect", "body", "message"), [
    # the field is there, with a wrong value: the message about the value stays
    ("anthropic", {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": 5, "contnet": "hi"}]},
     "messages[0].content"),
    # absent, and nothing near it: the plain message stays
    ("bifrost", {"model": "openai/gpt-4o", "input": [{"role": "user", "text": "hi"}]}, "input[0].content"),
])
def test_other_refusals_keep_their_message(dialect: str, body: dict[str, Any], message: str) -> None:
    got, out = _ask(dialect, body)
    assert got in (400, 422) and _message(out).startswith(message) and "unknown key" not in _message(out), out
