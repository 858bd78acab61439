"""Corrupt or unreadable model files (issue 10, item 4): a clear 404 naming the model and the file, in the route's
own shape, with no server path in it (the path is logged), remembered for the miss TTL instead of re-parsed on
every request; and the same error, as :class:`CorruptAssets`, from the library."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

import tokcount
from support.serverkit import running_server
from support.shared import ASSETS, HUB
from tokcount import MissingAssets, assets, loader
from tokcount.errors import CorruptAssets
from tokcount.settings import Settings

LLAMA = HUB / "meta-llama" / "Llama-3.1-8B-Instruct"
CHAT = {"messages": [{"role": "user", "content": "Hello, world!"}]}


def _truncated(d: Path) -> None:
    (d / "tokenizer.json").write_bytes((LLAMA / "tokenizer.json").read_bytes()[:5000])
    shutil.copyfile(LLAMA / "tokenizer_config.json", d / "tokenizer_config.json")


def _bad_config(d: Path) -> None:
    (d / "tokenizer.json").symlink_to(LLAMA / "tokenizer.json")
    (d / "tokenizer_config.json").write_text('{"bos_token": "<|begin_of_text|>", "chat_template": "{{ x }')


def _list_config(d: Path) -> None:
    (d / "tokenizer.json").symlink_to(LLAMA / "tokenizer.json")
    (d / "tokenizer_config.json").write_text("[1, 2, 3]")


def _refused(d: Path) -> None:  # valid JSON that the tokenizers library does not accept
    (d / "tokenizer.json").write_text(json.dumps({"version": "1.0", "model": {"type": "NoSuchModel"}}))
    shutil.copyfile(LLAMA / "tokenizer_config.json", d / "tokenizer_config.json")


def _unreadable(d: Path) -> None:  # a regular file whose read fails (EIO), even for root
    (d / "tokenizer.json").symlink_to("/proc/self/mem")
    shutil.copyfile(LLAMA / "tokenizer_config.json", d / "tokenizer_config.json")


def _binary_template(d: Path) -> None:
    (d / "tokenizer.json").symlink_to(LLAMA / "tokenizer.json")
    (d / "tokenizer_config.json").write_text('{"bos_token": "<|begin_of_text|>"}')
    (d / "chat_template.jinja").write_bytes(b"\xff\xfe{{ messages }}\x80")


#: repo -> (how it is broken, the file the error must name)
BROKEN: dict[str, tuple[Callable[[Path], None], str]] = {
    "broken/truncated": (_truncated, "tokenizer.json"),
    "broken/bad-config": (_bad_config, "tokenizer_config.json"),
    "broken/list-config": (_list_config, "tokenizer_config.json"),
    "broken/refused": (_refused, "tokenizer.json"),
    "broken/unreadable": (_unreadable, "tokenizer.json"),
    "broken/binary-template": (_binary_template, "chat_template.jinja"),
}


@pytest.fixture
def broken_dir(tmp_path: Path, use_settings) -> Iterator[Path]:
    """An operator asset dir holding each broken repo, before the shared assets."""
    root = tmp_path / "assets"
    for repo, (make, _) in BROKEN.items():
        d = root / "hub" / repo
        d.mkdir(parents=True)
        make(d)
    use_settings(asset_dirs=(str(root), str(ASSETS)))
    loader.clear()
    yield root
    loader.clear()
    loader.configure(miss_ttl=assets.MISS_TTL_S)
    assets.configure(miss_ttl=assets.MISS_TTL_S)


@pytest.mark.parametrize("repo", list(BROKEN))
def test_library_raises_corrupt_assets_naming_model_and_file(broken_dir: Path, repo: str) -> None:
    with pytest.raises(CorruptAssets) as info:
        tokcount.count(repo, CHAT)
    exc = info.value
    assert isinstance(exc, MissingAssets) and exc.status == 404  # not usable here: Bifrost falls back past it
    assert exc.model == repo and exc.file == f"{repo}/{BROKEN[repo][1]}"
    assert f"{repo}/{BROKEN[repo][1]}" in exc.message and repr(repo) in exc.message
    assert str(broken_dir) not in exc.message and str(broken_dir) in exc.path


def test_raw_text_needs_no_template(broken_dir: Path) -> None:
    """A broken template only breaks what uses it: /tokenize of a raw prompt still counts."""
    assert tokcount.count_text("broken/binary-template", "Hello").input_tokens > 0
    with pytest.raises(CorruptAssets):
        tokcount.count("broken/binary-template", CHAT)


SHAPES: list[tuple[str, Callable[[str], dict], Callable[[dict], str]]] = [
    ("/v1/token/count", lambda m: {"model": m, **CHAT}, lambda b: b["error"]["message"]),
    ("/v1/messages/count_tokens", lambda m: {"model": m, **CHAT},
     lambda b: b["error"]["message"] if b["error"]["type"] == "not_found_error" else ""),
    ("/v1/count_tokens", lambda m: {"model": m, "input": "Hello"}, lambda b: b["error"]["message"]),
    ("/v1/responses/input_tokens", lambda m: {"model": m, "input": "Hello"},
     lambda b: b["error"]["message"] if b["error"]["code"] == "model_not_found" else ""),
]


def test_server_answers_404_naming_model_and_file(broken_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING", logger="tokcount.loader")
    with running_server(Settings()) as base:  # repos in TOKCOUNT_ASSET_DIRS need no allow-list
        for repo, (_, file) in BROKEN.items():
            for path, body, message in SHAPES:
                r = httpx.post(base + path, json=body(repo), timeout=60)
                assert r.status_code == 404, (repo, path, r.text)
                text = message(r.json())
                assert repo in text and f"{repo}/{file}" in text, (repo, path, text)
                assert str(broken_dir) not in r.text
        r = httpx.post(base + "/tokenize", json={"model": "broken/refused", "prompt": "Hi"}, timeout=60)
        assert r.status_code == 404 and r.json()["error"]["type"] == "NotFoundError"
        r = httpx.post(base + "/detokenize", json={"model": "broken/truncated", "tokens": [1]}, timeout=60)
        assert r.status_code == 404 and "broken/truncated/tokenizer.json" in r.text
        # a fallback past the broken model counts
        r = httpx.post(base + "/v1/count_tokens", json={"model": "broken/truncated", "fallbacks": ["qwen3.5"],
                                                        "input": "Hello"}, timeout=60)
        assert r.status_code == 200, r.text
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert str(broken_dir) in logged  # the operator sees where the bad file is


def test_corrupt_file_is_remembered_for_the_ttl(broken_dir: Path) -> None:
    d = broken_dir / "hub" / "broken" / "truncated"
    with running_server(Settings(miss_ttl_s=1.5)) as base:
        def ask() -> httpx.Response:
            return httpx.post(base + "/v1/token/count", json={"model": "broken/truncated", **CHAT}, timeout=60)

        first = ask()
        assert first.status_code == 404
        # repaired on disk: within the TTL the remembered error is answered, without reading the file again
        (d / "tokenizer.json").unlink()
        (d / "tokenizer.json").symlink_to(LLAMA / "tokenizer.json")
        t0 = time.monotonic()
        again = ask()
        assert again.status_code == 404 and again.json() == first.json()
        assert time.monotonic() - t0 < 0.5
        assert loader.loads["broken/truncated"] == 0
        time.sleep(1.6)
        fixed = ask()
        assert fixed.status_code == 200, fixed.text
        assert fixed.json()["data"]["total_tokens"] == tokcount.count("llama-3.1-8b-instruct", CHAT).input_tokens


def test_corrupt_template_is_remembered_and_retried(broken_dir: Path) -> None:
    loader.configure(miss_ttl=1.0)
    spec = tokcount.count.__globals__["resolve"]("broken/binary-template")
    with pytest.raises(CorruptAssets):
        tokcount.count(spec, CHAT)
    (broken_dir / "hub" / "broken" / "binary-template" / "chat_template.jinja").write_text(
        (LLAMA / "chat_template.llama-3.2.jinja").read_text(encoding="utf-8"))
    with pytest.raises(CorruptAssets):  # remembered: the fixed file is not read yet
        tokcount.count(spec, CHAT)
    time.sleep(1.1)
    assert tokcount.count(spec, CHAT).input_tokens > 0


def test_preload_of_a_corrupt_model_reports_it(broken_dir: Path) -> None:
    with running_server(Settings(preload=("broken/truncated",))) as base:
        deadline = time.monotonic() + 30
        while True:
            body = httpx.get(base + "/readyz", timeout=5).json()
            if body["preload_errors"] or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert "broken/truncated/tokenizer.json" in body["preload_errors"]["broken/truncated"]
        assert str(broken_dir) not in json.dumps(body)
        assert httpx.get(base + "/readyz", timeout=5).status_code == 503


def test_corrupt_tekken_is_named_and_remembered(tmp_path: Path, use_settings) -> None:
    import importlib.resources

    d = tmp_path / "hub" / "mistralai" / "Mistral-Nemo-Instruct-2407"
    d.mkdir(parents=True)
    (d / "tekken.json").write_text('{"config": {"pattern": ')
    use_settings(asset_dirs=(str(tmp_path),))
    loader.clear()
    loader.configure(miss_ttl=1.0)
    try:
        with pytest.raises(CorruptAssets) as info:
            tokcount.count("mistral-nemo", CHAT)
        assert info.value.file == "mistralai/Mistral-Nemo-Instruct-2407/tekken.json"
        assert str(tmp_path) not in info.value.message
        real = importlib.resources.files("mistral_common") / "data" / "tekken_240718.json"
        (d / "tekken.json").unlink()
        (d / "tekken.json").symlink_to(str(real))
        with pytest.raises(CorruptAssets):  # remembered within the TTL
            tokcount.count("mistral-nemo", CHAT)
        time.sleep(1.1)
        assert tokcount.count("mistral-nemo", CHAT).input_tokens > 0
    finally:
        loader.clear()
        loader.configure(miss_ttl=assets.MISS_TTL_S)
