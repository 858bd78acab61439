"""The requests the benchmarks run, each one new: seeded variations of the realistic texts of ../shared/corpus
(prose, code, CJK, JSON, emoji) mixed with standard-library source as the code an agent reads and writes.

Why fresh text: a service counts requests it has never seen; timing the same body again and again measures caches
(tokcount's segment cache, ``tokenizers``' word cache), not counting. Every request built here from a new seed has
texts no earlier seed produced (words are shuffled within each text and a seed-specific tag is written into every
message), so each timed call is on a request the process has not seen. A seed always gives the same request, so two
runs measure the same work.

Shapes (issue 13): 10k and 100k tokens as 10 long messages, 100 messages or 1,000 short ones; an agent trace
(system prompt + 20 tools + 300 turns of tool calls, JSON tool results, code and prose); a growing conversation.
"""

from __future__ import annotations

import json
import os
import random
from functools import cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TOKCOUNT_SHARED", REPO.parent / "shared"))
CORPUS = SHARED / "corpus" / "chat.jsonl"

#: characters per token of the corpus mix, measured (≈ 3 for this mix of prose, code and CJK); only sizes requests
CHARS_PER_TOKEN = 3.0
#: (total tokens, messages) of the chat shapes
SHAPES = ((10_000, 10), (10_000, 100), (10_000, 1_000), (100_000, 10), (100_000, 100), (100_000, 1_000))
#: source files of the running Python's standard library mixed in as code
STDLIB_FILES = ("json/decoder.py", "textwrap.py", "difflib.py", "argparse.py", "csv.py", "shlex.py", "calendar.py",
                "fractions.py", "heapq.py", "bisect.py", "statistics.py", "string.py", "ipaddress.py", "pprint.py")
TOOL_NAMES = ("read_file", "write_file", "list_dir", "grep", "run_tests", "run_shell", "git_diff", "git_commit",
              "search_docs", "open_url", "get_weather", "run_sql", "create_issue", "comment_issue", "lint",
              "format_code", "install_package", "ask_user", "plan", "summarize")


@cache
def corpus_texts() -> tuple[str, ...]:
    """Every plain-text message content in the corpus, interleaved with 3,000-character slices of stdlib code."""
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
            for m in json.loads(line)["messages"]:
                content = m.get("content")
                if isinstance(content, str) and content.strip() and "<|" not in content and "[INST]" not in content:
                    out.append(content)
    mixed: list[str] = []
    for i, text in enumerate(out):
        mixed.append(text)
        if i % 3 == 0 and code:
            mixed.append(code.pop(0))
    return tuple(mixed + code)


class Fresh:
    """Texts no other seed produces: corpus texts with their lines shuffled and words swapped, tagged by seed."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.n = 0

    def text(self, chars: int) -> str:
        """About ``chars`` characters of new text (at least one tag), built from several corpus texts."""
        texts = corpus_texts()
        rng = self.rng
        self.n += 1
        parts = [f"[{self.seed}.{self.n}]"]
        total = len(parts[0])
        while total < chars:
            src = texts[rng.randrange(len(texts))]
            lines = src.split("\n")
            if len(lines) > 2:
                k = rng.randrange(1, len(lines))
                lines = lines[k:] + lines[:k]  # rotated: line order is new, each line's text is real
            words = " ".join(lines).split(" ") if rng.random() < 0.5 else "\n".join(lines).split(" ")
            for _ in range(max(1, len(words) // 12)):  # swap a few words: new adjacent pairs
                i, j = rng.randrange(len(words)), rng.randrange(len(words))
                words[i], words[j] = words[j], words[i]
            piece = " ".join(words)[: chars - total + 1]
            parts.append(piece)
            total += len(piece) + 2
        return "\n\n".join(parts)


def chat(tokens: int, messages: int, seed: int) -> dict[str, Any]:
    """An OpenAI-chat request of about ``tokens`` tokens in ``messages`` alternating user/assistant messages
    (the first is a system prompt), three tools."""
    f = Fresh(seed)
    per = int(tokens * CHARS_PER_TOKEN / messages)
    out = [{"role": "system", "content": f.text(min(per, 600))}]
    for i in range(messages - 1):
        out.append({"role": "user" if i % 2 == 0 else "assistant", "content": f.text(per)})
    if out[-1]["role"] == "assistant":
        out.append({"role": "user", "content": f.text(per)})
    return {"messages": out, "tools": tools(f, 3)}


def tools(f: Fresh, n: int) -> list[dict[str, Any]]:
    """``n`` function tools with descriptions and JSON-schema parameters (descriptions are fresh text)."""
    out = []
    for i in range(n):
        name = TOOL_NAMES[i % len(TOOL_NAMES)] + ("" if i < len(TOOL_NAMES) else f"_{i}")
        out.append({"type": "function", "function": {
            "name": name, "description": f.text(160),
            "parameters": {"type": "object", "properties": {
                "path": {"type": "string", "description": f.text(40)},
                "limit": {"type": "integer", "minimum": 1, "maximum": 500},
                "mode": {"type": "string", "enum": ["fast", "full", "dry-run"]}}, "required": ["path"]}}})
    return out


def agent_trace(seed: int, turns: int = 300) -> dict[str, Any]:
    """An agent's request: system prompt, 20 tools, then ``turns`` turns of (user or assistant prose, a tool call
    with JSON arguments, its JSON tool result, a reply with code)."""
    f = Fresh(seed)
    rng = f.rng
    msgs: list[dict[str, Any]] = [{"role": "system", "content": f.text(1500)}]
    for t in range(turns):
        if t % 10 == 0:
            msgs.append({"role": "user", "content": f.text(300)})
        name = TOOL_NAMES[rng.randrange(len(TOOL_NAMES))]
        call_id = f"call_{seed}_{t}"
        msgs.append({"role": "assistant", "content": f.text(80), "tool_calls": [{
            "id": call_id, "type": "function",
            "function": {"name": name, "arguments": json.dumps({"path": f"src/{f.text(12).split()[0]}.py",
                                                                "limit": rng.randrange(1, 500), "mode": "full"})}}]})
        result = {"ok": rng.random() < 0.9, "lines": rng.randrange(1, 2000), "items": [
            {"name": f.text(20), "size": rng.randrange(10**6), "summary": f.text(60)} for _ in range(3)]}
        msgs.append({"role": "tool", "tool_call_id": call_id, "content": json.dumps(result, ensure_ascii=False)})
        if t % 3 == 2:
            msgs.append({"role": "assistant", "content": f.text(300)})
    if msgs[-1]["role"] == "assistant":
        msgs.append({"role": "user", "content": f.text(100)})
    return {"messages": msgs, "tools": tools(f, 20)}


def conversation(seed: int, turns: int = 50, tokens_per_turn: int = 2000) -> list[dict[str, Any]]:
    """The requests an agent sends over a conversation: request ``t`` re-sends all of ``t-1`` plus one new turn."""
    f = Fresh(seed)
    half = int(tokens_per_turn * CHARS_PER_TOKEN / 2)
    messages: list[dict[str, Any]] = [{"role": "system", "content": f.text(600)}]
    requests = []
    tool_list = tools(f, 3)
    for t in range(turns):
        if t:
            messages.append({"role": "assistant", "content": f.text(half)})
        messages.append({"role": "user", "content": f.text(half)})
        requests.append({"messages": [dict(m) for m in messages], "tools": tool_list})
    return requests
