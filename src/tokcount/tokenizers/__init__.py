"""Tokenizer backends behind one small interface, plus the added-token splitter they share.

A :class:`~tokcount.tokenizers.core.Tokenizer` = an :class:`~tokcount.tokenizers.base.Encoder` for ordinary
text (one module per engine) + the model's added tokens, recognised exactly as Hugging Face ``tokenizers``
recognises them. Because BPE never merges across an added token, the count of a rendered prompt is the sum of
the counts of the stretches between added tokens, which is what makes per-segment caching exact.
"""

from .core import Tokenizer

__all__ = ["Tokenizer"]
