"""The model catalog: models as data (``catalog.toml``), extensible with user files, plus name resolution."""

from .catalog import AssetRef, Catalog, ModelSpec, default_catalog

__all__ = ["AssetRef", "Catalog", "ModelSpec", "default_catalog"]
