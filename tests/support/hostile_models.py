"""User-catalog models whose chat templates are hostile, for the sandbox and render-limit tests.

Each model is a real repo layout under ``<dir>/hub/tokcount-test/<id>/`` (a small byte-level BPE ``tokenizer.json``
built by :mod:`small_vocab`, a config, and the hostile ``chat_template.jinja``) named by a user catalog file, so
the template runs on every real path: ``tokcount.count``, the CLI and the server.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from support.shared import ASSETS
from support.small_vocab import write_step_tokenizer
from tokcount import loader, settings_in_force
from tokcount.settings import Settings

ORG = "tokcount-test"
TEXT = "Hello world, the quick brown fox jumps over the lazy dog. canary secrets class function module"


def write_models(root: Path, templates: dict[str, str]) -> dict[str, str]:
    """Lay out one model per template under ``root``; returns the environment that makes tokcount see them."""
    base = root / "base"
    write_step_tokenizer(base, TEXT)
    lines = []
    for model_id, template in templates.items():
        repo = root / "hub" / ORG / model_id
        repo.mkdir(parents=True, exist_ok=True)
        for f in base.iterdir():
            shutil.copy(f, repo / f.name)
        (repo / "chat_template.jinja").write_text(template, encoding="utf-8")
        lines += ["[[model]]", f'id = "{model_id}"', 'family = "test"', f'repo = "{ORG}/{model_id}"',
                  "context_window = 8192", ""]
    catalog = root / "catalog.toml"
    catalog.write_text("\n".join(lines), encoding="utf-8")
    return {"TOKCOUNT_CATALOG": str(catalog), "TOKCOUNT_ASSET_DIRS": os.pathsep.join([str(root), str(ASSETS)])}


@contextmanager
def installed(env: dict[str, str]) -> Iterator[None]:
    """The models of ``env`` visible to this process (catalog and loaded models reset before and after)."""
    loader.clear()
    try:  # the settings this process would build from ``env`` (a subprocess is given the variables themselves)
        with settings_in_force.using(Settings.load(env={**os.environ, **env})):
            yield
    finally:
        loader.clear()
