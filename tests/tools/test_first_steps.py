"""Issue 26, what a new user trips over: the README's CLI example from a clone, ``tokcount models``, and the 404 of
a model whose files are not here (what it says was looked at, and how to get the files)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx

from support.hub_server import HubServer
from support.serverkit import running_server
from support.shared import ASSETS, REPO
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


# ------------------------------------------------------------------------------------------ the 404 of a model
def _missing_message(url: str, model: str) -> str:
    r = httpx.post(f"{url}/v1/token/count", json={**CHAT, "model": model}, timeout=60)
    assert r.status_code == 404, r.text
    return r.json()["error"]["message"]


def test_a_missing_models_404_names_each_file_once_says_what_was_asked_and_how_to_get_it() -> None:
    """../shared holds a copy of stepfun-ai/Step-3.7-Flash without its tokenizer: the 404 named the file three
    times, said the Hub was "known not to have the file" (it was never asked) and not how to get it."""
    with running_server(Settings.load()) as url:
        message = _missing_message(url, "stepfun/step-3.7-flash")
    assert message.count("stepfun-ai/Step-3.7-Flash/tokenizer.json") == 1, message
    assert "known not to have" not in message
    assert "Hugging Face Hub (not asked: the copy of the repo in TOKCOUNT_ASSET_DIRS has no such file" in message
    for how in ("`tokcount pull step-3.7-flash`", "asset dir (TOKCOUNT_ASSET_DIRS) as hub/stepfun-ai/Step-3.7-Flash/",
                "configure the StepFun passthrough ([upstream.stepfun]", "TOKCOUNT_UPSTREAM_STEPFUN_KEY"):
        assert how in message, (how, message)



def test_a_config_without_the_template_is_reported_with_every_candidate(tmp_path: Path) -> None:
    """No asset dir, an empty Hugging Face cache, offline: MiniMax-M2.5's tokenizer_config.json comes from an
    installed package without a template. The 404 said only "Looked in: .../tokenizer_config.json"; it names the
    chat_template.jinja it also looked for, and where."""
    env = {**_clone_env(), "TOKCOUNT_ASSET_DIRS": "", "HF_HUB_CACHE": str(tmp_path / "hf-cache"),
           "HF_HOME": str(tmp_path / "hf-home"), "TOKCOUNT_CACHE_DIR": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, "-m", "tokcount.cli", "count", "--model", "minimax-m2.5"],
                         input=json.dumps(CHAT), capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
    message = json.loads(out.stdout)["error"]["message"]
    assert ("Looked for MiniMaxAI/MiniMax-M2.5/chat_template.jinja: Hugging Face cache, Hugging Face Hub (skipped: "
            "HF_HUB_OFFLINE); for MiniMaxAI/MiniMax-M2.5/tokenizer_config.json: found, without a 'chat_template' "
            "key.") in message, message
    assert "`tokcount pull minimax-m2.5`" in message

def test_the_passthrough_is_not_advised_where_it_is_configured() -> None:
    """With the StepFun passthrough on (here a provider that refuses connections, so the local count is tried and
    misses), the 404 does not tell the operator to configure what is configured."""
    settings = Settings.load(env={**os.environ, "TOKCOUNT_UPSTREAM_STEPFUN_URL": "http://127.0.0.1:9",
                                  "TOKCOUNT_UPSTREAM_STEPFUN_KEY": "sk-test"})
    with running_server(settings) as url:
        message = _missing_message(url, "step-3.7-flash")
    assert "`tokcount pull step-3.7-flash`" in message and "configure the StepFun passthrough" not in message


def test_an_unknown_name_is_pointed_only_at_models_counted_here() -> None:
    """moonshot-v1-8k: "Did you mean" lists catalog ids that count here (kimi-k2.6, offline), never a repo id, and
    names the close ones without files apart (kimi-k2.5: no template here)."""
    with running_server(Settings.load()) as url:
        r = httpx.post(f"{url}/v1/tokenizers/estimate-token-count", json={**CHAT, "model": "moonshot-v1-8k"},
                       timeout=60)
        assert r.status_code == 404
        message = r.json()["error"]["message"]
        offered = message.split("Did you mean: ", 1)[1].split("?", 1)[0].split(", ")
        assert offered == ["kimi-k2.6"], message
        assert "kimi-k2.5 is close too, but without files here" in message
        listed = {m["id"]: m["available"] for m in httpx.get(f"{url}/v1/models", timeout=60).json()["data"]}
    assert listed["kimi-k2.6"] is True and listed["kimi-k2.5"] is False


def test_pull_asks_the_hub_for_a_file_an_asset_dirs_partial_copy_lacks(tmp_path: Path) -> None:
    """The 404 advises `tokcount pull`; with a partial copy of the repo in an asset dir (as ../shared has for
    StepFun) pull did not ask the Hub at all. Here a stand-in Hub serves the whole repo."""
    repo = "meta-llama/Llama-3.1-8B-Instruct"
    served = tmp_path / "served" / repo
    shutil.copytree(ASSETS / "hub" / repo, served)
    partial = tmp_path / "assets" / "hub" / repo
    partial.mkdir(parents=True)
    shutil.copy(served / "tokenizer_config.json", partial / "tokenizer_config.json")
    with HubServer(tmp_path / "served") as hub:
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0",
               "TOKCOUNT_ASSET_DIRS": str(tmp_path / "assets"),
               "HF_HUB_CACHE": str(tmp_path / "hf-cache"), "HF_HOME": str(tmp_path / "hf-home"),
               "TOKCOUNT_CACHE_DIR": str(tmp_path / "cache")}
        out = subprocess.run([sys.executable, "-m", "tokcount.cli", "pull", "llama-3.1"], env=env,
                             capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "llama-3.1-8b-instruct: tokenizer" in out.stdout and "hf-cache" in out.stdout
    assert any("tokenizer.json" in line for line in hub.log)


# ------------------------------------------------------------------------------------------------- README
def test_the_readmes_install_lines_install_from_the_clone() -> None:
    """tokcount is not on PyPI: ``pip install 'tokcount[batch]'`` failed for a new user. Every line that installs
    tokcount installs the clone (``-e '.[extra]'``), with extras pyproject.toml has; the whole suite's cost and the
    extras two of its tests need are said next to the test command."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    extras = set(tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
                 ["optional-dependencies"])
    ours = [m for m in re.findall(r"pip install ([^`\n#]+)", readme) if "tokcount" in m or "'." in m or " ." in m]
    assert ours, "the README shows how to install the batch extra"
    for line in ours:
        target = line.split()[-1].strip("'\"")
        assert target.startswith("."), line
        named = re.findall(r"\[([^\]]+)\]", target)
        assert all(e in extras for group in named for e in group.split(",")), line
    setup = readme[readme.index("./scripts/test"):readme.index("## What it does")]
    for words in ("20 minutes", "chromium-driver", "litellm[proxy]"):
        assert words in setup, words
