"""Who may choose code, and what a server does with the Hub (issue 10, items 3 and 7).

Against a loopback stand-in Hub (``hub_server.py``, the real ``huggingface_hub`` download path) and a real server:
client-named repos are refused unless allowed (and the Hub never hears of them), misses are remembered for a TTL,
an unreachable Hub is detected once and not waited on again, loaded models live in a bounded LRU, and a model that
many requests want at once is loaded once, off the event loop.
"""

from __future__ import annotations

import importlib
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

import tokcount
from support.hub_server import HubServer, make_handler
from support.serverkit import free_port, running_server
from support.shared import ASSETS, HUB, REPO
from tokcount import assets, loader
from tokcount.dialects import gemini
from tokcount.errors import ModelNotAllowed
from tokcount.models.catalog import OPEN, RepoPolicy, default_catalog
from tokcount.settings import Settings

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
CHAT = {"messages": [{"role": "user", "content": "Hello, world!"}]}


def _reload_hub_constants() -> None:
    """huggingface_hub reads HF_ENDPOINT / HF_HUB_OFFLINE / cache paths at import time."""
    import huggingface_hub.constants

    importlib.reload(huggingface_hub.constants)
    import huggingface_hub.file_download

    importlib.reload(huggingface_hub.file_download)


def _serve_copy(served: Path, repo: str, source: str = LLAMA) -> None:
    """``repo`` on the stand-in Hub, holding a real model's tokenizer and template files."""
    target = served / repo
    target.mkdir(parents=True)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(HUB / source / name, target / name)


@pytest.fixture
def hub_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, use_settings) -> Iterator[Path]:
    """The shared assets as the operator's asset dir, an empty HF cache, the Hub online (to be pointed at a
    stand-in), nothing loaded; process-wide loader/Hub settings restored afterwards."""
    use_settings(asset_dirs=(str(ASSETS),), hub_offline=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    loader.clear()
    yield tmp_path
    loader.clear()
    loader.configure(max_models=loader.MAX_MODELS, memory_mb=loader.MEMORY_MB, miss_ttl=assets.MISS_TTL_S)
    assets.configure(miss_ttl=assets.MISS_TTL_S, hub_timeout=assets.HUB_TIMEOUT_S)
    monkeypatch.undo()
    _reload_hub_constants()


@pytest.fixture
def fresh_loader() -> Iterator[None]:
    """Nothing loaded (the shared assets, offline, as conftest sets them); the LRU's bounds restored afterwards."""
    loader.clear()
    yield
    loader.clear()
    loader.configure(max_models=loader.MAX_MODELS, memory_mb=loader.MEMORY_MB, miss_ttl=assets.MISS_TTL_S)


def _point_at(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("HF_ENDPOINT", url)
    _reload_hub_constants()


def _asked(hub: HubServer, repo: str) -> list[str]:
    return [line for line in hub.log if f"/{repo}/" in line]


def _chat(model: str) -> dict:
    return {"model": model, **CHAT}


# ------------------------------------------------------------------ the policy itself
def test_policy_patterns_and_local_repos(tmp_path: Path, use_settings) -> None:
    catalog = default_catalog()
    closed = RepoPolicy(())
    assert catalog.resolve("someorg/some-model").id == "someorg/some-model"  # library and CLI: any repo
    with pytest.raises(ModelNotAllowed) as info:
        catalog.resolve("someorg/some-model", allow=closed)
    assert info.value.status == 403 and "someorg/some-model" in info.value.message
    assert catalog.resolve("someorg/some-model", allow=RepoPolicy(("SomeOrg/*",))).repo == "someorg/some-model"
    assert catalog.resolve("a/b", allow=RepoPolicy(("a/b",))).id == "a/b"
    with pytest.raises(ModelNotAllowed):
        catalog.resolve("a/bc", allow=RepoPolicy(("a/b",)))
    assert catalog.resolve("x/y", allow=RepoPolicy(("*",))).id == "x/y"
    # catalog models, by any of their names, never need the allow-list
    assert catalog.resolve(LLAMA, allow=closed).id == "llama-3.1-8b-instruct"
    assert catalog.resolve("qwen3.5", allow=closed).id == "qwen3.5"
    # a repo the operator put in TOKCOUNT_ASSET_DIRS is served as is
    (tmp_path / "hub" / "local-org" / "own-model").mkdir(parents=True)
    use_settings(asset_dirs=(str(tmp_path),))
    assert catalog.resolve("local-org/own-model", allow=closed).id == "local-org/own-model"
    # what the operator preloads, it allows
    from tokcount.server import Service

    assert Service(Settings(preload=("pre/loaded",))).policy.repos.allows("pre/loaded")
    assert not Service(Settings()).policy.repos.allows("pre/loaded")
    # "org/.." would name the asset dir itself: not a repo id for anyone
    with pytest.raises(tokcount.UnknownModel):
        catalog.resolve("local-org/..", allow=OPEN)


def test_settings_allow_list_from_toml_and_env(tmp_path: Path) -> None:
    config = tmp_path / "tokcount.toml"
    config.write_text('allow_hub_repos = "*"\nmiss_ttl_s = 5\nmax_loaded_models = 3\nmodel_memory_mb = 512\n'
                      'hub_timeout_s = 1.5\n')
    s = Settings.load(config, env={})
    assert (s.allow_hub_repos, s.miss_ttl_s, s.max_loaded_models, s.model_memory_mb, s.hub_timeout_s) == (
        ("*",), 5.0, 3, 512, 1.5)
    config.write_text('[server]\nallow_hub_repos = ["org/*", "exact/repo"]\n')
    assert Settings.load(config, env={}).allow_hub_repos == ("org/*", "exact/repo")
    env = {"TOKCOUNT_ALLOW_HUB_REPOS": "org/*, exact/repo", "TOKCOUNT_MISS_TTL_S": "0.5"}
    s = Settings.load(env=env)
    assert s.allow_hub_repos == ("org/*", "exact/repo") and s.miss_ttl_s == 0.5
    assert Settings.load(env={}).allow_hub_repos == ()
    for bad in ('allow_hub_repos = 3', 'miss_ttl_s = -1', 'max_loaded_models = 0'):
        config.write_text(bad + "\n")
        with pytest.raises(ValueError):
            Settings.load(config, env={})


# ------------------------------------------------------------------ through the server, against a stand-in Hub
ROUTES = [
    ("/v1/token/count", lambda m: _chat(m), lambda b: b["error"]["code"] == "model_not_allowed"),
    ("/v1/tokenizers/estimate-token-count", lambda m: _chat(m),
     lambda b: b["error"]["type"] == "permission_denied_error"),
    ("/v1/messages/count_tokens", lambda m: _chat(m), lambda b: b["error"]["type"] == "permission_error"),
    ("/v1/count_tokens", lambda m: {"model": m, "input": "Hello"},
     lambda b: b["is_bifrost_error"] and b["status_code"] == 403 and b["error"]["code"] == "model_not_allowed"),
    ("/v1/responses/input_tokens", lambda m: {"model": m, "input": "Hello"},
     lambda b: b["error"]["code"] == "model_not_allowed"),
    ("/tokenize", lambda m: {"model": m, "prompt": "Hello"},
     lambda b: b["error"]["type"] == "PermissionDeniedError"),
    ("/detokenize", lambda m: {"model": m, "tokens": [1]}, lambda b: b["error"]["type"] == "PermissionDeniedError"),
]


def test_client_named_repo_refused_by_default_and_hub_never_asked(hub_env: Path, monkeypatch) -> None:
    _serve_copy(hub_env / "served", "attacker/anything")
    with HubServer(hub_env / "served") as hub, running_server(Settings()) as base:
        _point_at(monkeypatch, hub.url)
        for path, body, shape in ROUTES:
            r = httpx.post(base + path, json=body("attacker/anything"), timeout=30)
            assert r.status_code == 403, (path, r.text)
            assert shape(r.json()), (path, r.json())
            assert "attacker/anything" in r.text and "allow_hub_repos" in r.text
        # Gemini's model is one path segment, so it cannot name an org/repo; its shape still maps the kind
        status, body = gemini.error(ModelNotAllowed("attacker/anything"))
        assert status == 403 and body["error"]["status"] == "PERMISSION_DENIED"
        # a Bifrost fallback past a refused repo still counts
        r = httpx.post(base + "/v1/count_tokens", json={"model": "attacker/anything", "fallbacks": ["qwen3.5"],
                                                        "input": "Hello"}, timeout=30)
        assert r.status_code == 200 and r.json()["input_tokens"] > 0, r.text
        # catalog models keep working
        assert httpx.post(base + "/v1/token/count", json=_chat("qwen3.5"), timeout=30).status_code == 200
        assert hub.log == []  # not one request reached the Hub: no probe, no HEAD, no download


def test_allow_list_opens_the_repo(hub_env: Path, monkeypatch) -> None:
    _serve_copy(hub_env / "served", "attacker/anything")
    _serve_copy(hub_env / "served", "other/model")
    settings = Settings(allow_hub_repos=("attacker/*",))
    with HubServer(hub_env / "served") as hub, running_server(settings) as base:
        _point_at(monkeypatch, hub.url)
        r = httpx.post(base + "/v1/token/count", json=_chat("attacker/anything"), timeout=60)
        assert r.status_code == 200, r.text
        assert _asked(hub, "attacker/anything")
        expected = tokcount.count(LLAMA, CHAT).input_tokens  # same files, from the shared assets
        assert r.json()["data"]["total_tokens"] == expected
        r = httpx.post(base + "/v1/token/count", json=_chat("other/model"), timeout=30)
        assert r.status_code == 403 and not _asked(hub, "other/model")


def test_missing_repo_asked_once_per_ttl(hub_env: Path, monkeypatch) -> None:
    (hub_env / "served").mkdir()
    settings = Settings(allow_hub_repos=("*",), miss_ttl_s=1.5)
    with HubServer(hub_env / "served") as hub, running_server(settings) as base:
        _point_at(monkeypatch, hub.url)
        for _ in range(4):
            r = httpx.post(base + "/tokenize", json={"model": "ghost/none", "prompt": "Hi"}, timeout=30)
            assert r.status_code == 404 and "ghost/none" in r.json()["error"]["message"], r.text
        assert len(_asked(hub, "ghost/none")) == 1, hub.log
        # another model whose repo is gone: its own single ask, not blocked by the first one's memory
        assert httpx.post(base + "/tokenize", json={"model": "ghost/two", "prompt": "Hi"}).status_code == 404
        assert len(_asked(hub, "ghost/two")) == 1, hub.log
        time.sleep(1.6)
        assert httpx.post(base + "/tokenize", json={"model": "ghost/none", "prompt": "Hi"}).status_code == 404
        assert len(_asked(hub, "ghost/none")) == 2, hub.log


def test_missing_file_remembered_in_assets(hub_env: Path, monkeypatch) -> None:
    """Below the loader: a file the Hub does not have is not asked for again within the TTL."""
    served = hub_env / "served"
    _serve_copy(served, "some/repo")
    with HubServer(served) as hub:
        _point_at(monkeypatch, hub.url)
        files = assets.RepoFiles("some/repo")
        first = assets.find(files, "chat_template.jinja")
        assert first.path is None and len(_asked(hub, "some/repo")) == 1
        again = assets.find(files, "chat_template.jinja")
        assert again.path is None and again.absent and "not asked again" in again.searched[-1]
        assert len(_asked(hub, "some/repo")) == 1
        assert assets.find(files, "tokenizer_config.json").path is not None  # other files are still fetched


def _closed_port() -> int:
    return free_port()  # bound, then released: nothing listens there


@pytest.mark.parametrize("kind", ["refused", "silent"])
def test_unreachable_hub_detected_once(hub_env: Path, monkeypatch, use_settings, kind: str) -> None:
    """No network: a catalog model whose files are not local answers a 404 naming it, the first within the Hub
    timeout and the rest at once, while /healthz keeps answering."""
    use_settings(asset_dirs=())
    silent = None
    if kind == "silent":  # accepts connections (the kernel completes the handshake) and never answers
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        port = silent.getsockname()[1]
    else:
        port = _closed_port()
    settings = Settings(hub_timeout_s=1.0, miss_ttl_s=30)
    try:
        with running_server(settings) as base:
            _point_at(monkeypatch, f"http://127.0.0.1:{port}")
            health: list[float] = []
            stop = threading.Event()

            def poll() -> None:
                while not stop.is_set():
                    t0 = time.monotonic()
                    assert httpx.get(base + "/healthz", timeout=5).status_code == 200
                    health.append(time.monotonic() - t0)
                    time.sleep(0.05)

            poller = threading.Thread(target=poll, daemon=True)
            poller.start()
            t0 = time.monotonic()
            r = httpx.post(base + "/v1/token/count", json=_chat("llama-3.1-8b-instruct"), timeout=60)
            first = time.monotonic() - t0
            assert r.status_code == 404 and "llama-3.1-8b-instruct" in r.json()["error"]["message"], r.text
            assert first < 10, first
            # other models whose files are not here either: the Hub is not tried again
            for model in ("gemma-3-1b-it", "gemma-3-27b-it", "llama-4-scout", "llama-3.1-8b-instruct"):
                t0 = time.monotonic()
                r = httpx.post(base + "/tokenize", json={"model": model, "prompt": "Hi"}, timeout=60)
                assert r.status_code == 404 and model in r.text, r.text
                assert time.monotonic() - t0 < 1.0
                assert "unreachable" in r.text
            stop.set()
            poller.join(timeout=10)
            assert health and max(health) < 1.0, health
            assert assets.hub.probes == 1
    finally:
        if silent is not None:
            silent.close()


# ------------------------------------------------------------------ off the event loop, once
class _SlowHub(HubServer):
    """The stand-in Hub, answering every request for a repo under ``slow/`` after ``delay`` seconds."""

    def __init__(self, root: Path, delay: float) -> None:
        super().__init__(root)
        base = make_handler(root, self.log)

        class Slow(base):  # type: ignore[misc, valid-type]
            def _serve(self, with_body: bool) -> None:
                if "/slow/" in self.path:
                    time.sleep(delay)
                super()._serve(with_body)

        self.httpd.RequestHandlerClass = Slow
        self.httpd.daemon_threads = True  # a handler still sleeping must not hold up the test's end
        self.httpd.block_on_close = False


def test_concurrent_first_requests_load_once_off_the_loop(hub_env: Path, monkeypatch) -> None:
    _serve_copy(hub_env / "served", "slow/model")
    settings = Settings(allow_hub_repos=("slow/*",))
    with _SlowHub(hub_env / "served", delay=1.0) as hub, running_server(settings) as base:
        _point_at(monkeypatch, hub.url)
        httpx.post(base + "/v1/token/count", json=_chat("qwen3.5"), timeout=30)  # loaded before the slow load
        with ThreadPoolExecutor(8) as pool:
            slow = [pool.submit(httpx.post, base + "/v1/token/count", json=_chat("slow/model"), timeout=60)
                    for _ in range(6)]
            time.sleep(0.3)  # the slow load is under way
            t0 = time.monotonic()
            assert httpx.get(base + "/healthz", timeout=5).status_code == 200
            r = httpx.post(base + "/v1/token/count", json=_chat("qwen3.5"), timeout=30)
            assert r.status_code == 200
            assert time.monotonic() - t0 < 1.0  # neither the event loop nor a lock waits for the slow model
            assert not slow[0].done()
            answers = [f.result() for f in slow]
        assert {a.status_code for a in answers} == {200}
        assert len({a.json()["data"]["total_tokens"] for a in answers}) == 1
        assert loader.loads["slow/model"] == 1
        # one HEAD of ours (with the Hub timeout, no retries), then huggingface_hub's HEAD and GET
        assert len([line for line in _asked(hub, "slow/model") if "tokenizer.json" in line]) <= 3, hub.log


def test_hub_that_stops_answering_is_not_waited_on(hub_env: Path, monkeypatch) -> None:
    """The Hub answers its root (the probe) but not file requests: the first request gives up after the Hub
    timeout, not after huggingface_hub's 60 s retries, and the next ones do not ask."""
    _serve_copy(hub_env / "served", "slow/model")
    _serve_copy(hub_env / "served", "slow/other")
    settings = Settings(allow_hub_repos=("slow/*",), hub_timeout_s=1.0)
    with _SlowHub(hub_env / "served", delay=15) as hub, running_server(settings) as base:
        _point_at(monkeypatch, hub.url)
        t0 = time.monotonic()
        r = httpx.post(base + "/v1/token/count", json=_chat("slow/model"), timeout=60)
        assert r.status_code == 404 and "unreachable" in r.text, r.text
        assert time.monotonic() - t0 < 6
        t0 = time.monotonic()
        r = httpx.post(base + "/v1/token/count", json=_chat("slow/other"), timeout=60)
        assert r.status_code == 404 and "unreachable" in r.text, r.text
        assert time.monotonic() - t0 < 1.0
        assert not _asked(hub, "slow/other")


def test_inline_check_reads_the_names_every_dialect_reads(fresh_loader: None) -> None:
    from tokcount.dialects import vllm
    from tokcount.scheduling import _named_models
    from tokcount.server import Service

    assert _named_models({"model": "default"}, "qwen3.5") == ["qwen3.5"]
    assert _named_models({"model": "a/b", "fallbacks": ["default", "c"]}, "d") == ["a/b", "d", "c"]
    assert _named_models({"prompt": "x"}, "d") is None  # the dialect decides what a missing model means
    assert _named_models({"model": 3}, "d") is None
    service = Service(Settings()).scheduler
    tokenize = next(r for r in vllm.DIALECT.routes if r.path == "/tokenize")
    raw = b'{"model": "llama-3.1-8b-instruct", "prompt": "Hi"}'
    assert not service.models_loaded(tokenize, raw, {})
    tokcount.count("llama-3.1-8b-instruct", CHAT)
    assert service.models_loaded(tokenize, raw, {})
    # bodies refused before any model is needed are answered inline
    assert service.models_loaded(tokenize, b'{"model": "no-such-model-xyz", "prompt": "Hi"}', {})
    assert service.models_loaded(tokenize, b"{not json", {})
    # the default model, when the dialect says a missing model means it
    assert not service.models_loaded(tokenize, b'{"prompt": "Hi"}', {})
    # Gemini's model is in the URL: the body's "model" is not what counts
    route = gemini.DIALECT.routes[0]
    assert not service.models_loaded(route, b'{"model": "llama-3.1-8b-instruct", "contents": "Hi"}',
                                     {"model": "gemini-2.5-flash"})


def test_is_loaded_reflects_the_lru(fresh_loader: None) -> None:
    spec = default_catalog().resolve("qwen3.5")
    assert not loader.is_loaded(spec)
    tokcount.count(spec, CHAT)
    assert loader.is_loaded(spec)
    loader.clear()
    assert not loader.is_loaded(spec)


# ------------------------------------------------------------------ the LRU
def test_lru_evicts_and_reloads_with_identical_counts(fresh_loader: None) -> None:
    loader.configure(max_models=2)
    names = ("minimax-m2.5", "minimax-m2", "llama-3.1-8b-instruct")
    first = {n: tokcount.count(n, CHAT).input_tokens for n in names}
    assert loader.loaded() == ["minimax-m2", "llama-3.1-8b-instruct"]
    assert loader.evictions["minimax-m2.5"] == 1
    # minimax-m2 reads minimax-m2.5's vocabulary (its own is not here): the shared tokenizer stayed with it
    m2 = loader.load(default_catalog().resolve("minimax-m2"))
    assert "MiniMax-M2.5" in str(m2.tokenizer_path)
    again = {n: tokcount.count(n, CHAT).input_tokens for n in names}
    assert again == first
    assert loader.loads["minimax-m2.5"] == 2
    m25 = loader.load(default_catalog().resolve("minimax-m2.5"))
    m2 = loader.load(default_catalog().resolve("minimax-m2"))
    assert m25.tokenizer is m2.tokenizer  # one object per vocabulary file, reloaded or not
    assert len(loader.loaded()) <= 2


def test_lru_memory_budget(fresh_loader: None) -> None:
    big = loader._file_mb(HUB / "google" / "gemma-3-1b-it" / "tokenizer.json")
    small = loader._file_mb(HUB / LLAMA / "tokenizer.json")
    loader.configure(memory_mb=big + small / 2)  # Gemma 3 plus less than one more vocabulary
    tokcount.count("llama-3.1-8b-instruct", CHAT)
    tokcount.count("qwen3.5", CHAT)
    assert loader.loaded() == ["llama-3.1-8b-instruct", "qwen3.5"]  # two 10 MB files fit
    tokcount.count("gemma-3-1b-it", CHAT)
    assert loader.loaded() == ["gemma-3-1b-it"]
    assert loader.memory_mb() <= big + small / 2
    loader.configure(memory_mb=1)  # even below one model, the newest stays usable
    assert loader.loaded() == ["gemma-3-1b-it"]
    assert tokcount.count("llama-3.1-8b-instruct", CHAT).input_tokens > 0
    assert loader.loaded() == ["llama-3.1-8b-instruct"]


RSS_PROBE = """
import gc, os, sys
from tokcount import loader
from tokcount.count import count, resolve
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
count("qwen3.5", {"messages": [{"role": "user", "content": "hi"}]})  # engines imported, one model loaded
gc.collect()
before = rss()
model = loader.load(resolve(sys.argv[1]))
count(sys.argv[1], {"messages": [{"role": "user", "content": "hi"}]})
gc.collect()
print(rss() - before, loader._file_mb(model.tokenizer_path))
"""


@pytest.mark.parametrize("model", ["llama-3.1-8b-instruct", "gemma-3-1b-it"])
def test_memory_estimate_matches_measured_rss(model: str) -> None:
    """The LRU's estimate (file size x RSS_PER_FILE_BYTE) against the RSS a fresh process gains loading it."""
    env = {"PYTHONPATH": str(REPO / "src"), "TOKCOUNT_ASSET_DIRS": str(ASSETS), "HF_HUB_OFFLINE": "1",
           "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", RSS_PROBE, model], capture_output=True, text=True, env=env,
                         timeout=300, check=True).stdout.split()
    measured, estimate = float(out[0]), float(out[1])
    assert 0.5 * measured <= estimate <= 2.5 * measured, (measured, estimate)
