"""Issue 26, what a new user trips over: the README's CLI example from a clone, ``tokcount models``, and the 404 of
a model whose files are not here (what it says was looked at, and how to get the files)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from conftest import ASSETS, REPO
from serverkit import running_server
from tokcount.settings import Settings, checkout_assets

CHAT = {"messages": [{"role": "system", "content": "You are a helpful assistant."},
                     {"role": "user", "content": "Hello, world!"}]}


def _clone_env() -> dict[str, str]:
    """The environment of a new user in a fresh clone: no TOKCOUNT_ASSET_DIRS (conftest sets it for the suite)."""
    env = {k: v for k, v in os.environ.items() if k != "TOKCOUNT_ASSET_DIRS"}
    env["HF_HUB_OFFLINE"] = "1"  # no 2.5 s probe of a Hub this machine cannot reach
    return env


def _cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tokcount.cli", *args], input=stdin, capture_output=True,
                          text=True, timeout=300, cwd=REPO, env=_clone_env())


def test_the_readme_cli_example_counts_what_the_server_counts(tmp_path: Path) -> None:
    """``tokcount count --model minimax/minimax-m2.5 request.json`` from the clone, TOKCOUNT_ASSET_DIRS unset: the
    files ``./scripts/serve`` serves (../shared/assets) are found by the CLI too."""
    request = tmp_path / "request.json"
    request.write_text(json.dumps(CHAT))
    out = _cli("count", "--model", "minimax/minimax-m2.5", str(request))
    assert out.returncode == 0, out.stdout + out.stderr
    answer = json.loads(out.stdout)
    with running_server(Settings.load(env=_clone_env())) as url:
        served = httpx.post(f"{url}/v1/token/count", json={**CHAT, "model": "minimax/minimax-m2.5"}, timeout=60)
    assert served.status_code == 200, served.text
    assert answer["input_tokens"] == served.json()["data"]["total_tokens"] == 26


def test_settings_default_to_the_checkouts_shared_assets(tmp_path: Path) -> None:
    assert Settings.load(env=_clone_env()).asset_dirs == (str(ASSETS.resolve()),)
    assert Settings.load(env={**_clone_env(), "TOKCOUNT_ASSET_DIRS": ""}).asset_dirs == ()  # turned off
    assert Settings.load(env={**_clone_env(), "TOKCOUNT_ASSET_DIRS": "/elsewhere"}).asset_dirs == ("/elsewhere",)
    # an installed package (no pyproject.toml above src/) has no such default, nor a clone without ../shared
    module = tmp_path / "clone" / "src" / "tokcount" / "settings.py"
    module.parent.mkdir(parents=True)
    (tmp_path / "shared" / "assets" / "hub").mkdir(parents=True)
    assert checkout_assets(module) is None
    (tmp_path / "clone" / "pyproject.toml").write_text("[project]\nname = 'tokcount'\n")
    assert checkout_assets(module) == str(tmp_path / "shared" / "assets")
    (tmp_path / "shared" / "assets" / "hub").rmdir()
    assert checkout_assets(module) is None


def test_models_has_a_header_and_finds_the_clones_files() -> None:
    out = _cli("models")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["model", "family", "available", "repo"]
    rows = {line.split()[0]: line.split() for line in lines[1:] if line.strip() and not line.startswith("'no'")}
    assert rows["minimax-m2.5"][2] == "yes" and rows["step-3.7-flash"][2] == "no"
    starts = {line.index(rows[m][3]) for m in ("minimax-m2.5", "gemini-2.5-flash-preview-09-2025") for line in lines
              if line.startswith(m + " ")}
    assert len(starts) == 1  # one repo column, however long an id is
