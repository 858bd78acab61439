"""Closed models newer than the catalog (issue 23), counted over a real server and the library with the real
vocabularies: every model name recorded in the calibration set resolves to its own catalog entry; an unlisted
name of a known family (``gpt-5.9``, ``claude-sonnet-9``, ``gemini-4-flash``) is answered with its family's newest
rules and says so (``x-tokcount-exact: false``, ``x-tokcount-resolved-as``, ``+rules-of:<id>`` in the method) on
every route; a name of no family stays a 404 in the route's own shape."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

import tokcount
from support.serverkit import running_server
from support.shared import SHARED
from tokcount import loader
from tokcount.models.catalog import default_catalog
from tokcount.settings import Settings

CALIBRATION = SHARED / "calibration"
HELLO = "Hello, how are you today?"


def _recorded_models() -> list[str]:
    """The model name of every recorded request, in every file of the calibration set (vertex.jsonl included)."""
    names = []
    for path in sorted(CALIBRATION.glob("*.jsonl")):
        with open(path, encoding="utf-8") as f:
            names.extend(json.loads(line)["model"] for line in f if line.strip())
    return names


def test_every_recorded_model_name_has_its_own_entry() -> None:
    """All 1,663 recorded requests name a model the catalog lists (an id, alias or dated snapshot): none is a 404,
    none is counted by a family rule, none silently as another model (the recorded name starts with the entry's
    id or one of its aliases: claude-sonnet-5 as Opus 4.7 would fail here)."""
    recorded = _recorded_models()
    assert len(recorded) >= 1663  # the whole set was read
    catalog = default_catalog()
    wrong = []
    for name in sorted(set(recorded)):
        spec = catalog.resolve(name)
        plain = name.removeprefix("models/")
        by_family = getattr(spec, "family_match", None) is not None
        if by_family or not any(plain.startswith(n) for n in (spec.id, *spec.aliases)):
            wrong.append((name, spec.id))
    assert not wrong, wrong


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with running_server(Settings(default_model="qwen3.5")) as url:
        yield url


@pytest.mark.parametrize(("path", "body", "resolved"), [
    ("/v1/messages/count_tokens", {"model": "claude-sonnet-9", "messages": [{"role": "user", "content": HELLO}]},
     "claude-opus-5-5"),
    ("/v1/responses/input_tokens", {"model": "openai/gpt-5.9", "input": HELLO}, "gpt-5.6-sol"),
    ("/v1beta/models/gemini-4-flash:countTokens", {"contents": HELLO}, "gemini-3.5-flash"),
    ("/v1/count_tokens", {"model": "anthropic/claude-fable-9", "input": HELLO}, "claude-opus-5-5"),
])
def test_an_unlisted_family_name_is_counted_and_labelled(base: str, path: str, body: dict, resolved: str) -> None:
    r = httpx.post(base + path, json=body, timeout=60)
    assert r.status_code == 200, r.text
    assert r.headers["x-tokcount-exact"] == "false"
    assert r.headers["x-tokcount-resolved-as"] == resolved
    assert r.headers["x-tokcount-method"].endswith(f"+rules-of:{resolved}")
    assert "x-tokcount-fits" not in r.headers  # the window of an unlisted model is not known
    # the same number as the entry it resolved to, counted by name
    same = dict(body, model=resolved) if "model" in body else body
    path_same = path.replace("gemini-4-flash", resolved)
    twin = httpx.post(base + path_same, json=same, timeout=60)
    assert twin.status_code == 200 and "x-tokcount-resolved-as" not in twin.headers
    assert r.json() == twin.json() or r.json().get("input_tokens") == twin.json().get("input_tokens")


@pytest.mark.parametrize(("path", "body", "status", "shape"), [
    ("/v1/messages/count_tokens", {"model": "llama-99-chat", "messages": [{"role": "user", "content": HELLO}]}, 404,
     lambda j: j["type"] == "error" and j["error"]["type"] == "not_found_error"),
    ("/v1/responses/input_tokens", {"model": "gpt-7", "input": HELLO}, 404,
     lambda j: j["error"]["code"] == "model_not_found"),
    ("/v1beta/models/palm-3:countTokens", {"contents": HELLO}, 404,
     lambda j: j["error"]["status"] == "NOT_FOUND" and j["error"]["code"] == 404),
    # someone's Hub repo whose name contains a family's: not that family, and not allowed by default
    ("/v1/messages/count_tokens", {"model": "SomeOrg/claude-style-7b", "messages": [{"role": "user", "content": "x"}]},
     403, lambda j: j["type"] == "error"),
])
def test_a_name_of_no_family_is_refused_in_the_routes_shape(base: str, path: str, body: dict, status: int,
                                                             shape) -> None:
    r = httpx.post(base + path, json=body, timeout=60)
    assert r.status_code == status, r.text
    assert shape(r.json()), r.json()
    assert "x-tokcount-resolved-as" not in r.headers


def test_a_listed_new_model_names_the_rules_it_borrows() -> None:
    """claude-sonnet-5 is its own entry counted with Opus 4.8's rules (ctok's v4.8 table), and says so; Gemini 3.5
    Flash's Gemma 4 vocabulary is not available, so its text is an estimate (Gemini 3 Flash's text count is
    labelled as before)."""
    sonnet = tokcount.count("claude-sonnet-5", [{"role": "user", "content": HELLO}])
    assert sonnet.model == "claude-sonnet-5" and sonnet.method.endswith("+rules-of:claude-opus-4-8")
    assert sonnet.input_tokens == tokcount.count("claude-opus-4-8", [{"role": "user", "content": HELLO}]).input_tokens
    assert sonnet.resolved_as is None and sonnet.context_window == 1000000
    flash = tokcount.count_text("gemini-3.5-flash", HELLO)
    assert flash.exact is False and any("gemma4" in n for n in flash.notes)
    assert tokcount.count_text("gemini-2.5-flash", HELLO).exact is True


def test_made_up_family_names_load_the_vocabulary_once() -> None:
    """A family name resolves to the entry's own spec (the loader's key), so any number of made-up names costs one
    load and one LRU slot, never a load each (which anyone could otherwise use to churn the model cache)."""
    entry = default_catalog().models["gemini-3.5-flash"]
    before = loader.loads[entry.id]
    counts = {tokcount.count(f"gemini-9.{i}-flash", [{"role": "user", "content": HELLO}]).input_tokens
              for i in range(20)}
    assert len(counts) == 1
    assert loader.loads[entry.id] - before <= 1
    assert sum(1 for spec in list(loader._models) if spec.id == entry.id) == 1


def test_fit_needs_a_budget_for_an_unlisted_family_name() -> None:
    """tokcount.fit defaults the budget to the model's window; an unlisted model's is not known, so it asks for one
    (a listed one still defaults), on the library and on the /v1/fit route's shape alike."""
    from tokcount.errors import InvalidRequest
    from tokcount.fit import fit, fit_answer

    chat = [{"role": "user", "content": HELLO}]
    with pytest.raises(InvalidRequest, match="give a budget"):
        fit("gpt-5.9", chat)
    assert fit("gpt-5.9", chat, budget=1000).tokens_after == tokcount.count("gpt-5.9", chat).input_tokens
    assert fit("gpt-5.6-sol", chat).tokens_after > 0
    out = fit_answer("anthropic", {"model": "claude-sonnet-9", "messages": chat}, Settings())
    assert out.status == 400 and "give a budget" in json.dumps(out.body)
