"""The Mistral renderer's home: :mod:`.renderer` (``RENDERER``, the protocol) over :mod:`.common` (mistral-common
builds and tokenizes the prompt, as vLLM's ``tokenizer_mode=mistral`` does)."""

#: the name catalog entries give as ``renderer``
NAME = "mistral"
