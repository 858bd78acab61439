"""Asset resolution: the order of places, the Hub download path (against a local server serving Hub file URLs),
``tokcount pull``, and missing files reported with every place looked."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys

import pytest

import tokcount
from support.hub_server import HubServer
from support.shared import ASSETS, HUB, REPO
from tokcount import MissingAssets, assets, loader

CHAT = {"messages": [{"role": "user", "content": "Hello, world!"}]}


@pytest.fixture
def isolated_env(tmp_path, monkeypatch, use_settings):
    """No local asset dirs, an empty HF cache, nothing loaded (HF_* are huggingface_hub's own settings)."""
    use_settings(asset_dirs=(), cache_dir=str(tmp_path / "tokcount-cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    _reload_hub_constants()
    loader.clear()
    yield tmp_path
    loader.clear()
    monkeypatch.undo()
    _reload_hub_constants()


def _reload_hub_constants() -> None:
    """huggingface_hub reads HF_ENDPOINT / HF_HUB_OFFLINE / cache paths at import time."""
    import huggingface_hub.constants

    importlib.reload(huggingface_hub.constants)
    import huggingface_hub.file_download

    importlib.reload(huggingface_hub.file_download)
    import huggingface_hub

    importlib.reload(huggingface_hub)


def test_download_from_hub_endpoint_then_cache(isolated_env, monkeypatch, use_settings) -> None:
    served = isolated_env / "served"
    repo = "meta-llama/Llama-3.1-8B-Instruct"  # not in any installed package: only the Hub has it
    shutil.copytree(HUB / repo, served / repo)
    expected = None
    with HubServer(served) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_HUB_OFFLINE", "0")
        use_settings(hub_offline=False)
        _reload_hub_constants()
        got = tokcount.count(repo, CHAT)
        assert any("tokenizer.json" in line for line in hub.log)
        expected = got.input_tokens
    # the Hub is gone now: the same count must come from the download cache, offline
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    use_settings(hub_offline=True)
    _reload_hub_constants()
    loader.clear()
    again = tokcount.count(repo, CHAT)
    assert again.input_tokens == expected
    assert "hf-cache" in str(loader.load(tokcount.count.__globals__["resolve"](repo)).tokenizer_path)
    # and equal to the count from the shared assets
    use_settings(asset_dirs=(str(ASSETS),))
    loader.clear()
    assert tokcount.count(repo, CHAT).input_tokens == expected


def test_pull_command_downloads_ahead(isolated_env, monkeypatch) -> None:
    served = isolated_env / "served"
    shutil.copytree(HUB / "meta-llama" / "Llama-3.1-8B-Instruct", served / "meta-llama" / "Llama-3.1-8B-Instruct")
    with HubServer(served) as hub:
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "TOKCOUNT_ASSET_DIRS": "",
               "HF_HUB_CACHE": str(isolated_env / "hf-cache"), "HF_HOME": str(isolated_env / "hf-home")}
        out = subprocess.run([sys.executable, "-m", "tokcount.cli", "pull", "llama-3.1"], env=env,
                             capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "llama-3.1-8b-instruct: tokenizer" in out.stdout and "hf-cache" in out.stdout


def test_missing_assets_names_files_and_places(isolated_env) -> None:
    with pytest.raises(MissingAssets) as err:
        tokcount.count("gemma-3", CHAT)
    msg = err.value.message
    assert "gemma-3-1b-it" in msg and "tokenizer.json" in msg
    assert "Hugging Face cache" in msg and "HF_HUB_OFFLINE" in msg
    assert err.value.status == 404


def test_hub_repo_missing_on_hub_is_reported(isolated_env, monkeypatch, use_settings) -> None:
    with HubServer(isolated_env / "empty") as hub:
        (isolated_env / "empty").mkdir()
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_HUB_OFFLINE", "0")
        use_settings(hub_offline=False)
        _reload_hub_constants()
        with pytest.raises(MissingAssets) as err:
            tokcount.count("some-org/not-a-model", CHAT)
    assert "some-org/not-a-model/tokenizer.json" in err.value.message
    assert "RepositoryNotFound" in err.value.message


def test_asset_dirs_come_before_cache(tmp_path, use_settings) -> None:
    first = tmp_path / "first" / "hub" / "Qwen" / "Qwen3-8B"
    first.mkdir(parents=True)
    (first / "tokenizer_config.json").write_text("{}")
    use_settings(asset_dirs=(str(tmp_path / "first"), str(ASSETS)))
    look = assets.find(assets.RepoFiles("Qwen/Qwen3-8B"), "tokenizer_config.json", download=False)
    assert look.path == first / "tokenizer_config.json"
    look = assets.find(assets.RepoFiles("Qwen/Qwen3-8B"), "tokenizer.json", download=False)
    assert look.path == HUB / "Qwen" / "Qwen3-8B" / "tokenizer.json"


def test_packaged_zip_is_extracted_once(tmp_path, monkeypatch, use_settings) -> None:
    import zipfile

    pkg = tmp_path / "pkgs" / "fake_vocab_pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    with zipfile.ZipFile(pkg / "tokenizer.json.zip", "w") as zf:
        zf.write(HUB / "Qwen" / "Qwen3-8B" / "tokenizer.json", "tokenizer.json")
    monkeypatch.syspath_prepend(str(tmp_path / "pkgs"))
    use_settings(asset_dirs=(), cache_dir=str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    files = assets.RepoFiles("Qwen/Qwen3-8B", packaged=(("tokenizer.json", "fake_vocab_pkg:tokenizer.json.zip"),))
    look = assets.find(files, "tokenizer.json", download=False)
    assert look.path is not None and look.path.read_bytes() == (HUB / "Qwen/Qwen3-8B/tokenizer.json").read_bytes()
    assert str(tmp_path / "cache") in str(look.path)
