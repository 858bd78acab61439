"""Claude's renderer in one place: :mod:`.renderer` (``RENDERER``), :mod:`.framing` (the labelled estimate, its
turns, tools and images) and ``claude_rules.toml`` (each family's measured constants)."""

#: the name catalog entries give as ``renderer``
NAME = "anthropic"
