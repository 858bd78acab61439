"""Images and video: their sizes from headers only, and the tokens each model's rule turns them into (one table
for open and closed models: ``rules.toml``)."""

from .rules import image_tokens, rule_for
from .sources import FetchPolicy, ImageInfo, image_size

__all__ = [
    "FetchPolicy",
    "ImageInfo",
    "image_size",
    "image_tokens",
    "rule_for",
]
