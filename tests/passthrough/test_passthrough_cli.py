"""``tokcount count --upstream``, run as a real subprocess against loopback provider stand-ins: forwards only
when asked, labels the count on stderr, and falls back to the local count."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.shared import REPO
from support.standins import ANSWER, StandIn, stand_ins

BODY = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture(scope="module")
def providers() -> Iterator[dict[str, StandIn]]:
    with stand_ins() as servers:
        yield servers


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tokcount.cli", "count", *args], input=json.dumps(BODY),
                          capture_output=True, text=True, timeout=300, cwd=REPO, env={**os.environ, **env})


def test_upstream_flag_forwards_and_labels(providers: dict[str, StandIn]) -> None:
    up = providers["openai"]
    up.reset()
    env = {"TOKCOUNT_UPSTREAM_OPENAI_URL": up.url, "TOKCOUNT_UPSTREAM_OPENAI_KEY": up.key}
    out = run(["--dialect", "anthropic", "--upstream", "-"], env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"input_tokens": ANSWER}
    assert "x-tokcount-method: upstream:openai" in out.stderr and "x-tokcount-exact: true" in out.stderr
    assert up.key not in out.stderr + out.stdout
    assert len(up.requests) == 1 and not up.problems


def test_without_the_flag_nothing_is_forwarded(providers: dict[str, StandIn]) -> None:
    up = providers["openai"]
    up.reset()
    env = {"TOKCOUNT_UPSTREAM_OPENAI_URL": up.url, "TOKCOUNT_UPSTREAM_OPENAI_KEY": up.key}
    out = run(["--dialect", "anthropic", "-"], env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["input_tokens"] != ANSWER
    assert up.requests == []


def test_config_file_and_fallback(providers: dict[str, StandIn], tmp_path: Path) -> None:
    up = providers["openai"]
    up.reset(503)
    config = tmp_path / "tokcount.toml"
    config.write_text(f'[upstream.openai]\nbase_url = "{up.url}"\napi_key_env = "OP_KEY"\ntimeout = 2\n')
    out = run(["--config", str(config), "--upstream", "-"], {"OP_KEY": up.key})  # openai-chat: the library's answer
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer["method"].startswith("openai-chat-framing") and answer["input_tokens"] != ANSWER
    assert "upstream openai not used (HTTP 503 server_error); local count returned" in answer["notes"]
    assert "x-tokcount-upstream-error: openai: HTTP 503 server_error" in out.stderr


def test_upstream_flag_without_configuration_is_an_error() -> None:
    out = run(["--upstream", "-"], {k: "" for k in os.environ if k.startswith("TOKCOUNT_UPSTREAM_")})
    assert out.returncode == 1
    assert "no upstream is configured" in json.loads(out.stdout)["error"]["message"]
