"""Gemini's renderer in one place: :mod:`.renderer` (``RENDERER``), :mod:`.framing` (the framing over the Gemma 3
vocabulary), :mod:`.tools` (function declarations as counted) and ``platforms.toml`` (a serving platform's rules,
Vertex AI's)."""
