"""Whether a model's files are available without a download (for ``tokcount models`` and ``GET /v1/models``)."""

from __future__ import annotations

import json
from pathlib import Path

from . import assets
from .loader import _packaged
from .models.catalog import AssetRef, ModelSpec


def _local(spec: ModelSpec, refs: tuple[AssetRef, ...]) -> bool:
    for ref in refs:
        files = assets.RepoFiles(ref.repo, spec.revision_of(ref.repo), packaged=_packaged(ref))
        path = assets.find(files, ref.file, download=False).path
        if path is not None and (ref.key is None or _has_key(path, ref.key)):
            return True
    return False


def _has_key(path: Path, key: str) -> bool:
    """A ``file.json#key`` reference only counts when the file really has the key (a config without a template)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        return isinstance(data, dict) and key in data
    except (OSError, ValueError):
        return False


def availability(spec: ModelSpec) -> bool:
    """True when the tokenizer and the template are both found locally (no Hub download needed)."""
    from .templates.framings import BUNDLED_RENDERERS

    if spec.renderer in BUNDLED_RENDERERS:  # closed models whose vocabulary ships inside a Python package
        return True
    tokenizer = _local(spec, spec.tokenizer) or _local(spec, (AssetRef(spec.repo, "TOKENIZER_SAME_AS"),))
    return tokenizer and (spec.renderer != "jinja" or _local(spec, spec.template))
