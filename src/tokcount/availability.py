"""Whether a model's files are available without a download (for ``tokcount models`` and ``GET /v1/models``)."""

from __future__ import annotations

import json
from pathlib import Path

from . import assets, renderers
from .model_files import fallback, packaged
from .models import built
from .models.catalog import AssetRef, ModelSpec


def _local(spec: ModelSpec, refs: tuple[AssetRef, ...]) -> bool:
    for ref in refs:
        files = assets.RepoFiles(ref.repo, spec.revision_of(ref.repo), packaged=packaged(ref))
        path = assets.find(files, ref.file, download=False).path
        if path is not None and (ref.key is None or _has_key(path, ref.key)):
            return True
        if any(built.available(source) for _, source in fallback(ref)):
            return True  # tokcount builds it (or ships it): no download either
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
    """True when the files the model's renderer needs (tokenizer, and template if it takes one) are found locally
    (no Hub download needed)."""
    needs = renderers.for_spec(spec).capabilities
    if not needs.needs_files:  # closed models whose vocabulary ships inside a Python package
        return True
    tokenizer = _local(spec, spec.tokenizer) or _local(spec, (AssetRef(spec.repo, "TOKENIZER_SAME_AS"),))
    return tokenizer and (not needs.needs_template or _local(spec, spec.template))
