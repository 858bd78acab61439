"""How a model name resolves against the built-in catalog (data only: no tokenizer file is opened), and the 4xx a
name that resolves to nothing, or to a Hub repo this server does not allow, becomes."""

from __future__ import annotations

import pytest

from tokcount.errors import InvalidRequest, ModelNotAllowed, UnknownModel
from tokcount.models.catalog import OPEN, RepoPolicy, default_catalog

#: needs none of ../shared (tests/conftest.py gives it an empty asset directory and cache)
pytestmark = pytest.mark.no_shared


@pytest.mark.parametrize("name", ["gpt-4o", "GPT-4o", "  gpt-4o ", "openai/gpt-4o", "azure/openai/gpt-4o"])
def test_ids_match_in_any_case_and_behind_provider_prefixes(name: str) -> None:
    assert default_catalog().resolve(name).id == "gpt-4o"


def test_aliases_resolve_to_their_model() -> None:
    catalog = default_catalog()
    spec = catalog.resolve("kimi-latest")
    assert "kimi-latest" in spec.aliases
    assert catalog.resolve("moonshot/KIMI-LATEST") is spec


@pytest.mark.parametrize(("name", "family"), [("gpt-4o-2099-01-01", "gpt-4o"), ("gpt-4o-latest", "gpt-4o")])
def test_a_dated_snapshot_counts_as_its_family(name: str, family: str) -> None:
    assert default_catalog().resolve(name).id == family


def test_an_unknown_name_is_a_404_with_close_suggestions() -> None:
    with pytest.raises(UnknownModel) as err:  # "gpt-4oo" would be a gpt-4o* family name (labelled fail-open)
        default_catalog().resolve("gtp-4o")
    assert err.value.status == 404 and err.value.param == "model"
    assert "gpt-4o" in err.value.suggestions
    assert "Did you mean" in err.value.message


@pytest.mark.parametrize("name", ["", "   "])
def test_an_empty_name_is_a_400(name: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        default_catalog().resolve(name)
    assert err.value.status == 400


def test_a_hub_repo_outside_the_catalog_needs_the_operators_permission() -> None:
    """A no_shared test's asset directory is empty, so only the policy decides."""
    catalog = default_catalog()
    with pytest.raises(ModelNotAllowed) as err:
        catalog.resolve("SomeOrg/Some-Model-7B", RepoPolicy())
    assert err.value.status == 403
    allowed = catalog.resolve("SomeOrg/Some-Model-7B", RepoPolicy(("someorg/*",)))
    assert allowed.repo == "SomeOrg/Some-Model-7B" and not allowed.listed
    assert [(r.repo, r.file) for r in allowed.tokenizer] == [("SomeOrg/Some-Model-7B", "tokenizer.json")]
    assert catalog.resolve("SomeOrg/Some-Model-7B", OPEN).id == "SomeOrg/Some-Model-7B"


def test_a_provider_prefix_is_not_taken_for_a_hub_org() -> None:
    """``openai/not-a-model`` is a mistyped model name (404 with suggestions), not a Hub repo to download."""
    with pytest.raises(UnknownModel) as err:
        default_catalog().resolve("openai/not-a-model", OPEN)
    assert not isinstance(err.value, ModelNotAllowed)


@pytest.mark.parametrize(("name", "model"), [
    ("anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"),
    ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"),  # cross-region inference profiles
    ("global.anthropic.claude-haiku-4-5-20251001-v1:0", "claude-haiku-4-5"),
    ("eu.anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4"),
    ("apac.anthropic.claude-3-haiku-20240307-v1:0", "claude-3-haiku"),
    ("anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet"),
    ("anthropic.claude-opus-4-6-v1", "claude-opus-4-6"),  # newer ids: no ":0"
    ("bedrock/us.anthropic.claude-opus-4-1-20250805-v1:0", "claude-opus-4-1"),  # LiteLLM's provider prefix
])
def test_bedrock_model_ids_resolve_to_the_claude_entries(name: str, model: str) -> None:
    spec = default_catalog().resolve(name)
    assert spec.id == model and spec.family_match is None


def test_an_unlisted_bedrock_claude_id_takes_the_family_rules_and_says_so() -> None:
    spec = default_catalog().resolve("anthropic.claude-sonnet-9-v1:0")
    assert spec.family == "claude" and spec.family_match is not None
    assert spec.family_match.requested == "claude-sonnet-9"


@pytest.mark.parametrize("name", ["anthropic.titan-text-v1", "amazon.nova-pro-v1:0", "xx.anthropic.claude-x-v1"])
def test_other_bedrock_ids_are_a_404_naming_the_id_as_sent(name: str) -> None:
    with pytest.raises(UnknownModel) as err:
        default_catalog().resolve(name)
    assert err.value.model == name and type(err.value) is UnknownModel


def test_a_rename_rule_is_data_in_a_catalog_file() -> None:
    from tokcount.models.catalog import Catalog, _builtin_text

    catalog = Catalog()
    catalog.load_toml(_builtin_text(), "builtin")
    catalog.load_toml("[[rename]]\nmatch = 'acme-(?P<n>[a-z0-9.]+)'\nto = 'gpt-\\g<n>'\n", "operator.toml")
    assert catalog.resolve("acme-4o").id == "gpt-4o"
    with pytest.raises(ValueError, match="regular expression"):
        catalog.load_toml("[[rename]]\nmatch = '('\nto = 'x'\n", "bad.toml")
