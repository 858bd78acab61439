"""``[upstream.<provider>]`` in the server config and ``TOKCOUNT_UPSTREAM_*`` in the environment: what turns the
passthrough on, how the two combine, and that a mistake stops start-up with a message naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokcount.passthrough import Upstream
from tokcount.settings import Settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tokcount.toml"
    path.write_text(text)
    return path


def test_toml_tables_configure_each_provider(tmp_path: Path) -> None:
    path = write(tmp_path, """
default_model = "qwen3.5"
[upstream.openai]
base_url = "https://api.openai.com/"
api_key_env = "MY_OPENAI_KEY"
timeout = 2.5
max_concurrency = 3
[upstream.anthropic]
base_url = "https://api.anthropic.com"
api_key = "sk-ant-file"
""")
    s = Settings.load(path, env={"MY_OPENAI_KEY": " sk-env "})
    ups = {u.provider: u for u in s.upstreams}
    assert ups["openai"] == Upstream("openai", "https://api.openai.com", "sk-env", 2.5, 3)
    assert ups["anthropic"] == Upstream("anthropic", "https://api.anthropic.com", "sk-ant-file", 5.0, 8)
    assert "sk-env" not in repr(s) and "sk-ant-file" not in repr(s) and "sk-env" not in repr(ups["openai"])


def test_server_table_and_env_override(tmp_path: Path) -> None:
    path = write(tmp_path, """
[server.upstream.gemini]
base_url = "https://generativelanguage.googleapis.com"
api_key = "g-file"
timeout = 9
""")
    env = {"TOKCOUNT_UPSTREAM_GEMINI_KEY": "g-env", "TOKCOUNT_UPSTREAM_TIMEOUT": "1.5",
           "TOKCOUNT_UPSTREAM_MAX_CONCURRENCY": "4",
           "TOKCOUNT_UPSTREAM_STEPFUN_URL": "http://127.0.0.1:9", "TOKCOUNT_UPSTREAM_STEPFUN_KEY": "st",
           "TOKCOUNT_UPSTREAM_MOONSHOT_URL": "http://127.0.0.1:9"}  # no key: not configured
    ups = {u.provider: u for u in Settings.load(path, env=env).upstreams}
    assert set(ups) == {"gemini", "stepfun"}
    assert ups["gemini"] == Upstream("gemini", "https://generativelanguage.googleapis.com", "g-env", 1.5, 4)
    assert ups["stepfun"] == Upstream("stepfun", "http://127.0.0.1:9", "st", 1.5, 4)


def test_nothing_configured_means_off() -> None:
    assert Settings.load(env={}).upstreams == ()
    assert Settings.load(env={"TOKCOUNT_UPSTREAM_TIMEOUT": "3"}).upstreams == ()


@pytest.mark.parametrize(("toml", "message"), [
    ('[upstream.cohere]\nbase_url = "https://x"\napi_key = "k"', "unknown provider"),
    ('[upstream.openai]\nbase_url = "https://x"\napi_key = "k"\nretries = 3', "unknown key(s) retries"),
    ('[upstream.openai]\nbase_url = "https://x"\napi_key_env = "UNSET_VAR_XYZ"', "'UNSET_VAR_XYZ', which is not set"),
    ('[upstream.openai]\nbase_url = "https://x"', "an API key is needed"),
    ('[upstream.openai]\nbase_url = "ftp://x"\napi_key = "k"', "base_url must start with http"),
    ('[upstream.openai]\nbase_url = "https://x"\napi_key = "k"\ntimeout = 0', "timeout must be a positive"),
    ('[upstream.openai]\nbase_url = "https://x"\napi_key = "k"\nmax_concurrency = 0', "max_concurrency must be"),
    ('[upstream.openai]\nbase_url = "https://x"\napi_key = "k"\nmax_concurrency = true', "max_concurrency must be"),
    ('upstream = "openai"', "must be a table"),
])
def test_mistakes_stop_start_up(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(ValueError, match="upstream") as info:
        Settings.load(write(tmp_path, toml), env={})
    assert message in str(info.value)
    assert "k\"" not in str(info.value)


def test_bad_environment_values() -> None:
    with pytest.raises(ValueError, match="TOKCOUNT_UPSTREAM_TIMEOUT"):
        Settings.load(env={"TOKCOUNT_UPSTREAM_OPENAI_URL": "http://x", "TOKCOUNT_UPSTREAM_OPENAI_KEY": "k",
                           "TOKCOUNT_UPSTREAM_TIMEOUT": "soon"})
    with pytest.raises(ValueError, match="timeout must be a positive"):
        Settings.load(env={"TOKCOUNT_UPSTREAM_OPENAI_URL": "http://x", "TOKCOUNT_UPSTREAM_OPENAI_KEY": "k",
                           "TOKCOUNT_UPSTREAM_TIMEOUT": "-1"})
