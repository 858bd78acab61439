"""OpenAI's renderer in one place: :mod:`.renderer` (``RENDERER``), :mod:`.framing` (the cookbook's message
framing and tool rendering over the bundled o200k/cl100k vocabularies) and ``openai_framing.toml`` (its constants)."""

#: the name catalog entries give as ``renderer``
NAME = "openai-chat"
