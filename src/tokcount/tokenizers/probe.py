"""Texts every candidate engine must encode exactly like ``tokenizers`` before it is used (:mod:`.fast`).

They aim at the places byte-level engines have been seen to differ: Unicode classes (marks, CJK, emoji with ZWJ
and skin tones, unassigned and private-use code points), NFC re-ordering of combining marks, contractions,
whitespace runs before words and line breaks (past 512 characters: GLM has 256- and 512-space tokens), digit
grouping, code and JSON. The random part is seeded, so the set is the same in every process (~40k characters,
a few milliseconds to check).
"""

from __future__ import annotations

import random
from functools import cache

FIXED = (
    "Hello, world!", "The quick brown fox jumps over the lazy dog.",
    "def f(x):\n    return [i**2 for i in range(100)]  # 1+2+3==6\n\n\n\tpass\n",
    "café résumé naïve — Zürich; CAFÉ Ὀδυσσεύς", "variance 〈*ξ*~*i*〉", "한국어 텍스트", "á̛z ḉ ǖ ṩ",
    "日本語のトークナイザー 中文分词测试 한국어", " 做做 前前 像像 剧剧", "emoji 🚀🔥👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 ✌︎ mixed",
    "   leading\n\ttabs and  spaces   \r\n windows lines \r\n", "a\u200bb\u200dc\ufeffd\u2060e \u00a0\u3000f",
    "ALLCAPS lowercase MixedCase 1234567890 3.14159 0xDEADBEEF 99.99% ١٢٣ ①②③ Ⅻ ²³",
    "don't can't I'll we've they're 'tis 'TWAS DON'T WE'VE o'clock",
    "https://example.com/p?q=1&x=2#f <a href='x'>y</a>",
    '{"name": "get_weather", "arguments": {"city": "Paris", "units": ["c", "f"], "n": 12345678}}',
    "\n\n\n", " ", "  ", "\t", "a", "Ω≈ç√∫ Икс हिन्दी العربية עברית ไทย",
    "久久夜色精品国产噜噜亚洲AV中文ENGLISH", "\U000f0000\U00010ffff\ue000 \U0001fae8\U0001faf8 \u0378\u0379",
    "x" * 300 + " " + "ab" * 200,
    " " * 600 + "tail", "a" + " " * 256 + "\n\n\n" + "\t" * 300 + "b",
    "!!!???...,,,;;;:::---___===+++***&&&^^^%%%$$$###@@@~~~```|||\\\\",
    "The year 2025-01-01T12:34:56Z; ids 000123 0001 12,345,678.90 1e-10 -42",
)


@cache
def probe_texts() -> tuple[str, ...]:
    rnd = random.Random(20261201)
    pools = (
        (0x20, 0x7E), (0x20, 0x20), (0x0A, 0x0A), (0x09, 0x0D), (0xA0, 0x24F), (0x300, 0x36F), (0x370, 0x52F),
        (0x600, 0x6FF), (0x900, 0x9FF), (0x9FE, 0x9FE), (0xE00, 0xE7F), (0x1100, 0x11FF), (0x2000, 0x206F),
        (0x3000, 0x30FF), (0x4E00, 0x9FA5), (0x9FA6, 0x9FFF), (0xAC00, 0xD7A3), (0xF900, 0xFAFF), (0xFE00, 0xFE0F),
        (0x1F300, 0x1F6FF), (0x1F900, 0x1FAFF), (0x20000, 0x2A6DF), (0x30, 0x39),
    )
    out = list(FIXED)
    for _ in range(40):
        chars = []
        for _ in range(rnd.randint(20, 900)):
            lo, hi = rnd.choice(pools)
            chars.append(chr(rnd.randint(lo, hi)))
        out.append("".join(chars))
    words = ["the", "The", "THE", " of", "tokenizer", "Token", "数据", "中国", "😀", "'s", "'LL", "123", "4567",
             "\n", "\n\n", "  ", "\t", " ", ".", ",", "()", "{}", "->", "==", "é", "ß", "İ", "ﬁ", "—"]
    for _ in range(40):
        out.append("".join(rnd.choice(words) for _ in range(rnd.randint(5, 300))))
    out.extend(" " * n + "x" + "\n" * (n % 5) for n in range(1, 40))
    out.extend(str(rnd.randint(0, 10**rnd.randint(1, 40))) for _ in range(40))
    return tuple(out)
