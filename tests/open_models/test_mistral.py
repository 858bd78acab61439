"""Mistral models: tokcount's canonical → mistral-common conversion against mistral-common's own OpenAI import
(``ChatCompletionRequest.from_openai``), both encoded by mistral-common with its bundled Tekken vocabularies."""

from __future__ import annotations

import copy
import re

import pytest
from mistral_common.protocol.instruct.request import ChatCompletionRequest
from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

import tokcount
from support.shared import has_media, load_corpus
from tokcount import TemplateError

CASES = [c for c in load_corpus() if not has_media(c)]


def vllm_style(messages: list[dict]) -> list[dict]:
    """What vLLM does before handing OpenAI messages to mistral-common: reasoning dropped, an assistant
    message that calls tools carries no (empty) content, tool-call ids longer than 9 keep their last 9."""
    out = []
    for m in copy.deepcopy(messages):
        m.pop("reasoning_content", None)
        if m.get("tool_calls") and not m.get("content"):
            m["content"] = None
        for c in m.get("tool_calls") or []:
            c["id"] = c["id"][-9:]
        if m.get("tool_call_id"):
            m["tool_call_id"] = m["tool_call_id"][-9:]
        out.append(m)
    return out


@pytest.mark.parametrize("model,factory", [("mistral-nemo", lambda: MistralTokenizer.v3(is_tekken=True)),
                                           ("pixtral-12b", lambda: MistralTokenizer.v3(is_tekken=True, is_mm=True))])
def test_corpus_matches_mistral_common(model: str, factory) -> None:
    ref = factory()
    equal = refused = 0
    for case in CASES:
        messages = vllm_style(case["messages"])
        if any(not re.match(r"^[A-Za-z0-9]{9}$", c["id"]) for m in messages for c in m.get("tool_calls") or []):
            for m in messages:  # any valid ids: the reference only decides whether it accepts the conversation
                for c in m.get("tool_calls") or []:
                    c["id"] = "abcdefghi"
                if m.get("tool_call_id"):
                    m["tool_call_id"] = "abcdefghi"
            try:
                fixed = ChatCompletionRequest.from_openai(messages=messages, tools=case.get("tools"))
                ref.encode_chat_completion(fixed)
            except Exception:
                with pytest.raises(TemplateError):
                    tokcount.count(model, {"messages": case["messages"], "tools": case.get("tools")})
                refused += 1
                continue
            got = tokcount.count(model, {"messages": case["messages"], "tools": case.get("tools")})
            assert not got.exact and "tool call id" in got.notes[0]
            continue
        try:
            req = ChatCompletionRequest.from_openai(messages=messages, tools=case.get("tools"))
            expected = len(ref.encode_chat_completion(req).tokens)
        except Exception:
            with pytest.raises((TemplateError, tokcount.InvalidRequest)):
                tokcount.count(model, {"messages": case["messages"], "tools": case.get("tools")})
            refused += 1
            continue
        got = tokcount.count(model, {"messages": case["messages"], "tools": case.get("tools")})
        assert got.input_tokens == expected, case["id"]
        assert got.method == "mistral-common" and got.exact
        b = got.breakdown
        assert b["system"] + b["tools"] + sum(b["messages"]) + b["template"] == got.input_tokens
        equal += 1
    assert equal >= len(CASES) * 3 // 4, (equal, refused)


def test_mistral_works_offline_from_package_data() -> None:
    c = tokcount.count("open-mistral-nemo", {"messages": [{"role": "user", "content": "Hello, world!"}]},
                       return_tokens=True)
    assert c.tokens[0] == 1 and c.token_strings[:2] == ["<s>", "[INST]"]


def test_long_tool_call_ids_keep_their_last_nine_characters_as_in_vllm() -> None:
    def chat(call_id: str) -> list[dict]:
        return [{"role": "user", "content": "weather?"},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": call_id, "type": "function", "function": {"name": "w", "arguments": "{\"c\": 1}"}}]},
                {"role": "tool", "tool_call_id": call_id, "content": "sunny"}]

    tools = [{"type": "function", "function": {"name": "w", "description": "", "parameters": {}}}]
    ref = MistralTokenizer.v3(is_tekken=True)
    expected = len(ref.encode_chat_completion(ChatCompletionRequest.from_openai(messages=chat("123XYZ789"),
                                                                                 tools=tools)).tokens)
    got = tokcount.count("mistral-nemo", {"messages": chat("call_abc123XYZ789"), "tools": tools})
    assert got.exact and got.input_tokens == expected


@pytest.mark.parametrize("size", [(1, 1), (640, 480), (1024, 1024), (5000, 300), (30000, 20)])
def test_pixtral_images_count_from_the_header_alone(size: tuple[int, int]) -> None:
    """Pixtral image tokens via a blank image of the header's size equal mistral-common on the real image."""
    import base64
    import io

    from mistral_common.protocol.instruct.messages import ImageChunk, TextChunk, UserMessage
    from PIL import Image

    image = Image.new("RGB", size, (200, 30, 30))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    ref = MistralTokenizer.v3(is_tekken=True, is_mm=True)
    expected = len(ref.encode_chat_completion(ChatCompletionRequest(messages=[UserMessage(content=[
        TextChunk(text="What is this?"), ImageChunk(image=image)])])).tokens)
    got = tokcount.count("pixtral-12b", {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": url}}]}]})
    assert got.input_tokens == expected and got.exact
