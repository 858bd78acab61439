"""The chat-template renderer in one place: :mod:`.renderer` (``RENDERER``: template + tokenizer file, media
expansion), the engine and its sandbox (:mod:`.jinja_env`, :mod:`.minijinja_env`, :mod:`.native`,
:mod:`.equivalence`), the bounds a render runs under (:mod:`.limits`, :mod:`.bounds`, the render processes
:mod:`.render_pool`, :mod:`.render_processes`, :mod:`.render_child`), message preparation and rendering
(:mod:`.prepare`, :mod:`.render`, :mod:`.kwargs`, :mod:`.typescript_tools`) and what is read off a template
(:mod:`.inspect`, :mod:`.probes`).

This ``__init__`` imports nothing: the settings and the dialects import :mod:`.limits` and :mod:`.kwargs` without
loading the renderer.
"""

#: the name catalog entries give as ``renderer``
NAME = "jinja"
