"""Images and video: their sizes from headers only, and the tokens each model's processor turns them into."""

from .closed import anthropic_image_tokens, gemini_image_tokens, openai_image_tokens
from .rules import image_tokens, rule_for
from .sources import FetchPolicy, ImageInfo, image_size

__all__ = [
    "FetchPolicy",
    "ImageInfo",
    "anthropic_image_tokens",
    "gemini_image_tokens",
    "image_size",
    "image_tokens",
    "openai_image_tokens",
    "rule_for",
]
