"""One configuration object: sources and precedence, the generated help and README table, and the process-wide
current settings the library reads (set with ``tokcount.configure`` / ``settings_in_force.using``, never
``os.environ``)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

import tokcount
from support.shared import PINNED_NOW, REPO
from tokcount import settings_in_force
from tokcount.cli import main
from tokcount.media.sources import default_policy, policy_from
from tokcount.models.catalog import default_catalog
from tokcount.renderers.jinja import jinja_env, limits
from tokcount.settings import Settings, env_name, markdown_table, setting_rows


def _settings_fields() -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(Settings) if "section" in f.metadata]


def test_precedence_default_then_toml_then_environment(tmp_path: Path) -> None:
    toml = tmp_path / "t.toml"
    toml.write_text('default_model = "from-toml"\nmax_tools = 7\n'
                    '[media]\nmax_pixels = 1000\nallow_networks = ["10.0.0.0/8"]\n'
                    '[engines]\nsegment_cache_mb = 0\n[render]\nnow = "2024-02-03"\n'
                    '[upstream.openai]\nbase_url = "http://127.0.0.1:9"\napi_key_env = "CONFIG_TEST_KEY"\n')
    s = Settings.load(toml, env={"CONFIG_TEST_KEY": "sk-toml"})
    assert (s.default_model, s.max_tools, s.media_max_pixels, s.media_allow_networks) == (
        "from-toml", 7, 1000, ("10.0.0.0/8",))
    # [upstream.<provider>] keeps its own reader; api_key_env is looked up in the same environment
    assert [(u.provider, u.api_key) for u in s.upstreams] == [("openai", "sk-toml")]
    assert (s.segment_cache_mb, s.now, s.sources) == (0.0, "2024-02-03", (str(toml),))
    assert Settings().max_parts == s.max_parts  # not in the file: the default
    env = {"TOKCOUNT_DEFAULT_MODEL": "from-env", "TOKCOUNT_MEDIA_MAX_PIXELS": "2000", "HF_HUB_OFFLINE": "1",
           "TOKCOUNT_ASSET_DIRS": f"/a{':'}/b", "TOKCOUNT_ENGINES": "tokenizers"}
    s = Settings.load(toml, env={**env, "CONFIG_TEST_KEY": "sk-toml", "TOKCOUNT_UPSTREAM_OPENAI_KEY": "sk-env"})
    assert [u.api_key for u in s.upstreams] == ["sk-env"]
    assert (s.default_model, s.media_max_pixels, s.max_tools, s.hub_offline) == ("from-env", 2000, 7, True)
    assert (s.asset_dirs, s.engines) == (("/a", "/b"), ("tokenizers",))
    # the flat form (full field name at the top level or under [server]) is the same setting
    toml.write_text("[server]\nmedia_max_side = 99\nasset_dirs = ['/x']\n")
    assert (Settings.load(toml, env={}).media_max_side, Settings.load(toml, env={}).asset_dirs) == (99, ("/x",))


def test_api_keys_from_every_source_add_up(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("file-key  # a comment\n\n")
    toml = tmp_path / "t.toml"
    toml.write_text(f'api_keys = ["toml-key"]\napi_keys_file = "{keys}"\n')
    s = Settings.load(toml, env={"TOKCOUNT_API_KEYS": "env-a, env-b,toml-key"})
    assert s.api_keys == ("toml-key", "file-key", "env-a", "env-b")


@pytest.mark.parametrize(("env", "message"), [
    ({"TOKCOUNT_MEDIA_DEADLINE": "soon"}, "TOKCOUNT_MEDIA_DEADLINE must be a positive number of seconds"),
    ({"TOKCOUNT_MEDIA_CONCURRENCY": "0"}, "TOKCOUNT_MEDIA_CONCURRENCY must be a positive integer"),
    ({"TOKCOUNT_NOW": "yesterday"}, "TOKCOUNT_NOW must be an ISO date"),
    ({"TOKCOUNT_SEGMENT_CACHE_MB": "-1"}, "TOKCOUNT_SEGMENT_CACHE_MB must be a number of megabytes"),
    ({"TOKCOUNT_ACCESS_LOG": "maybe"}, "TOKCOUNT_ACCESS_LOG must be json, 1 (plain) or off"),
    ({"TOKCOUNT_PUBLIC_METRICS": "maybe"}, "TOKCOUNT_PUBLIC_METRICS must be true or false"),
    ({"TOKCOUNT_HUB_TIMEOUT_S": "inf"}, "TOKCOUNT_HUB_TIMEOUT_S must be a positive number"),
    ({"TOKCOUNT_CLAUDE_CTOK_CHARS": "-1"}, "TOKCOUNT_CLAUDE_CTOK_CHARS must be a whole number (0 or more)"),
])
def test_a_bad_value_names_its_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Settings.load(env=env)


@pytest.mark.parametrize(("raw", "mode"), [("json", "json"), ("1", "plain"), ("plain", "plain"), ("0", ""),
                                           ("off", "")])
def test_access_log_modes(raw: str, mode: str, tmp_path: Path) -> None:
    assert Settings.load(env={"TOKCOUNT_ACCESS_LOG": raw}).access_log == mode
    toml = tmp_path / "t.toml"
    toml.write_text(f'[server]\naccess_log = "{raw}"\n')
    assert Settings.load(toml, env={}).access_log == mode
    toml.write_text("access_log = true\n")  # a TOML bool means uvicorn's plain lines, as before
    assert Settings.load(toml, env={}).access_log == "plain"


def test_bad_toml_values_name_file_and_key(tmp_path: Path) -> None:
    toml = tmp_path / "t.toml"
    for text, key in (("[media]\nfetch = 'yes'\n", "media_fetch"), ("[assets]\ncatalog = 3\n", "catalog"),
                      ("public_docs = 1\n", "public_docs")):
        toml.write_text(text)
        with pytest.raises(ValueError, match=re.escape(f"{toml}: {key}")):
            Settings.load(toml, env={})


def test_every_setting_has_a_distinct_environment_name() -> None:
    names = [env_name(f.name) for f in _settings_fields()]
    assert len(names) == len(set(names))
    assert {r[2] for r in setting_rows()} == set(names)


def test_serve_help_lists_every_setting(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    out = capsys.readouterr().out
    for section, key, env, default, _ in setting_rows():
        line = next((ln for ln in out.splitlines() if env in ln), None)
        assert line is not None, env
        assert f"[{section}] {key}" in line and (default or "-") in line


def test_readme_table_is_the_generated_one() -> None:
    readme = (REPO / "docs" / "server.md").read_text(encoding="utf-8")
    block = readme.split("<!-- settings-table:", 1)[1].split("<!-- /settings-table -->", 1)[0]
    assert block.split("\n", 1)[1].strip() == markdown_table()


def test_media_policy_from_settings() -> None:
    s = Settings(media_fetch=False, media_allow_networks=("127.0.0.2/32",), media_deadline=1.5,
                 media_concurrency=3)
    p = policy_from(s)
    assert (p.allow_remote, p.allow_networks, p.deadline, p.max_concurrent_fetches) == (
        False, ("127.0.0.2/32",), 1.5, 3)
    base = policy_from(Settings())
    assert base == type(base)()


def test_every_default_is_written_once_in_settings() -> None:
    """FetchPolicy's bounds, the loader's LRU bounds and the Hub state's TTL and timeout are the settings' own
    defaults, and a bound's help never restates its number (the docs table shows the default): the help once said
    65,500 for a side the code bounded at 65,535."""
    from tokcount import assets, loader
    from tokcount.media.policy import SETTING_OF, FetchPolicy
    from tokcount.settings import default

    fields = {f.name: f for f in dataclasses.fields(Settings)}
    for bound, name in SETTING_OF.items():
        assert getattr(FetchPolicy(), bound) == getattr(Settings(), name) == default(name) > 0, name
        assert not any(ch.isdigit() for ch in fields[name].metadata["help"]), name
        # a 0 in an older configuration still means the default, as when 0 was the default
        assert getattr(policy_from(Settings(**{name: 0})), bound) == default(name)
    assert (loader.MAX_MODELS, loader.MEMORY_MB, loader.CacheBounds().miss_ttl) == (
        default("max_loaded_models"), default("model_memory_mb"), default("miss_ttl_s"))
    hub = assets.HubState()
    assert (hub.miss_ttl, hub.timeout) == (default("miss_ttl_s"), default("hub_timeout_s"))


def test_the_library_reads_the_current_settings(tmp_path: Path) -> None:
    assert jinja_env.now().date().isoformat() == PINNED_NOW  # conftest's TOKCOUNT_NOW, read once
    with settings_in_force.using(now="2030-06-07", media_max_side=77, max_render_chars=1234):
        assert jinja_env.now().date().isoformat() == "2030-06-07"
        assert default_policy().max_image_side == 77
        assert limits.defaults().max_chars == 1234
    assert jinja_env.now().date().isoformat() == PINNED_NOW
    assert default_policy().max_image_side == policy_from(Settings()).max_image_side


def test_configure_reloads_the_catalog(tmp_path: Path) -> None:
    extra = tmp_path / "catalog.toml"
    extra.write_text('[[model]]\nid = "config-test-alias-model"\nfamily = "qwen"\nrepo = "Qwen/Qwen3-8B"\n'
                     'context_window = 1000\n')
    assert "config-test-alias-model" not in default_catalog().models
    with settings_in_force.using(catalog=(str(extra),)):
        assert "config-test-alias-model" in default_catalog().models
        chat = {"messages": [{"role": "user", "content": "Hi"}]}
        assert tokcount.count("config-test-alias-model", chat).input_tokens == tokcount.count(
            "Qwen/Qwen3-8B", chat).input_tokens
    assert "config-test-alias-model" not in default_catalog().models


def test_tokcount_configure_is_explicit_and_sticky() -> None:
    before = settings_in_force.current()
    try:
        got = tokcount.configure(Settings.load(env={"TOKCOUNT_MEDIA_MAX_PIXELS": "4096"}), now=PINNED_NOW,
                                 asset_dirs=before.asset_dirs)
        assert settings_in_force.current() is got and got.media_max_pixels == 4096
        assert default_policy().max_image_pixels == 4096
    finally:
        tokcount.configure(before)
    assert settings_in_force.current() == before


def test_a_count_setting_takes_zero_to_turn_off(tmp_path: Path) -> None:
    """``claude_ctok_chars = 0`` (environment or TOML) turns ctok off: the Claude proxy counts everything."""
    assert Settings.load(env={"TOKCOUNT_CLAUDE_CTOK_CHARS": "0"}).claude_ctok_chars == 0
    toml = tmp_path / "t.toml"
    toml.write_text("[engines]\nclaude_ctok_chars = 5000\n")
    assert Settings.load(toml, env={}).claude_ctok_chars == 5000
    toml.write_text("[engines]\nclaude_ctok_chars = true\n")
    with pytest.raises(ValueError, match="claude_ctok_chars must be a whole number"):
        Settings.load(toml, env={})
