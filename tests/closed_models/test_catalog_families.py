"""Closed models newer than the catalog (issue 23): the catalog's entries for this year's OpenAI, Claude and Gemini
models, ``like = "<id>"`` (a listed model borrowing another entry's rules, never its verification), and the
``[[family]]`` rules that count an unlisted name of a known family with the family's newest entry, labelled.
Data only: no tokenizer file is opened (the counts over a real server are in
tests/closed_models/test_closed_families.py)."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from tokcount.errors import ModelNotAllowed, UnknownModel
from tokcount.models.catalog import Catalog, RepoPolicy, default_catalog
from tokcount.passthrough.translate import upstream_model

#: needs none of ../shared (tests/conftest.py gives it an empty asset directory and cache)
pytestmark = pytest.mark.no_shared

#: names the providers list now (the installed SDKs' model lists, google-genai's LocalTokenizer tables) → the entry
#: that must count them. Before issue 23 the first three were 404s and claude-sonnet-5 silently counted as Opus 4.7.
CURRENT = [
    ("gpt-5.4", "gpt-5.4"), ("gpt-5.4-2026-03-05", "gpt-5.4"), ("gpt-5.4-nano", "gpt-5.4-nano"),
    ("gpt-5.4-nano-2026-03-17", "gpt-5.4-nano"), ("gpt-5.4-mini-2026-03-17", "gpt-5.4-mini"),
    ("gpt-5.5-2026-04-23", "gpt-5.5"), ("gpt-5.6-terra", "gpt-5.6-terra"), ("gpt-5.6-sol", "gpt-5.6-sol"),
    ("gpt-5.6-luna", "gpt-5.6-luna"), ("gpt-5.2-chat-latest", "gpt-5.2"), ("gpt-5.1-2025-11-13", "gpt-5.1"),
    ("gpt-6.2-astra", "gpt-6.2-astra"),
    ("claude-sonnet-5", "claude-sonnet-5"), ("claude-opus-5", "claude-opus-5"), ("claude-opus-4-8", "claude-opus-4-8"),
    ("claude-opus-5-5", "claude-opus-5-5"), ("claude-haiku-5-5", "claude-haiku-5-5"),
    ("claude-fable-5-1", "claude-fable-5-1"), ("claude-mythos-preview", "claude-mythos-preview"),
    ("anthropic/claude-sonnet-5.5", "claude-sonnet-5-5"),
    ("gemini-3.5-flash", "gemini-3.5-flash"), ("models/gemini-3.5-flash", "gemini-3.5-flash"),
    ("gemini-3.1-pro-preview", "gemini-3.1-pro"), ("gemini-3.1-flash-lite", "gemini-3.1-flash-lite"),
]


@pytest.mark.parametrize(("name", "entry"), CURRENT)
def test_current_models_have_their_own_entry(name: str, entry: str) -> None:
    spec = default_catalog().resolve(name)
    assert (spec.id, spec.family_match) == (entry, None)


def _literal_names(alias: object) -> list[str]:
    """The string literals of a ``Literal[...]`` (or ``Union[Literal[...], str]``) type alias."""
    names: list[str] = []
    for arg in typing.get_args(alias):
        if isinstance(arg, str):
            names.append(arg)
        else:
            names.extend(_literal_names(arg))
    return names


def _genai_tokenizer_models() -> list[str]:
    """The Gemini names of google-genai's LocalTokenizer tables, read from its source (importing the module needs
    sentencepiece, which tokcount does not)."""
    import ast
    import importlib.util

    spec = importlib.util.find_spec("google.genai")
    assert spec is not None and spec.submodule_search_locations
    source = Path(next(iter(spec.submodule_search_locations)), "_local_tokenizer_loader.py").read_text()
    tables = ("_GEMINI_MODELS_TO_TOKENIZER_NAMES", "_GEMINI_STABLE_MODELS_TO_TOKENIZER_NAMES",
              "_GEMINI_MODELS_TO_HUGGINGFACE_TOKENIZER_NAMES")
    names = [name for node in ast.parse(source).body if isinstance(node, ast.Assign)
             and any(isinstance(t, ast.Name) and t.id in tables for t in node.targets)
             for name in ast.literal_eval(node.value)]
    assert "gemini-3.5-flash" in names
    return names


def _sdk_names() -> list[str]:
    from anthropic.types.model import Model
    from openai.types.shared.chat_model import ChatModel

    openai = [n for n in _literal_names(ChatModel) if n.startswith(("gpt-5", "gpt-6", "o1", "o3", "o4"))]
    return sorted({*_literal_names(Model), *openai, *_genai_tokenizer_models()})


def test_every_model_the_installed_sdks_name_resolves_and_says_how() -> None:
    """Every Claude, GPT-5/6, o-series and Gemini name the installed SDKs know resolves: to an entry that lists it
    (its id, an alias or a dated snapshot of one), or through a family rule, which labels the count. None is a 404."""
    catalog = default_catalog()
    unresolved, silent = [], []
    for name in _sdk_names():
        try:
            spec = catalog.resolve(name)
        except UnknownModel:
            unresolved.append(name)
            continue
        if spec.family_match is None and not any(name.startswith(n) for n in (spec.id, *spec.aliases)):
            silent.append((name, spec.id))
    assert not unresolved and not silent, (unresolved, silent)


def test_a_like_entry_takes_the_rules_but_not_the_evidence() -> None:
    spec, base = default_catalog().resolve("gpt-5.4"), default_catalog().resolve("gpt-5")
    assert spec.renderer == base.renderer == "openai-chat"
    assert spec.extra["framing"] == base.extra["framing"] == "reasoning"
    assert spec.vision == base.vision
    assert base.extra.get("framing_verified") is True and "framing_verified" not in spec.extra
    assert spec.context_window == 1050000 != base.context_window  # the window is the model's own
    assert spec.rules_of == "gpt-5" and base.rules_of is None
    assert "gpt-5.4" not in base.aliases


@pytest.mark.parametrize(("name", "entry", "pattern"), [
    ("gpt-5.9", "gpt-5.6-sol", "gpt-5*"), ("openai/gpt-5.9-mini", "gpt-5.6-sol", "gpt-5*"),
    ("gpt-4o-2099-realtime", "gpt-4o", "gpt-4o*"), ("gpt-4-vision-preview", "gpt-4-turbo", "gpt-4-*"),
    ("o7-mini", "o3", "o[0-9]*"), ("claude-sonnet-9", "claude-opus-5-5", "claude-*"),
    ("bedrock/anthropic/claude-next", "claude-opus-5-5", "claude-*"),
    ("gemini-4-ultra", "gemini-3.5-flash", "gemini-*"),
    ("google/gemini-3.9-flash", "gemini-3.5-flash", "gemini-*"), ("gpt-6.9-nova", "gpt-6.2-astra", "gpt-6*"),
])
def test_an_unlisted_name_of_a_known_family_gets_its_newest_rules(name: str, entry: str, pattern: str) -> None:
    spec = default_catalog().resolve(name)
    assert spec.id == entry and spec.family_match is not None
    assert spec.family_match.pattern == pattern and spec.rules_of == entry
    assert spec == default_catalog().models[entry]  # the same key for the loader: no new load per made-up name
    assert hash(spec) == hash(default_catalog().models[entry])


@pytest.mark.parametrize("name", ["gpt-7", "gtp-5.4", "llama-99", "palm-3", "claude", "o-mini"])
def test_a_name_in_no_family_stays_unknown(name: str) -> None:
    with pytest.raises(UnknownModel):
        default_catalog().resolve(name)


def test_a_hub_repo_named_like_a_family_is_not_one() -> None:
    """``someorg/claude-style-7b`` is someone's Hub repo (its own chat template), not a Claude model."""
    with pytest.raises(ModelNotAllowed):
        default_catalog().resolve("SomeOrg/claude-style-7b", RepoPolicy())


def test_family_rules_and_like_are_checked_when_the_catalog_loads() -> None:
    base = '[[model]]\nid = "a"\nrepo = "x/a"\nrenderer = "openai-chat"\nframing_verified = true\n'
    catalog = Catalog()
    catalog.load_toml(base + '[[model]]\nid = "b"\nrepo = "x/b"\nlike = "a"\n[[family]]\nmatch = "b*"\nrules = "b"\n',
                      "t")
    assert catalog.models["b"].renderer == "openai-chat" and "framing_verified" not in catalog.models["b"].extra
    assert catalog.resolve("b-9").family_match is not None
    with pytest.raises(ValueError, match="no earlier entry"):
        Catalog().load_toml('[[model]]\nid = "b"\nrepo = "x/b"\nlike = "zz"\n', "t")
    with pytest.raises(ValueError, match=r"\[\[family\]\]"):
        Catalog().load_toml(base + '[[family]]\nmatch = "a*"\nrules = "unlisted"\n', "t")


def test_a_later_catalog_files_families_come_first() -> None:
    """An operator's TOKCOUNT_CATALOG file may point a family at its own newer entry."""
    catalog = Catalog()
    catalog.load_toml('[[model]]\nid = "a"\nrepo = "x/a"\n[[family]]\nmatch = "a*"\nrules = "a"\n', "built-in")
    catalog.load_toml('[[model]]\nid = "a2"\nrepo = "x/a2"\n[[family]]\nmatch = "a*"\nrules = "a2"\n', "user")
    assert catalog.resolve("a9").id == "a2"


def test_upstream_is_asked_about_the_callers_own_unlisted_name() -> None:
    """The provider knows its own new models: an unlisted family name is forwarded as sent (a provider 404 falls
    back to the labelled local count); listed names keep the catalog's rule."""
    catalog = default_catalog()
    assert upstream_model(catalog.resolve("openai/gpt-5.9"), "openai/gpt-5.9") == "gpt-5.9"
    assert upstream_model(catalog.resolve("claude-sonnet-5"), "claude-sonnet-5") == "claude-sonnet-5"
    assert upstream_model(catalog.resolve("gpt-5.4-2026-03-05"), "gpt-5.4-2026-03-05") == "gpt-5.4-2026-03-05"
    assert upstream_model(catalog.resolve("gpt-5-chat-latest"), "gpt-5-chat-latest") == "gpt-5-chat-latest"
