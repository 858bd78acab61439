"""Engine behaviour beyond the corpus: name resolution, errors, conventions, breakdown, token ids."""

from __future__ import annotations

import json

import pytest
from tokenizers import Tokenizer as HFTokenizer

import tokcount
from support.shared import HUB
from tokcount import InvalidRequest, TemplateError, UnknownModel, loader
from tokcount.availability import availability
from tokcount.models.catalog import default_catalog

CHAT = {"messages": [{"role": "system", "content": "You are a helpful assistant."},
                     {"role": "user", "content": "Hello, world!"}]}
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name"}},
                   "required": ["city"]}}}]
B_OAI = {"tools": TOOLS, "messages": [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What's the weather in Paris?"},
    {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {
        "name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "{\"temperature_c\": 18, \"condition\": \"sunny\"}"}]}


@pytest.mark.parametrize("name", ["minimax/minimax-m2.5", "MiniMaxAI/MiniMax-M2.5", "MINIMAX-M2.5",
                                  "openrouter/minimax/minimax-m2.5", "minimax-m2.5"])
def test_names_resolve_case_insensitively_with_prefixes(name: str) -> None:
    assert default_catalog().resolve(name).id == "minimax-m2.5"


def test_kimi_and_step_aliases() -> None:
    cat = default_catalog()
    assert cat.resolve("moonshot/kimi-k2.6").id == "kimi-k2.6"
    assert cat.resolve("kimi-k2-turbo-preview").id == "kimi-k2"
    assert cat.resolve("stepfun/step-3.7-flash").id == "step-3.7-flash"
    assert cat.resolve("deepseek-ai/DeepSeek-V3.1").id == "deepseek-v3.1"


def test_every_catalog_model_with_local_files_is_reachable_by_repo_id() -> None:
    cat = default_catalog()
    reachable = 0
    for spec in cat.models.values():
        assert cat.resolve(spec.repo) == spec
        if availability(spec):
            assert tokcount.count(spec.repo, CHAT).input_tokens == tokcount.count(spec.id, CHAT).input_tokens
            reachable += 1
    assert reachable >= 15


def test_unknown_model_suggests_close_names() -> None:
    with pytest.raises(UnknownModel) as err:
        tokcount.count("minimax/minimax-m2.6", CHAT)
    assert "minimax-m2.5" in err.value.suggestions
    assert "Did you mean" in err.value.message
    with pytest.raises(UnknownModel):
        tokcount.count("qwen-9000", CHAT)


def test_template_error_is_surfaced() -> None:
    with pytest.raises(TemplateError) as err:  # Gemma 3's template rejects the tool role
        tokcount.count("gemma-3", B_OAI)
    assert "Conversation roles must alternate" in err.value.message


@pytest.mark.parametrize("body,param", [
    ({"messages": "hi"}, "messages"),
    ({"messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": [{"type": "text"}]}]}, "messages[0].content[0].text"),
    ({"messages": [{"role": "user", "content": [{"type": "hologram"}]}]}, "messages[0].content[0].type"),
    ({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function", "function": {}}]},
     "tools[0].function.name"),
    ({"messages": []}, "messages"),
    ({"messages": [{"role": "user", "content": "x"}], "tool_choice": "sometimes"}, "tool_choice"),
])
def test_malformed_requests_name_the_field(body: dict, param: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        tokcount.count("qwen3-8b", body)
    assert err.value.param == param


def test_string_and_dict_arguments_count_the_same_for_object_templates() -> None:
    as_dict = json.loads(json.dumps(B_OAI))
    as_dict["messages"][2]["tool_calls"][0]["function"]["arguments"] = {"city": "Paris"}
    for model in ("qwen3.5", "minimax-m2.5", "glm-4.7-flash"):
        assert tokcount.count(model, B_OAI).input_tokens == tokcount.count(model, as_dict).input_tokens


B_DICT_COUNTS = {"MiniMaxAI/MiniMax-M2.5": 239, "MiniMaxAI/MiniMax-M3": 475, "zai-org/GLM-4.5V": 223,
                 "zai-org/GLM-4.7-Flash": 209, "deepseek-ai/DeepSeek-V3.2": 395, "deepseek-ai/DeepSeek-V4": 364,
                 "Qwen/Qwen3-8B": 215, "Qwen/Qwen3.5-9B": 348, "Qwen/Qwen3.6-27B": 348,
                 "meta-llama/Llama-3.1-8B-Instruct": 238, "openai/gpt-oss-20b": 186}


@pytest.mark.parametrize("repo,expected", sorted(B_DICT_COUNTS.items()))
def test_assets_readme_chat_b_dict_counts(repo: str, expected: int) -> None:
    """The oracle counts printed in ../shared/assets/README.md for chat b_dict (dict arguments, named tool
    message) — the shape the conventions turn OpenAI's string arguments into."""
    b_dict = json.loads(json.dumps(B_OAI))
    b_dict["messages"][2]["content"] = ""
    b_dict["messages"][2]["tool_calls"][0]["function"]["arguments"] = {"city": "Paris"}
    b_dict["messages"][3]["name"] = "get_weather"
    assert tokcount.count(repo, b_dict).input_tokens == expected


def test_breakdown_attributes_tools_and_messages() -> None:
    c = tokcount.count("qwen3.5", B_OAI)
    b = c.breakdown
    assert b["tools"] > 50 and b["system"] > 0 and len(b["messages"]) == 3
    assert b["system"] + b["tools"] + sum(b["messages"]) + b["template"] == c.input_tokens
    without = tokcount.count("qwen3.5", {**B_OAI, "tools": None})
    assert c.input_tokens - without.input_tokens == b["tools"]


def test_deepseek_v31_template_ignores_tools() -> None:
    b_str = json.loads(json.dumps(B_OAI))
    b_str["messages"][2]["content"] = ""
    c = tokcount.count("deepseek-v3.1", b_str)
    assert c.input_tokens == 48  # the assets README's oracle count for chat b_str
    assert c.breakdown["tools"] == 0


def test_tokens_and_strings_match_reference_tokenizer() -> None:
    c = tokcount.count("qwen3-8b", CHAT, return_tokens=True)
    model = loader.load(default_catalog().resolve("qwen3-8b"))
    ref = HFTokenizer.from_file(str(HUB / "Qwen" / "Qwen3-8B" / "tokenizer.json"))
    from tokcount.count import as_request, render_prompt

    prompt = render_prompt(model, as_request(CHAT))
    assert c.tokens == ref.encode(prompt, add_special_tokens=False).ids
    assert len(c.tokens) == c.input_tokens == len(c.token_strings)
    assert c.token_strings[0] == "<|im_start|>"


@pytest.mark.parametrize("repo", ["Qwen/Qwen3-8B", "deepseek-ai/DeepSeek-V3.1", "google/gemma-3-1b-it",
                                  "MiniMaxAI/MiniMax-M2.5", "meta-llama/Llama-3.1-8B-Instruct"])
def test_added_token_splitting_equals_reference(repo: str) -> None:
    """Special-token strings embedded in text are recognised exactly as `tokenizers` recognises them."""
    ref = HFTokenizer.from_file(str(HUB / repo / "tokenizer.json"))
    tok = loader.load(default_catalog().resolve(repo)).tokenizer
    texts = [
        "Ignore: <|im_end|><|im_start|>system <|endoftext|> [INST] </s> <think>hmm</think>",
        "<|im_start|><|im_start|>x<|im_end|>\n\n<|im_end|>",
        "<｜begin▁of▁sentence｜><｜User｜>hi<｜Assistant｜></think>ok<｜end▁of▁sentence｜>",
        "<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n",
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>",
        "]~b]user\nhi[e~[\n]~b]ai\n<think>",
        "  spaces  <tool_call>\n{\"a\": 1}\n</tool_call>  ",
    ]
    for text in texts:
        assert tok.encode(text) == ref.encode(text, add_special_tokens=False).ids, text
        assert tok.count(text) == len(ref.encode(text, add_special_tokens=False).ids)


@pytest.mark.parametrize("repo", ["google/gemma-3-1b-it", "deepseek-ai/DeepSeek-V4", "Qwen/Qwen3.5-9B",
                                  "meta-llama/Llama-3.1-8B-Instruct"])
def test_added_tokens_in_random_mixtures_split_like_tokenizers(repo: str) -> None:
    """Added tokens, their prefixes and overlapping concatenations (newline runs in Gemma, shared prefixes such as
    ``<unused1`` / ``<unused12>``) amid text: leftmost-longest exactly as `tokenizers` matches them."""
    import random

    ref = HFTokenizer.from_file(str(HUB / repo / "tokenizer.json"))
    tok = loader.load(default_catalog().resolve(repo)).tokenizer
    specials = sorted(tok.added.by_content)
    rnd = random.Random(repo)
    for _ in range(60):
        pieces = []
        for _ in range(rnd.randint(1, 40)):
            t = rnd.choice(specials)
            pieces.append(rnd.choice([t, t[: rnd.randint(1, len(t))], t + t[:2], " x ", "\n", "<", "|>", "é"]))
        text = "".join(pieces)
        assert tok.encode(text) == ref.encode(text, add_special_tokens=False).ids, text


def test_last_assistant_message_is_continued() -> None:
    body = {"messages": [{"role": "user", "content": "Write a poem"}, {"role": "assistant", "content": "Roses are"}]}
    c = tokcount.count("qwen3-8b", body, return_tokens=True)
    assert "".join(c.token_strings).endswith("Roses")  or c.token_strings[-1].endswith("are")
    assert "<|im_end|>" not in c.token_strings[-2:]


def test_thinking_switch_reaches_hybrid_templates() -> None:
    body = {"messages": [{"role": "user", "content": "hi"}]}
    on = tokcount.count("qwen3-8b", {**body, "chat_template_kwargs": {"enable_thinking": True}}).input_tokens
    off = tokcount.count("qwen3-8b", {**body, "chat_template_kwargs": {"enable_thinking": False}}).input_tokens
    assert off == on + 4  # Qwen3 writes an empty "<think>\n\n</think>\n\n" when thinking is off
