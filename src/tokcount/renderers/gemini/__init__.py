"""Gemini's renderer in one place: :mod:`.renderer` (``RENDERER``), :mod:`.framing` (the framing over the Gemma 3
vocabulary), :mod:`.tools` (function declarations as counted), ``gemini_rules.toml`` (each generation's rules) and
``gemini_platforms.toml`` (a serving platform's rules, Vertex AI's)."""

#: the name catalog entries give as ``renderer``
NAME = "gemini"
