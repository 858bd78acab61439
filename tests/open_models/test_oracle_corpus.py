"""Exactness: tokcount's count equals transformers' apply_chat_template(tokenize=True) on the same files, for
every model with a tokenizer and template in ../shared/assets and every text case of the shared corpus (image
cases belong to the media tests). Where the oracle's template raises, tokcount must raise TemplateError too."""

from __future__ import annotations

import pytest

import tokcount
from support.oracle import SETUPS, oracle_count
from support.shared import has_media, load_corpus
from tokcount import TemplateError

CASES = [c for c in load_corpus() if not has_media(c)]


@pytest.mark.parametrize("setup", SETUPS, ids=[s["model"] for s in SETUPS])
def test_corpus_matches_oracle(setup: dict) -> None:
    assert len(CASES) >= 50, "the shared corpus is missing or truncated"
    mismatches, equal, same_error = [], 0, 0
    for case in CASES:
        try:
            expected: int | None = oracle_count(setup, case)
        except Exception as exc:  # the oracle's template refused the conversation
            expected, oracle_error = None, exc
        try:
            got = tokcount.count(setup["model"], {"messages": case["messages"], "tools": case.get("tools")})
        except TemplateError as exc:
            if expected is not None:
                mismatches.append(f"{case['id']}: tokcount raised {exc.message!r}, oracle counted {expected}")
            else:
                same_error += 1
            continue
        if expected is None:
            mismatches.append(f"{case['id']}: oracle raised {oracle_error!r}, tokcount counted {got.input_tokens}")
        elif got.input_tokens != expected:
            mismatches.append(f"{case['id']}: tokcount {got.input_tokens} != oracle {expected}")
        else:
            equal += 1
            b = got.breakdown
            assert b["system"] + b["tools"] + sum(b["messages"]) + b["template"] == got.input_tokens
            assert got.exact
    assert not mismatches, f"{setup['model']}: {len(mismatches)} of {len(CASES)} differ:\n" + "\n".join(mismatches[:20])
    # a template that refuses most of the corpus would pass the comparison above while checking little
    assert equal >= len(CASES) // 2, f"{setup['model']}: only {equal} of {len(CASES)} counted ({same_error} refused)"
