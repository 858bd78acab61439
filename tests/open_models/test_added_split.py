"""The added-token split done in two passes (main tokens, then the others where needed) equals the one-pass
leftmost-longest split on real vocabularies and on texts built to make the passes disagree."""

from __future__ import annotations

import random
import re

import pytest

from tokcount import loader
from tokcount.count import as_request, render_prompt
from tokcount.models.catalog import default_catalog
from tokcount.tokenizers.added import AddedToken, AddedTokens


def _one_pass(added: AddedTokens, text: str) -> list[str]:
    assert added._splitter is not None
    return added._splitter.split(text)


def _mixtures(added: AddedTokens, seed: int, n: int = 300) -> list[str]:
    """Texts of token strings, their halves, their first characters and plain words, glued at random."""
    rng = random.Random(seed)
    tokens = list(added.by_content)
    bits = ["plain words ", "x", " ", "\n", "<", "<<", "｜", "[", "/", "▁"]
    out = []
    for _ in range(n):
        pieces = []
        for _ in range(rng.randint(1, 30)):
            t = rng.choice(tokens)
            pieces.append(rng.choice([t, t[: len(t) // 2], t[len(t) // 2 :], t[0], rng.choice(bits)]))
        out.append("".join(pieces))
    return out


@pytest.mark.parametrize("model", ["deepseek-v3.2", "gemma-3-1b-it", "glm-4.7-flash", "qwen3.5", "llama-3.1"])
def test_split_parts_equals_one_pass_on_real_vocabularies(model: str) -> None:
    spec = default_catalog().resolve(model)
    loaded = loader.load(spec)
    added = loaded.tokenizer.added
    for text in _mixtures(added, 3):
        assert added.split_parts(text) == _one_pass(added, text), text[:80]
    request = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi <think>"}],
               "tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {
                   "type": "object", "properties": {"q": {"type": "string"}}}}}]}
    prompt = render_prompt(loaded, as_request(request))
    assert added.split_parts(prompt) == _one_pass(added, prompt)


def test_deepseek_prompts_are_split_by_its_main_tokens_first() -> None:
    """DeepSeek's ``｜DSML｜`` is the one token not beginning with ``<``: a prompt is split by the ``<`` tokens (a
    literal-prefix scan), then only the stretches holding a ``｜``."""
    added = loader.load(default_catalog().resolve("deepseek-v3.2")).tokenizer.added
    assert added._main_splitter is not None and added._other_splitter is not None
    assert added._other_firsts == ("｜",)


def test_two_passes_where_they_could_disagree() -> None:
    """Other tokens that overlap main ones, contain a main token's characters, or begin inside one; and a set
    where another token contains the main character (no second pass: the one-pass split is used)."""
    sets = [
        ["<a>", "<ab>", "<a|b>", "|b", "|b>x", "bb", "b"],
        ["<x|>", "<y>", "|", "||", "|<"],  # "|<" contains the main character
        ["<s>", "<s><s>", "\n", "\n\n", "\t", "[m]"],
    ]
    for i, contents in enumerate(sets):
        added = AddedTokens([AddedToken(c, n) for n, c in enumerate(contents)])
        for text in _mixtures(added, 10 + i, 2000):
            assert added.split_parts(text) == _one_pass(added, text), (contents, text)
    assert AddedTokens([AddedToken(c, n) for n, c in enumerate(sets[1])])._other_splitter is None


def test_flagged_tokens_keep_one_pass() -> None:
    added = AddedTokens([AddedToken("<a>", 1, lstrip=True), AddedToken("|b", 2)])
    assert not added.bounded and added._main_splitter is None
    assert added.split_parts("x <a> |b") == re.split(f"({added._pattern.pattern})", "x <a> |b")  # type: ignore[union-attr]
