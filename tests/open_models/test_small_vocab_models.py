"""StepFun: real chat templates from ../shared, a vocabulary built by the tests (the real one is not reachable here).
The oracle renders with transformers and tokenizes with transformers on that tokenizer.json. (Kimi's real vocabulary
is in ../shared and tokcount builds it itself: tests/open_models/test_kimi.py.)"""

from __future__ import annotations

import shutil

import pytest
from transformers import PreTrainedTokenizerFast

import tokcount
from support.oracle import prepare
from support.shared import ASSETS, HUB, has_media, load_corpus
from support.small_vocab import corpus_text, write_step_tokenizer
from tokcount import TemplateError, loader, settings_in_force

CASES = [c for c in load_corpus() if not has_media(c)]


@pytest.fixture(scope="module")
def built_assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("assets")
    text = corpus_text()
    write_step_tokenizer(root / "hub" / "stepfun-ai" / "Step-3.7-Flash", text)
    shutil.copytree(root / "hub" / "stepfun-ai" / "Step-3.7-Flash", root / "hub" / "stepfun-ai" / "Step-3.5-Flash")
    with settings_in_force.using(asset_dirs=(str(root), str(ASSETS))):
        loader.clear()
        yield root
    loader.clear()


@pytest.mark.parametrize("model,template_dir", [("stepfun/step-3.7-flash", "Step-3.7-Flash"),
                                                ("step-3.5-flash", "Step-3.5-Flash")])
def test_stepfun_corpus_matches_transformers_oracle(built_assets, model: str, template_dir: str) -> None:
    root = built_assets
    tok_dir = root / "hub" / "stepfun-ai" / template_dir
    tok = PreTrainedTokenizerFast(tokenizer_file=str(tok_dir / "tokenizer.json"), bos_token="<|BOT|>",
                                  eos_token="<|EOT|>")
    tok.chat_template = (HUB / "stepfun-ai" / template_dir / "chat_template.jinja").read_text()
    equal = errors = 0
    for case in CASES:
        messages = prepare(case["messages"], keeps_lists=True, string_args=False)
        try:
            expected = len(tok.apply_chat_template(messages, tools=case.get("tools"), add_generation_prompt=True,
                                                   tokenize=True)["input_ids"])
        except Exception:
            with pytest.raises(TemplateError):
                tokcount.count(model, {"messages": case["messages"], "tools": case.get("tools")})
            errors += 1
            continue
        got = tokcount.count(model, {"messages": case["messages"], "tools": case.get("tools")})
        assert got.input_tokens == expected, case["id"]
        equal += 1
    assert equal > len(CASES) // 2, (equal, errors)
