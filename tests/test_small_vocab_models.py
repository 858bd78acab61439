"""Kimi and StepFun: real chat templates from ../shared, vocabularies built by the tests (the real ones are not
reachable here). The oracle renders with transformers and tokenizes with the reference library of each format:
tiktoken with all added tokens allowed (Kimi's tokenizer is tiktoken), transformers for tokenizer.json (StepFun)."""

from __future__ import annotations

import json
import shutil

import pytest
import tiktoken
from transformers import PreTrainedTokenizerFast
from transformers.utils.chat_template_utils import render_jinja_template

import tokcount
from conftest import ASSETS, HUB, has_media, load_corpus
from oracle import prepare
from small_vocab import corpus_text, train_byte_bpe_ranks, write_step_tokenizer, write_tiktoken_file
from tokcount import TemplateError, config, loader
from tokcount.models.catalog import default_catalog

CASES = [c for c in load_corpus() if not has_media(c)]


@pytest.fixture(scope="module")
def built_assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("assets")
    text = corpus_text()
    ranks = train_byte_bpe_ranks(text)
    write_tiktoken_file(root / "hub" / "moonshotai" / "Kimi-K2.6" / "tiktoken.model", ranks)
    write_step_tokenizer(root / "hub" / "stepfun-ai" / "Step-3.7-Flash", text)
    shutil.copytree(root / "hub" / "stepfun-ai" / "Step-3.7-Flash", root / "hub" / "stepfun-ai" / "Step-3.5-Flash")
    with config.using(asset_dirs=(str(root), str(ASSETS))):
        loader.clear()
        yield root, ranks
    loader.clear()


def _kimi_oracle(ranks: dict[bytes, int], config: dict) -> tiktoken.Encoding:
    specials = {v["content"]: int(k) for k, v in config["added_tokens_decoder"].items()}
    for i in range(len(ranks), len(ranks) + 256):
        specials.setdefault(f"<|reserved_token_{i}|>", i)
    return tiktoken.Encoding(name="kimi-test", pat_str=default_catalog().patterns["kimi"], mergeable_ranks=ranks,
                             special_tokens=specials)


def _render(template: str, messages, tools, specials: dict) -> str:
    last_assistant = messages[-1]["role"] == "assistant"
    messages = [{k: v for k, v in m.items() if v is not None} for m in messages]
    rendered, _ = render_jinja_template(conversations=[messages], tools=tools, chat_template=template,
                                        add_generation_prompt=not last_assistant,
                                        continue_final_message=last_assistant, **specials)
    return rendered[0]


def test_kimi_corpus_matches_tiktoken_oracle(built_assets) -> None:
    _root, ranks = built_assets
    kimi_dir = HUB / "moonshotai" / "Kimi-K2.6"
    config = json.loads((kimi_dir / "tokenizer_config.json").read_text())
    template = (kimi_dir / "chat_template.jinja").read_text()
    enc = _kimi_oracle(ranks, config)
    specials = {k: config[k] for k in ("bos_token", "eos_token", "pad_token", "unk_token")}
    checked = 0
    for case in CASES:
        messages = prepare(case["messages"], keeps_lists=True, string_args=False)
        expected = len(enc.encode(_render(template, messages, case.get("tools"), specials), allowed_special="all"))
        got = tokcount.count("moonshot/kimi-k2.6", {"messages": case["messages"], "tools": case.get("tools")})
        assert got.input_tokens == expected, case["id"]
        assert got.method == "chat_template+tiktoken"
        checked += 1
    assert checked == len(CASES)


def test_kimi_special_strings_are_single_tokens(built_assets) -> None:
    text = "<|im_user|>user<|im_middle|>hi<|im_end|><think>x</think><|media_pad|>"
    got = tokcount.count_text("kimi-k2.6", text, return_tokens=True)
    assert got.tokens[:1] == [163587] and 163586 in got.tokens and 163606 in got.tokens
    assert got.token_strings[0] == "<|im_user|>"


@pytest.mark.parametrize("model,template_dir", [("stepfun/step-3.7-flash", "Step-3.7-Flash"),
                                                ("step-3.5-flash", "Step-3.5-Flash")])
def test_stepfun_corpus_matches_transformers_oracle(built_assets, model: str, template_dir: str) -> None:
    root, _ranks = built_assets
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
