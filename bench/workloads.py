"""The requests every benchmark runs: chats of ~1k / 10k / 100k tokens with three tools, and a 50-turn conversation.

Built from the realistic texts of ../shared/corpus (prose, code, CJK, JSON, emoji), so every engine sees the same
mix; nothing is random, so two runs measure the same work.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TOKCOUNT_SHARED", REPO.parent / "shared"))
CORPUS = SHARED / "corpus" / "chat.jsonl"

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Get the current weather for a city.",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "City name"},
            "units": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "run_sql", "description": "Run a read-only SQL query and return at most 100 rows.",
        "parameters": {"type": "object", "properties": {
            "sql": {"type": "string", "description": "SELECT statement"},
            "timeout_ms": {"type": "integer"}}, "required": ["sql"]}}},
    {"type": "function", "function": {
        "name": "search_docs", "description": "Full-text search over the team's design documents.",
        "parameters": {"type": "object", "properties": {
            "query": {"type": "string"}, "top_k": {"type": "integer", "minimum": 1, "maximum": 50}},
            "required": ["query"]}}},
]

#: characters per token of the corpus mix, measured (≈ 3 for this mix of prose, code and CJK); only sizes the requests
CHARS_PER_TOKEN = 3.0


#: source files of the running Python's standard library mixed in as the code an agent reads and writes
STDLIB_FILES = ("json/decoder.py", "textwrap.py", "difflib.py", "argparse.py", "csv.py", "shlex.py", "calendar.py",
                "fractions.py", "heapq.py", "bisect.py", "statistics.py", "string.py", "ipaddress.py", "pprint.py")


@cache
def corpus_texts() -> tuple[str, ...]:
    """Every plain-text message content in the corpus, in file order, interleaved with standard-library code."""
    import sysconfig

    code: list[str] = []
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for name in STDLIB_FILES:
        path = stdlib / name
        if path.exists():
            text = path.read_text(encoding="utf-8", errors="replace")
            code.extend(text[i:i + 3000] for i in range(0, len(text), 3000))
    out: list[str] = []
    with open(CORPUS, encoding="utf-8") as f:
        for line in f:
            case = json.loads(line)
            for m in case["messages"]:
                content = m.get("content")
                if isinstance(content, str) and content.strip() and "<|" not in content and "[INST]" not in content:
                    out.append(content)
    mixed: list[str] = []
    for i, text in enumerate(out):
        mixed.append(text)
        if i % 3 == 0 and code:
            mixed.append(code.pop(0))
    return tuple(mixed + code)


def _turns(chars: int, start: int = 0) -> list[str]:
    texts = corpus_texts()
    out: list[str] = []
    total = 0
    i = start
    while total < chars:
        t = texts[i % len(texts)][: chars - total]
        out.append(t)
        total += len(t)
        i += 1
    return out


def chat(tokens: int) -> dict:
    """An OpenAI-chat request of about ``tokens`` tokens: a system prompt, alternating turns of ~1k tokens each
    (a message is several corpus texts joined, like an agent's turn with code and tool output), three tools."""
    messages = [{"role": "system", "content": "You are a careful assistant. Use the tools when they help."}]
    n = max(2, min(100, tokens // 1000))
    start = 0
    for i in range(n):
        texts = _turns(int(tokens * CHARS_PER_TOKEN / n), start)
        start += len(texts)
        messages.append({"role": "user" if i % 2 == 0 else "assistant", "content": "\n\n".join(texts)})
    if messages[-1]["role"] == "assistant":
        messages.append({"role": "user", "content": "Please continue."})
    return {"messages": messages, "tools": TOOLS}


def conversation(turns: int = 50, tokens_per_turn: int = 2000) -> list[dict]:
    """The requests an agent sends over a conversation: request ``t`` re-sends all of ``t-1`` plus one new turn."""
    messages: list[dict] = [{"role": "system", "content": "You are a coding agent. Use the tools when they help."}]
    requests = []
    start = 0
    for t in range(turns):
        user = _turns(int(tokens_per_turn * CHARS_PER_TOKEN / 2), start)
        start += len(user)
        reply = _turns(int(tokens_per_turn * CHARS_PER_TOKEN / 2), start)
        start += len(reply)
        if t:
            messages.append({"role": "assistant", "content": "\n\n".join(reply)})
        messages.append({"role": "user", "content": "\n\n".join(user)})
        requests.append({"messages": [dict(m) for m in messages], "tools": TOOLS})
    return requests
