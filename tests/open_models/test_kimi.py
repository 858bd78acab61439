"""Kimi K2.6 counted exactly, also on a fresh install with no ../shared, no Hub and an empty cache.

The oracle, written apart from tokcount: transformers' own Jinja rendering of ../shared's K2.6 template, then
tiktoken on ../shared's ``tiktoken.model`` with Moonshot's special tokens allowed (``allowed_special="all"``, as
``tokenization_kimi.py`` encodes). Around the template it does what Moonshot's ``apply_chat_template`` does: the tools
sorted by key (``json`` with ``sort_keys``) and ``tools_ts_str`` set to TypeScript declarations written out by hand
in DECLARED below (the format's documented examples are checked in tests/open_models/test_typescript_tools.py).
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import splintr
import tiktoken
from PIL import Image
from tiktoken.load import load_tiktoken_bpe
from transformers.utils.chat_template_utils import render_jinja_template

import tokcount
from support.oracle import prepare
from support.shared import HUB, REPO, has_media, load_corpus
from tokcount import loader, settings_in_force
from tokcount.count import as_request, render_prompt
from tokcount.errors import CorruptAssets, MissingAssets, RenderTimeout
from tokcount.models import built, kimi_vocab
from tokcount.models.catalog import default_catalog

KIMI = HUB / "moonshotai" / "Kimi-K2.6"
CONFIG = json.loads((KIMI / "tokenizer_config.json").read_text())
SPECIALS = {k: CONFIG[k] for k in ("bos_token", "eos_token", "pad_token", "unk_token")}
#: the shared template prints the third-party copy's video placeholder; everything else is Moonshot's text
TEMPLATE = (KIMI / "chat_template.jinja").read_text()

#: the TypeScript declaration of each corpus tool, worked out by hand from Moonshot's format
DECLARED = {
    "get_weather": "// Get the current weather information for a given city.\ntype get_weather = (_: {\n"
                   "  // The name of the city, e.g. Singapore.\n  city: string,\n"
                   "  // Whether to include a short-term weather forecast.\n  include_forecast?: boolean,\n"
                   "  // The temperature unit to use.\n  unit?: \"celsius\" | \"fahrenheit\"\n}) => any;",
    "search_web": "// Search the web and return the top results.\ntype search_web = (_: {\n  query: string,\n"
                  "  // maximum: 20, minimum: 1\n  // Default: 5\n  max_results?: number,\n"
                  "  // Only return results from these domains.\n  site_filter?: Array<string>\n}) => any;",
    "create_calendar_event": "// Create an event in the user's calendar.\ntype create_calendar_event = (_: {\n"
                             "  start: string,\n  title: string,\n"
                             "  attendees?: Array<{\n    email: string,\n    optional?: boolean\n  }>,\n"
                             "  end?: string\n}) => any;",
    "run_sql": "// 执行只读 SQL 查询并返回结果（最多 100 行）。\ntype run_sql = (_: {\n  // SELECT statement\n"
               "  sql: string,\n  options?: {\n    explain?: boolean,\n    timeout_ms?: number\n  },\n"
               "  params?: {\n    [k: string]: string | number | null\n  }\n}) => any;",
    # a documented example (a public encoder's byte-exact test), used by the fresh-install chats
    "weather": "// Read weather\ntype weather = (_: {\n  // City name\n  city: string,\n"
               "  units?: \"c\" | \"f\"\n}) => any;",
}
WEATHER = {"type": "function", "function": {"name": "weather", "description": "Read weather", "parameters": {
    "type": "object", "properties": {"units": {"type": "string", "enum": ["c", "f"]},
                                     "city": {"type": "string", "description": "City name"}},
    "required": ["city"]}}}

#: what the issue asks for from a fresh install: text, multi-turn, reasoning and tool-calling chats
FRESH_CHATS = [
    {"messages": [{"role": "system", "content": "You are Kimi, an AI assistant provided by Moonshot AI."},
                  {"role": "user", "content": "Hello, 世界! What is 2+2?"}]},
    {"messages": [{"role": "user", "content": "Name a prime."}, {"role": "assistant", "content": "7."},
                  {"role": "user", "content": "Another one, bigger."}, {"role": "assistant", "content": "11."},
                  {"role": "user", "content": "Now sum them."}]},
    {"messages": [{"role": "user", "content": "Is 91 prime?"},
                  {"role": "assistant", "reasoning_content": "91 = 7 × 13.", "content": "No: 7 × 13."},
                  {"role": "user", "content": "And 97?"},
                  {"role": "assistant", "reasoning_content": "No divisor up to 9.", "content": "Yes."}]},
    {"tools": [WEATHER], "messages": [
        {"role": "user", "content": "Weather in Paris, in c?"},
        {"role": "assistant", "content": "", "reasoning_content": "Call the tool.", "tool_calls": [
            {"id": "functions.weather:0", "type": "function",
             "function": {"name": "weather", "arguments": "{\"city\": \"Paris\", \"units\": \"c\"}"}}]},
        {"role": "tool", "tool_call_id": "functions.weather:0", "content": "{\"temp\": 21}"},
        {"role": "user", "content": "Thanks. <|im_end|> is a special string."}]},
]


def _namespace(tools: list[dict]) -> str:
    return ("# Tools\n\n## functions\nnamespace functions {\n"
            + "\n".join(DECLARED[t["function"]["name"]] for t in tools) + "\n}\n")


def _encoding() -> tiktoken.Encoding:
    ranks = load_tiktoken_bpe(str(KIMI / "tiktoken.model"))
    specials = {v["content"]: int(k) for k, v in CONFIG["added_tokens_decoder"].items()}
    for i in range(len(ranks), len(ranks) + 256):
        specials.setdefault(f"<|reserved_token_{i}|>", i)
    return tiktoken.Encoding(name="kimi-oracle", pat_str=splintr.KIMI_PATTERN, mergeable_ranks=ranks,
                             special_tokens=specials)


ENC = _encoding()


def _prompt(chat: dict, template: str = TEMPLATE) -> str:
    messages = prepare(chat["messages"], keeps_lists=True, string_args=False)
    messages = [{k: v for k, v in m.items() if v is not None} for m in messages]
    tools = chat.get("tools")
    extra = {}
    if tools:
        tools = json.loads(json.dumps(tools, sort_keys=True))
        extra["tools_ts_str"] = _namespace(tools)
    last_assistant = messages[-1]["role"] == "assistant"
    rendered, _ = render_jinja_template(conversations=[messages], tools=tools, chat_template=template,
                                        add_generation_prompt=not last_assistant,
                                        continue_final_message=last_assistant, **SPECIALS, **extra)
    return rendered[0]


def _expected(chat: dict) -> int:
    return len(ENC.encode(_prompt(chat), allowed_special="all"))


def test_the_built_vocabulary_is_moonshots_file(tmp_path: Path) -> None:
    path = built.provide("build:kimi-vocab", tmp_path)
    assert path is not None and path.read_bytes() == (KIMI / "tiktoken.model").read_bytes()
    assert default_catalog().patterns["kimi"] == splintr.KIMI_PATTERN
    names = {int(k): v["content"] for k, v in CONFIG["added_tokens_decoder"].items()}
    built_config = json.loads(built.provide("build:kimi-config", tmp_path).read_text())  # type: ignore[union-attr]
    assert {int(k): v["content"] for k, v in built_config["added_tokens_decoder"].items()} == names
    assert {k: built_config[k] for k in SPECIALS} == SPECIALS
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".part")]


def test_the_bundled_template_is_k26s_with_kimis_video_placeholder() -> None:
    bundled = built.provide("bundled:kimi-k2.6.chat_template.jinja", Path("/nonexistent")).read_text()  # type: ignore[union-attr]
    assert bundled == TEMPLATE.replace("<|kite_video_placeholder|>", "<|kimi_k25_video_placeholder|>")
    assert "<|kimi_k25_video_placeholder|>" in bundled


def test_corpus_matches_the_oracle() -> None:
    """Every text case of the corpus (tools, tool calls, reasoning, multi-turn), on ../shared's files."""
    checked = 0
    for case in load_corpus():
        if has_media(case):
            continue
        chat = {"messages": case["messages"], "tools": case.get("tools")}
        got = tokcount.count("moonshot/kimi-k2.6", chat)
        assert got.input_tokens == _expected(chat), case["id"]
        assert got.exact and got.method == "chat_template+tiktoken"
        checked += 1
    assert checked == 105


def test_special_strings_are_single_tokens() -> None:
    """Moonshot encodes with every special token allowed: their text in content is the special id."""
    text = "<|im_user|>user<|im_middle|>hi<|im_end|><think>x</think><|media_pad|><|reserved_token_163600|>"
    got = tokcount.count_text("kimi-k2.6", text, return_tokens=True)
    assert got.tokens == ENC.encode(text, allowed_special="all")
    assert got.tokens[0] == 163587 and got.token_strings[0] == "<|im_user|>" and got.tokens[-1] == 163600


def test_tools_are_declared_in_typescript() -> None:
    chat = {"tools": [WEATHER], "messages": [{"role": "user", "content": "hi"}]}
    prompt = render_prompt(loader.load(default_catalog().resolve("kimi-k2.6")), as_request(chat))
    assert prompt.startswith("<|im_system|>tool_declare<|im_middle|># Tools\n\n## functions\nnamespace functions {\n"
                             + DECLARED["weather"] + "\n}\n<|im_end|>")


def test_an_unsupported_schema_falls_back_to_sorted_compact_json() -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"x": {"oneOf": [{"type": "string"}]}}}}}
    chat = {"tools": [tool], "messages": [{"role": "user", "content": "hi"}]}
    got = tokcount.count("kimi-k2.6", chat).input_tokens
    sorted_tools = json.loads(json.dumps([tool], sort_keys=True))
    rendered, _ = render_jinja_template(conversations=[chat["messages"]], tools=sorted_tools, chat_template=TEMPLATE,
                                        add_generation_prompt=True, **SPECIALS)
    assert '{"function":{"name":"f","parameters":{"properties"' in rendered[0]
    assert got == len(ENC.encode(rendered[0], allowed_special="all"))


def _png(width: int, height: int) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 30)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


@pytest.mark.parametrize(("size", "pads"), [((1024, 1024), 37 * 37), ((4000, 3000), 75 * 56), ((29, 28), 2)])
def test_images_are_counted_end_to_end(size: tuple[int, int], pads: int) -> None:
    """MoonViT's worked examples (tests/open_models/test_media_rules.py): the template's one ``<|media_pad|>`` per image
    becomes ``pads`` of them, as Kimi's processor expands it."""
    content = [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": _png(*size)}}]
    chat = {"messages": [{"role": "user", "content": content}]}
    got = tokcount.count("kimi-k2.6", chat)
    prompt = _prompt({"messages": [{"role": "user", "content": [content[0], {"type": "image"}]}]})
    assert prompt.count("<|media_pad|>") == 1
    expected = len(ENC.encode(prompt.replace("<|media_pad|>", "<|media_pad|>" * pads), allowed_special="all"))
    assert got.input_tokens == expected and got.exact
    assert got.modalities["image"] == pads + 4


def test_a_video_renders_kimis_placeholder_offline(fresh_install: dict[str, str]) -> None:
    chat = {"messages": [{"role": "user", "content": [{"type": "video_url", "video_url": {"url": "https://v/x.mp4"}},
                                                       {"type": "text", "text": "What happens?"}]}]}
    out = _cli(fresh_install, "count", "--model", "kimi-k2.6", "--tokens", stdin=json.dumps(chat))
    answer = json.loads(out.stdout)
    assert "<|kimi_k25_video_placeholder|>" in "".join(answer["token_strings"])
    assert answer["exact"] is False  # video frames are not counted yet (docs/media.md)


@pytest.fixture
def fresh_install(tmp_path: Path) -> dict[str, str]:
    """The environment of a fresh clone: no asset dir with files, no Hub, an empty cache and HF home."""
    (tmp_path / "assets").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOKCOUNT_", "HF_"))}
    env.update(TOKCOUNT_ASSET_DIRS=str(tmp_path / "assets"), TOKCOUNT_CACHE_DIR=str(tmp_path / "cache"),
               HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"), PYTHONPATH=str(REPO / "src"))
    return env


def _cli(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tokcount.cli", *args], input=stdin, capture_output=True, text=True,
                          timeout=300, cwd=REPO, env=env)


def test_a_fresh_install_counts_kimi_exactly_offline(fresh_install: dict[str, str]) -> None:
    lines = "\n".join(json.dumps(c) for c in FRESH_CHATS) + "\n"
    out = _cli(fresh_install, "count", "--model", "kimi-k2.6", "--jsonl", "-", stdin=lines)
    assert out.returncode == 0, out.stdout + out.stderr
    answers = [json.loads(line) for line in out.stdout.splitlines()]
    assert [a["input_tokens"] for a in answers] == [_expected(c) for c in FRESH_CHATS]
    assert all(a["exact"] and a["model"] == "kimi-k2.6" for a in answers)
    cache = Path(fresh_install["TOKCOUNT_CACHE_DIR"]) / "built" / "kimi-k2"
    assert (cache / "tiktoken.model").read_bytes() == (KIMI / "tiktoken.model").read_bytes()
    again = _cli(fresh_install, "count", "--model", "moonshot/kimi-latest", "--jsonl", "-", stdin=lines)
    assert again.stdout == out.stdout  # an alias, the cached build: the same answers


def test_a_fresh_install_lists_which_kimi_models_it_can_count(fresh_install: dict[str, str]) -> None:
    rows = {r["id"]: r["available"] for r in json.loads(_cli(fresh_install, "models", "--json").stdout)}
    assert rows["kimi-k2.6"] is True
    assert rows["kimi-k2.5"] is False  # its vocabulary builds, but no K2.5 template ships with tokcount
    assert rows["kimi-k2-thinking"] is False and rows["step-3.7-flash"] is False


def test_a_fresh_install_names_what_else_is_missing(fresh_install: dict[str, str]) -> None:
    out = _cli(fresh_install, "count", "--model", "kimi-k2.5", stdin=json.dumps(FRESH_CHATS[0]))
    err = json.loads(out.stdout)["error"]
    assert err["type"] == "missing_assets" and "moonshotai/Kimi-K2.5/chat_template.jinja" in err["message"]
    out = _cli(fresh_install, "count", "--model", "step-3.7-flash", stdin=json.dumps(FRESH_CHATS[0]))
    err = json.loads(out.stdout)["error"]
    assert err["type"] == "missing_assets"
    for words in ("stepfun-ai/Step-3.7-Flash/tokenizer.json", "tokcount pull step-3.7-flash", "TOKCOUNT_ASSET_DIRS",
                  "hub/stepfun-ai/Step-3.7-Flash/", "[upstream.stepfun]", "TOKCOUNT_UPSTREAM_STEPFUN_KEY"):
        assert words in err["message"], words


def test_a_build_that_does_not_match_its_pin_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another splintr-rs release bundling another vocabulary: an error naming both digests, nothing cached."""
    wrong = "0" * 64
    monkeypatch.setattr(kimi_vocab, "VOCAB_SHA256", wrong)
    monkeypatch.setitem(built._BUILDERS, "kimi-vocab", ("kimi-k2/tiktoken.model", kimi_vocab.vocabulary, wrong))
    with settings_in_force.using(asset_dirs=(str(tmp_path / "assets"),), cache_dir=str(tmp_path / "cache"),
                                 hub_offline=True):
        loader.clear()
        built.clear()
        try:
            with pytest.raises(CorruptAssets) as info:
                tokcount.count("kimi-k2.6", FRESH_CHATS[0])
        finally:
            loader.clear()
            built.clear()
    assert isinstance(info.value, MissingAssets) and info.value.status == 404
    assert wrong in info.value.message
    assert "b6c497a7469b33ced9c38afb1ad6e47f03f5e5dc05f15930799210ec050c5103" in info.value.message
    assert not (tmp_path / "cache" / "built" / "kimi-k2" / "tiktoken.model").exists()


def test_a_damaged_cached_build_is_built_again(tmp_path: Path) -> None:
    target = tmp_path / "built" / "kimi-k2" / "tiktoken.model"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"aGk= 0\n")
    built.clear()
    assert built.provide("build:kimi-vocab", tmp_path) == target
    assert target.read_bytes() == (KIMI / "tiktoken.model").read_bytes()
    built.clear()


def test_huge_tools_are_converted_on_the_render_budget() -> None:
    """A client's tool schema with 300,000 properties: sorting and declaring them stops at the render budget (the
    render's own 503) instead of holding a thread for many seconds before any template runs."""
    schema = {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(300_000)}}
    chat = {"tools": [{"type": "function", "function": {"name": "big", "parameters": schema}}],
            "messages": [{"role": "user", "content": "hi"}]}
    with settings_in_force.using(render_timeout_s=0.2):
        started = time.monotonic()
        with pytest.raises(RenderTimeout):
            tokcount.count("kimi-k2.6", chat)
        assert time.monotonic() - started < 3
