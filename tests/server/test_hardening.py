"""The HTTP layer's small hardening items, each on a real server on loopback: a preload that fails for any reason
leaves /readyz at a clear 503 naming it; clients never see server paths or resolved addresses; the documentation
routes are behind auth when auth is on (unless ``public_docs``); no API key or ``?key=`` lands in a log."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.serverkit import running_server
from support.shared import HUB
from tokcount import settings_in_force
from tokcount.errors import MissingAssets
from tokcount.httpguard import DOC_PATHS, redact_query
from tokcount.settings import Settings

KEY = "sk-canary-7d41c0ffee"
CHAT = {"model": "qwen3.5", "messages": [{"role": "user", "content": "Hello"}]}


def _wait_ready(url: str) -> httpx.Response:
    deadline = time.monotonic() + 60
    while True:
        r = httpx.get(url + "/readyz", timeout=10)
        if r.json()["status"] != "loading" or time.monotonic() > deadline:
            return r
        time.sleep(0.05)


# ------------------------------------------------------------------------------------------- preload
@pytest.fixture
def corrupt_repo(tmp_path: Path, use_settings) -> str:
    """A Hub-layout asset dir holding ``tokcount-test/corrupt`` with a cut-short tokenizer.json (a real file's
    first 4 KiB), found through TOKCOUNT_ASSET_DIRS like any operator-provided model."""
    repo = tmp_path / "hub" / "tokcount-test" / "corrupt"
    repo.mkdir(parents=True)
    source = HUB / "Qwen" / "Qwen3-8B"
    (repo / "tokenizer.json").write_bytes((source / "tokenizer.json").read_bytes()[:4096])
    shutil.copy(source / "tokenizer_config.json", repo / "tokenizer_config.json")
    use_settings(asset_dirs=(str(tmp_path), *settings_in_force.current().asset_dirs))
    return "tokcount-test/corrupt"


def test_a_corrupt_preload_is_a_clear_503(corrupt_repo: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="tokcount.server"), \
            running_server(Settings(default_model="qwen3.5", preload=(corrupt_repo, "qwen3.5"))) as url:
        r = _wait_ready(url)
        assert r.status_code == 503, r.text
        body = r.json()
        assert body["status"] == "failed"
        assert list(body["preload_errors"]) == [corrupt_repo]  # the good one loaded; the bad one is named
        assert body["preload_errors"][corrupt_repo], body
        assert "/tmp" not in r.text and str(HUB) not in r.text
        assert httpx.post(url + "/v1/token/count", json=CHAT, timeout=60).status_code == 200  # still serves
    assert any(corrupt_repo in rec.getMessage() for rec in caplog.records)  # and the log has the full story


def test_a_missing_preload_is_a_clear_503() -> None:
    with running_server(Settings(default_model="qwen3.5", preload=("step-3.7-flash",))) as url:
        r = _wait_ready(url)
        assert r.status_code == 503 and r.json()["status"] == "failed"
        assert "step-3.7-flash" in r.json()["preload_errors"]["step-3.7-flash"]


# ------------------------------------------------------------------------------------------- no paths, no IPs
def test_missing_assets_tells_clients_kinds_of_places_not_paths(tmp_path: Path) -> None:
    err = MissingAssets("m", ["org/m/tokenizer.json", str(tmp_path / "tok.model")],
                        [f"org/m/tokenizer.json: TOKCOUNT_ASSET_DIRS {tmp_path}/hub/org/m",
                         "org/m/tokenizer.json: Hugging Face cache",
                         "org/m/tokenizer.json: Hugging Face Hub https://hub.internal:8443/org/m@main (failed: "
                         "ConnectError: connecting to 10.20.30.40:8443 failed)",
                         "org/m/tokenizer.json: Hugging Face Hub (skipped: HF_HUB_OFFLINE)"],
                        reason=f"no chat_template in {tmp_path}/x/tokenizer_config.json")
    for secret in (str(tmp_path), "hub.internal", "10.20.30.40"):
        assert secret not in err.message and secret in err.detail
    for kind in ("TOKCOUNT_ASSET_DIRS", "Hugging Face cache", "Hugging Face Hub (skipped: HF_HUB_OFFLINE)",
                 "ConnectError", "tok.model", "tokenizer_config.json"):
        assert kind in err.message, err.message
    assert str(tmp_path) in str(err)  # tracebacks and logs keep the detail


def test_server_404s_name_no_server_path() -> None:
    with running_server(Settings(default_model="qwen3.5")) as url:
        r = httpx.post(url + "/v1/token/count", json={**CHAT, "model": "stepfun/step-3.7-flash"}, timeout=60)
    assert r.status_code == 404
    message = r.json()["error"]["message"]
    assert "step-3.7-flash" in message and "Looked in" in message
    assert str(HUB) not in message and "/work/" not in message and "/tmp/" not in message, message


# ------------------------------------------------------------------------------------------- docs behind auth
@pytest.fixture(scope="module")
def auth_url() -> Iterator[str]:
    with running_server(Settings(default_model="qwen3.5", api_keys=(KEY,))) as url:
        yield url


@pytest.mark.parametrize("path", sorted(DOC_PATHS))
def test_docs_are_behind_auth(auth_url: str, path: str) -> None:
    r = httpx.get(auth_url + path, timeout=10)
    assert r.status_code == 401, (path, r.text)
    assert "paths" not in r.text and "swagger" not in r.text.lower()
    assert httpx.get(auth_url + path, headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 401
    ok = httpx.get(auth_url + path, headers={"Authorization": f"Bearer {KEY}"}, timeout=10)
    assert ok.status_code == 200, (path, ok.text)
    assert httpx.get(auth_url + path, headers={"x-api-key": KEY}, timeout=10).status_code == 200


def test_docs_can_stay_public_and_are_open_without_auth() -> None:
    with running_server(Settings(default_model="qwen3.5", api_keys=(KEY,), public_docs=True)) as url:
        assert all(httpx.get(url + p, timeout=10).status_code == 200 for p in DOC_PATHS)
        assert httpx.post(url + "/v1/token/count", json=CHAT, timeout=60).status_code == 401  # routes still guarded
    with running_server(Settings(default_model="qwen3.5")) as url:
        assert all(httpx.get(url + p, timeout=10).status_code == 200 for p in DOC_PATHS)


def test_public_docs_setting_from_toml_and_env(tmp_path: Path) -> None:
    config = tmp_path / "tokcount.toml"
    config.write_text("public_docs = true\nheader_timeout = 2.5\nbody_timeout = 30\n", encoding="utf-8")
    s = Settings.load(config, env={})
    assert (s.public_docs, s.header_timeout, s.body_timeout) == (True, 2.5, 30.0)
    s = Settings.load(None, env={"TOKCOUNT_PUBLIC_DOCS": "1", "TOKCOUNT_BODY_TIMEOUT": "7"})
    assert s.public_docs is True and s.body_timeout == 7.0
    with pytest.raises(ValueError, match="TOKCOUNT_HEADER_TIMEOUT"):
        Settings.load(None, env={"TOKCOUNT_HEADER_TIMEOUT": "-1"})


# ------------------------------------------------------------------------------------------- no secrets in logs
class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_no_key_in_any_log(auth_url: str) -> None:
    assert redact_query("/v1beta/models/m:countTokens?key=abc&alt=json") == \
        "/v1beta/models/m:countTokens?key=***&alt=***"
    records = _Records()
    loggers = [logging.getLogger(n) for n in ("uvicorn", "uvicorn.access", "uvicorn.error", "tokcount")]  # server side
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(records)
        lg.setLevel(logging.DEBUG)
    try:
        gem = {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}
        httpx.post(f"{auth_url}/v1beta/models/gemini-2.5-flash:countTokens?key={KEY}", json=gem, timeout=60)
        httpx.post(f"{auth_url}/v1beta/models/gemini-2.5-flash:countTokens?alt=json&key={KEY}x",
                   headers={"x-goog-api-key": KEY}, json=gem, timeout=60)
        httpx.post(auth_url + "/v1/token/count", json=CHAT, headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
        httpx.post(auth_url + "/v1/token/count", json=CHAT, headers={"Authorization": f"Bearer {KEY}-wrong"},
                   timeout=60)
        httpx.get(auth_url + "/docs?token=" + KEY, timeout=10)
        time.sleep(0.2)
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(records)
            lg.setLevel(level)
    access = [line for line in records.lines if "countTokens" in line]
    assert len(access) >= 2, records.lines  # the access log did write the requests ...
    assert any("key=***" in line for line in access)
    assert not [line for line in records.lines if KEY in line], records.lines  # ... and never the key
