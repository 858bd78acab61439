"""The independent oracle: ``transformers`` on the same model files, with the message conventions applied by
code written separately from tokcount's (so a bug in tokcount's preparation cannot hide in both)."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from functools import cache
from pathlib import Path

import transformers.utils.chat_template_utils as ctu
from transformers import PreTrainedTokenizerFast

from support.shared import HUB, PINNED_NOW


class _PinnedDatetime(datetime):
    @classmethod
    def now(cls, tz=None):
        return datetime.fromisoformat(PINNED_NOW)


ctu.datetime = _PinnedDatetime  # strftime_now in templates reads this module's datetime


def _token(value):
    return value.get("content") if isinstance(value, dict) else value


@cache
def oracle_tokenizer(tokenizer_file: str, config_file: str | None, template_file: str) -> PreTrainedTokenizerFast:
    config = json.loads(Path(config_file).read_text()) if config_file else {}
    tok = PreTrainedTokenizerFast(
        tokenizer_file=tokenizer_file,
        **{k: _token(config[k]) for k in ("bos_token", "eos_token", "pad_token", "unk_token") if config.get(k)},
    )
    if template_file.endswith(".json"):
        tok.chat_template = json.loads(Path(template_file).read_text())["chat_template"]
    else:
        tok.chat_template = Path(template_file).read_text()
    return tok


def prepare(messages: list[dict], *, keeps_lists: bool, string_args: bool) -> list[dict]:
    """The conventions of the exact-counting issue, applied to OpenAI-chat messages."""
    out = []
    for raw in messages:
        m = copy.deepcopy(raw)
        if m.get("content") is None:
            m["content"] = ""
        if isinstance(m["content"], list) and not keeps_lists:
            m["content"] = "\n".join(p["text"] for p in m["content"] if p.get("type") == "text")
        for call in m.get("tool_calls") or []:
            args = call["function"]["arguments"]
            if not string_args and isinstance(args, str):
                call["function"]["arguments"] = json.loads(args)
        out.append(m)
    return out


def oracle_count(setup: dict, case: dict) -> int:
    """The number of input ids ``apply_chat_template(..., tokenize=True)`` produces (raises as it raises)."""
    tok = oracle_tokenizer(
        str(HUB / setup["tokenizer"]),
        str(HUB / setup["config"]) if setup.get("config") else None,
        str(HUB / setup["template"]),
    )
    messages = prepare(case["messages"], keeps_lists=setup["keeps_lists"], string_args=setup["string_args"])
    last_assistant = messages[-1]["role"] == "assistant"
    enc = tok.apply_chat_template(
        messages, tools=case.get("tools"), add_generation_prompt=not last_assistant,
        continue_final_message=last_assistant, tokenize=True,
    )
    return len(enc["input_ids"])


# Each model checked against the oracle: the name tokcount is asked with, and the files the oracle loads.
# keeps_lists = the template loops over message content (read by hand from each template, independently of
# tokcount's syntax-tree detection); string_args = the template wants tool-call arguments as a JSON string.
SETUPS: list[dict] = [
    {"model": "MiniMaxAI/MiniMax-M2.5", "tokenizer": "MiniMaxAI/MiniMax-M2.5/tokenizer.json",
     "config": "MiniMaxAI/MiniMax-M2.5/tokenizer_config.json", "template": "MiniMaxAI/MiniMax-M2.5/chat_template.jinja",
     "keeps_lists": True, "string_args": False, "family": "minimax"},
    {"model": "minimax-m2.7", "tokenizer": "MiniMaxAI/MiniMax-M2.5/tokenizer.json",
     "config": "MiniMaxAI/MiniMax-M2.5/tokenizer_config.json",
     "template": "MiniMaxAI/MiniMax-M2.5/chat_template.minimax-m2.7.jinja",
     "keeps_lists": True, "string_args": False, "family": "minimax"},
    {"model": "MiniMaxAI/MiniMax-M3", "tokenizer": "MiniMaxAI/MiniMax-M3/tokenizer.json",
     "config": "MiniMaxAI/MiniMax-M3/tokenizer_config.json", "template": "MiniMaxAI/MiniMax-M3/chat_template.jinja",
     "keeps_lists": True, "string_args": False, "family": "minimax"},
    {"model": "zai-org/GLM-4.5V", "tokenizer": "zai-org/GLM-4.5V/tokenizer.json",
     "config": "zai-org/GLM-4.5V/tokenizer_config.json", "template": "zai-org/GLM-4.5V/chat_template.jinja",
     "keeps_lists": True, "string_args": False, "family": "glm"},
    {"model": "glm-4.6v", "tokenizer": "zai-org/GLM-4.5V/tokenizer.json",
     "config": "zai-org/GLM-4.5V/tokenizer_config.json", "template": "zai-org/GLM-4.5V/chat_template.glm-4.6v.jinja",
     "keeps_lists": True, "string_args": False, "family": "glm"},
    {"model": "zai-org/GLM-4.7-Flash", "tokenizer": "zai-org/GLM-4.7-Flash/tokenizer.json",
     "config": "zai-org/GLM-4.7-Flash/tokenizer_config.json", "template": "zai-org/GLM-4.7-Flash/chat_template.jinja",
     "keeps_lists": True, "string_args": False, "family": "glm"},
    {"model": "glm-5", "tokenizer": "zai-org/GLM-4.7-Flash/tokenizer.json",
     "config": "zai-org/GLM-4.7-Flash/tokenizer_config.glm-5.json",
     "template": "zai-org/GLM-4.7-Flash/chat_template.glm-5.jinja",
     "keeps_lists": True, "string_args": False, "family": "glm"},
    {"model": "deepseek-ai/DeepSeek-V3.1", "tokenizer": "deepseek-ai/DeepSeek-V3.1/tokenizer.json",
     "config": "deepseek-ai/DeepSeek-V3.1/tokenizer_config.json",
     "template": "deepseek-ai/DeepSeek-V3.1/tokenizer_config.json",
     "keeps_lists": False, "string_args": True, "family": "deepseek"},
    {"model": "deepseek-v3", "tokenizer": "deepseek-ai/DeepSeek-V3.1/tokenizer.json",
     "config": "deepseek-ai/DeepSeek-V3.1/tokenizer_config.json",
     "template": "deepseek-ai/DeepSeek-V3.1/chat_template.deepseek-v3.jinja",
     "keeps_lists": False, "string_args": True, "family": "deepseek"},
    {"model": "deepseek-ai/DeepSeek-V3.2", "tokenizer": "deepseek-ai/DeepSeek-V3.2/tokenizer.json",
     "config": "deepseek-ai/DeepSeek-V3.2/tokenizer_config.json",
     "template": "deepseek-ai/DeepSeek-V3.2/chat_template.llamacpp.jinja",
     "keeps_lists": False, "string_args": False, "family": "deepseek"},
    {"model": "deepseek-ai/DeepSeek-V4", "tokenizer": "deepseek-ai/DeepSeek-V4/tokenizer.json",
     "config": "deepseek-ai/DeepSeek-V4/tokenizer_config.json",
     "template": "deepseek-ai/DeepSeek-V4/chat_template.jinja",
     "keeps_lists": False, "string_args": False, "family": "deepseek"},
    {"model": "Qwen/Qwen3-8B", "tokenizer": "Qwen/Qwen3-8B/tokenizer.json",
     "config": "Qwen/Qwen3-8B/tokenizer_config.json", "template": "Qwen/Qwen3-8B/tokenizer_config.json",
     "keeps_lists": False, "string_args": False, "family": "qwen"},
    {"model": "Qwen/Qwen3.5-9B", "tokenizer": "Qwen/Qwen3.5-9B/tokenizer.json",
     "config": "Qwen/Qwen3.5-9B/tokenizer_config.json", "template": "Qwen/Qwen3.5-9B/chat_template.jinja",
     "keeps_lists": True, "string_args": False, "family": "qwen"},
    {"model": "Qwen/Qwen3.6-27B", "tokenizer": "Qwen/Qwen3.5-9B/tokenizer.json",
     "config": "Qwen/Qwen3.6-27B/tokenizer_config.json", "template": "Qwen/Qwen3.6-27B/chat_template.jinja",
     "keeps_lists": True, "string_args": False, "family": "qwen"},
    {"model": "meta-llama/Llama-3.1-8B-Instruct", "tokenizer": "meta-llama/Llama-3.1-8B-Instruct/tokenizer.json",
     "config": "meta-llama/Llama-3.1-8B-Instruct/tokenizer_config.json",
     "template": "meta-llama/Llama-3.1-8B-Instruct/tokenizer_config.json",
     "keeps_lists": False, "string_args": False, "family": "llama"},
    {"model": "google/gemma-3-1b-it", "tokenizer": "google/gemma-3-1b-it/tokenizer.json",
     "config": "google/gemma-3-1b-it/tokenizer_config.json", "template": "google/gemma-3-1b-it/tokenizer_config.json",
     "keeps_lists": True, "string_args": False, "family": "gemma"},
    {"model": "openai/gpt-oss-20b", "tokenizer": "openai/gpt-oss-20b/tokenizer.json",
     "config": "openai/gpt-oss-20b/tokenizer_config.json", "template": "openai/gpt-oss-20b/chat_template.jinja",
     "keeps_lists": False, "string_args": False, "family": "gpt-oss"},
]
