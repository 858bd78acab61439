"""Behind the LiteLLM proxy, set up as an operator would (``anthropic/...``, ``openai/...`` and ``hosted_vllm/...``
model entries whose ``api_base`` is tokcount, on loopback): its ``/v1/messages/count_tokens`` and
``/v1/responses/input_tokens`` reach tokcount and answer tokcount's counts, and its vLLM passthrough reaches
``/v1/tokenize``. ``litellm[proxy]`` is not in the test extra (a large install: 2 min 23 s here; the proxy takes
~45 s to start on this shared machine), so this runs only where it is installed."""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.serverkit import free_port, running_server
from tokcount import count
from tokcount.settings import Settings

# found, not imported: importing litellm installs a process-wide logging filter that rewrites every other test's
# log lines (its "REDACTED"), and the proxy runs in its own process anyway
_spec = importlib.util.find_spec("litellm")  # a top-level name: found without importing it
if _spec is None or _spec.origin is None or not (Path(_spec.origin).parent / "proxy" / "proxy_server.py").exists() \
        or importlib.util.find_spec("apscheduler") is None:  # one of the [proxy] extra's packages
    pytest.skip("litellm[proxy] is not installed", allow_module_level=True)

FOX = "The quick brown fox jumps over the lazy dog."


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    with running_server(Settings()) as tok:
        cfg = tmp_path_factory.mktemp("litellm") / "config.yaml"
        cfg.write_text(f"""model_list:
  - model_name: claude-sonnet-4-5
    litellm_params: {{model: anthropic/claude-sonnet-4-5, api_base: "{tok}", api_key: unused}}
  - model_name: gpt-4o
    litellm_params: {{model: openai/gpt-4o, api_base: "{tok}/v1", api_key: unused}}
  - model_name: qwen3.5
    litellm_params: {{model: hosted_vllm/qwen3.5, api_base: "{tok}/v1", api_key: unused}}
""")
        key = f"sk-{secrets.token_hex(16)}"
        port = free_port()
        exe = shutil.which("litellm", path=str(Path(sys.executable).parent)) or "litellm"
        proc = subprocess.Popen([exe, "--config", str(cfg), "--host", "127.0.0.1", "--port", str(port)],
                                env={**os.environ, "LITELLM_MASTER_KEY": key}, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 180
            while True:
                try:
                    if httpx.get(f"{base}/health/liveliness", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, "the LiteLLM proxy did not start"
                time.sleep(0.5)
            yield base, key, tok
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def test_count_routes_reach_tokcount(proxy: tuple[str, str, str]) -> None:
    base, key, _ = proxy
    auth = {"authorization": f"Bearer {key}"}
    messages = [{"role": "user", "content": FOX}]
    r = httpx.post(f"{base}/v1/messages/count_tokens", headers=auth, timeout=60,
                   json={"model": "claude-sonnet-4-5", "messages": messages})
    assert r.status_code == 200, r.text
    assert r.json()["input_tokens"] == count("claude-sonnet-4-5", {"messages": messages}).input_tokens
    r = httpx.post(f"{base}/v1/responses/input_tokens", headers=auth, timeout=60,
                   json={"model": "gpt-4o", "input": FOX})
    assert r.status_code == 200, r.text
    assert r.json()["input_tokens"] == count("gpt-4o", {"messages": messages}).input_tokens


def test_vllm_passthrough_reaches_v1_tokenize(proxy: tuple[str, str, str]) -> None:
    base, key, tok = proxy
    r = httpx.post(f"{base}/vllm/tokenize", headers={"authorization": f"Bearer {key}"}, timeout=60,
                   json={"model": "qwen3.5", "prompt": FOX})
    assert r.status_code == 200, r.text
    direct = httpx.post(f"{tok}/v1/tokenize", json={"model": "qwen3.5", "prompt": FOX}, timeout=60)
    assert r.json() == direct.json()
    assert r.headers["x-tokcount-exact"] == "true"  # relayed by the passthrough
