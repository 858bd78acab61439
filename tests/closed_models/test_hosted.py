"""A model a closed platform hosts is counted as that platform's API counts it (the catalog's ``[[hosted]]``
rules): Gemma 3 asked for through the Gemini API's route is Gemini's count of its text (what the API recorded),
labelled as borrowed rules; the same model through an open-model route still renders its own chat template."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

import tokcount
from support.serverkit import running_server
from support.shared import SHARED
from tokcount.count import counted_as
from tokcount.dialects import gemini
from tokcount.estimate_error import family_of, key_of
from tokcount.models.catalog import Catalog, default_catalog
from tokcount.settings import Settings


def _recorded(case_id: str) -> dict:
    with open(SHARED / "calibration" / "gemini.jsonl", encoding="utf-8") as f:
        return next(c for c in map(json.loads, f) if c["id"] == case_id)


#: crewAI's gemma-3-27b-it through the Gemini API: the API answered 8
GEMMA = _recorded("x-gemini-0038")
BODY = GEMMA["request"]


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with running_server(Settings(preload=())) as url:
        yield url


def test_the_recorded_count_through_the_gemini_route(base: str) -> None:
    r = httpx.post(f"{base}/v1beta/models/gemma-3-27b-it:countTokens", json=BODY, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["totalTokens"] == GEMMA["expected"] == 8
    # borrowed rules are never a verified claim: labelled, with whose rules they are
    assert r.headers["x-tokcount-exact"] == "false"
    assert "+rules-of:gemini-2.5-flash" in r.headers["x-tokcount-method"]


def test_the_same_model_through_an_open_model_route_renders_its_template(base: str) -> None:
    text = BODY["generateContentRequest"]["contents"][0]["parts"][0]["text"]
    r = httpx.post(f"{base}/v1/messages/count_tokens", timeout=60,
                   json={"model": "gemma-3-27b-it", "messages": [{"role": "user", "content": text}]})
    assert r.status_code == 200, r.text
    library = tokcount.count("gemma-3-27b-it", [{"role": "user", "content": text}])
    assert r.json()["input_tokens"] == library.input_tokens == 16  # <bos><start_of_turn>user ... model\n
    assert library.exact and "chat_template" in library.method


def test_vertex_hosts_it_too() -> None:
    job = gemini.parse(BODY, Settings(), "gemma-3-27b-it")
    job.request.api = "vertex"
    c = tokcount.count(job.models[0], job.request)
    assert not c.exact and "+rules-of:gemini-2.5-flash" in c.method


def test_a_rule_names_a_listed_entry() -> None:
    catalog = Catalog()
    catalog.load_toml('[[model]]\nid = "m"\nfamily = "f"\nrepo = "o/m"\n', "first")
    with pytest.raises(ValueError, match=r"\[\[hosted\]\] needs"):
        catalog.load_toml('[[hosted]]\napi = ["gemini"]\nfamily = "f"\nrules = "nowhere"\n', "second")


def test_no_platform_or_another_family_is_the_model_itself() -> None:
    catalog = default_catalog()
    gemma = catalog.resolve("gemma-3-27b-it")
    assert catalog.hosted(gemma, None) is gemma
    assert catalog.hosted(gemma, "responses") is gemma
    qwen = catalog.resolve("qwen3.5")
    assert catalog.hosted(qwen, "gemini") is qwen


def test_the_estimate_error_is_the_borrowed_generations() -> None:
    """A hosted Gemma count is measured with the Gemini generation whose rules count it (the service and the
    calibration runner key it alike: count.counted_as); an alias such as gemini-flash-latest by its `rules`."""
    job = gemini.parse(BODY, Settings(), "gemma-3-27b-it")
    assert key_of(counted_as(job.models[0], job.request), job.request) == ("gemini", "gemini-2.5", "text")
    c = tokcount.count(job.models[0], job.request)
    assert c.estimate_error is not None and c.estimate_error.group.startswith("gemini/")
    assert family_of(default_catalog().resolve("gemini-flash-latest")) == \
        default_catalog().resolve("gemini-flash-latest").extra["rules"]
