"""The calibration runner (bench/calibrate.py) runs in CI: every case exact when the pin file was written stays
exact, the runner never fails on accuracy, and its tables and generated doc have the promised shape."""

from __future__ import annotations

import json

import pytest

from bench import calibrate
from support.shared import REPO, SHARED

CALIBRATION = SHARED / "calibration"
PINNED: list[str] = json.loads((REPO / "tests" / "data" / "calibration_exact.json").read_text(encoding="utf-8"))


def checkable(outcomes: list[calibrate.Outcome]) -> set[str]:
    """The pinned ids this interpreter can reproduce: Claude's were pinned with ctok counting the text (Python
    3.12+, the project's interpreter, as in CI); where ctok is not installed the labelled proxy counts Claude."""
    from tokcount.tokenizers import claude

    return {o.id for o in outcomes if claude.available() or o.provider != "anthropic"}


@pytest.fixture(scope="module")
def outcomes() -> list[calibrate.Outcome]:
    if not CALIBRATION.is_dir():
        pytest.skip(f"no calibration set at {CALIBRATION}")
    return calibrate.run(CALIBRATION)


def test_every_pinned_case_stays_exact(outcomes: list[calibrate.Outcome]) -> None:
    by_id = {o.id: o for o in outcomes}
    missing = [i for i in PINNED if i not in by_id]
    assert not missing, f"pinned ids not in the calibration set: {missing}"
    here = checkable(outcomes)
    broken = [(i, by_id[i].expected, by_id[i].got, by_id[i].error) for i in PINNED if i in here and not by_id[i].exact]
    assert not broken, f"cases that were exact are not any more (id, expected, got, error): {broken}"


def test_pin_file_is_what_the_runner_writes(outcomes: list[calibrate.Outcome], tmp_path) -> None:
    """The pin file is sorted, unique and a subset of today's exact ids (run ``--pin`` after an improvement)."""
    assert sorted(set(PINNED)) == PINNED
    written = calibrate.write_pin(outcomes, tmp_path / "pin.json")
    assert set(PINNED) & checkable(outcomes) <= set(written)
    assert json.loads((tmp_path / "pin.json").read_text()) == written


def test_every_case_is_counted_and_grouped(outcomes: list[calibrate.Outcome]) -> None:
    lines = sum(1 for p in calibrate.PROVIDERS
                for line in (CALIBRATION / f"{p}.jsonl").read_text(encoding="utf-8").splitlines() if line.strip())
    assert len(outcomes) == lines
    rows = calibrate.table(outcomes)
    overall = {r[0]: r for r in rows if r[1] == "**all**"}
    for provider in calibrate.PROVIDERS:
        n = sum(o.provider == provider for o in outcomes)
        assert overall[f"**{provider}**"][3] == str(n)
    assert all(len(r) == len(calibrate.HEADER) for r in rows)


def test_refusal_is_a_miss_not_a_crash(tmp_path) -> None:
    """A case tokcount cannot count (bad body, unknown model) is reported as refused and 100 % off."""
    bad = {"id": "x-1", "model": "gpt-4o", "dialect": "openai-chat", "request": {"messages": "nope"},
           "expected": 10, "scope": "text"}
    unknown = {"id": "x-2", "model": "no-such-model-zz", "dialect": "openai-chat",
               "request": {"messages": [{"role": "user", "content": "hi"}]}, "expected": 8, "scope": "text"}
    ok = {"id": "x-3", "model": "gpt-4o-2024-08-06", "dialect": "openai-chat",
          "request": {"messages": [{"role": "user", "content": "Hello"}]}, "expected": 8, "scope": "text"}
    (tmp_path / "openai.jsonl").write_text("\n".join(json.dumps(c) for c in (bad, unknown, ok)) + "\n")
    got = {o.id: o for o in calibrate.run(tmp_path)}
    assert got["x-1"].got is None and "messages" in got["x-1"].error and got["x-1"].rel_error == 1.0
    assert got["x-2"].got is None and got["x-2"].family.startswith("unresolved:")
    assert got["x-3"].family == "gpt-4o" and got["x-3"].got == 1 + 3 + 1 + 3  # role, framing, "Hello", priming
    assert calibrate.main(["--dir", str(tmp_path), "--show-misses"]) == 0


def test_generated_doc_names_its_command(outcomes: list[calibrate.Outcome]) -> None:
    text = calibrate.document(outcomes, CALIBRATION)
    assert calibrate.COMMAND in text
    committed = (REPO / "docs" / "closed-models-accuracy.md")
    if committed.is_file():
        assert calibrate.COMMAND in committed.read_text(encoding="utf-8")


def test_openai_never_claims_exact_wrongly(outcomes: list[calibrate.Outcome]) -> None:
    """An OpenAI count labelled ``exact: true`` must equal what the API returned (labels that tell the truth)."""
    wrong = [(o.id, o.expected, o.got, o.method) for o in outcomes
             if o.provider == "openai" and o.exact_label and not o.exact]
    assert not wrong, wrong


def test_each_erratum_applies_and_explains_its_case(tmp_path) -> None:
    """An erratum (bench/calibration_errata.toml) names a case of the set, its text is in the recorded request,
    and undoing it is what makes the count equal the API's: the recorded body gives another count."""
    found = calibrate.errata()
    assert found, "no errata: drop this test with the file"
    cases = {c["id"]: (p, c) for p, c in calibrate.load_cases(CALIBRATION) if c["id"] in found}
    assert set(cases) == set(found), f"errata for ids not in the set: {set(found) - set(cases)}"
    for case_id, (provider, case) in cases.items():
        assert case["erratum"]["why"].strip()
        recorded = next(json.loads(line) for line in (CALIBRATION / f"{provider}.jsonl").read_text().splitlines()
                        if line.strip() and json.loads(line)["id"] == case_id)
        assert calibrate.as_sent(recorded["request"], found[case_id]) != recorded["request"]
        assert calibrate.run_case(provider, case).exact
        assert not calibrate.run_case(provider, recorded).exact
