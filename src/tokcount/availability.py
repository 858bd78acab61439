"""Whether a model's files are available without a download (for ``tokcount models`` and ``GET /v1/models``)."""

from __future__ import annotations

from . import assets
from .loader import _packaged
from .models.catalog import AssetRef, ModelSpec


def _local(spec: ModelSpec, refs: tuple[AssetRef, ...]) -> bool:
    for ref in refs:
        files = assets.RepoFiles(ref.repo, spec.revision_of(ref.repo), packaged=_packaged(ref))
        if assets.find(files, ref.file, download=False).path is not None:
            return True
    return False


def availability(spec: ModelSpec) -> bool:
    """True when the tokenizer and the template are both found locally (no Hub download needed)."""
    from .templates.framings import BUNDLED_RENDERERS

    if spec.renderer in BUNDLED_RENDERERS:  # closed models whose vocabulary ships inside a Python package
        return True
    tokenizer = _local(spec, spec.tokenizer) or _local(spec, (AssetRef(spec.repo, "TOKENIZER_SAME_AS"),))
    return tokenizer and (spec.renderer != "jinja" or _local(spec, spec.template))
