"""The package's layers, shared by the import-graph measure (tests/test_import_graph.py) and the request-path
trace (tests/server/test_request_path.py)."""

from __future__ import annotations

#: the package's layers, top first (docs/architecture.md, "The request path"): a module imports from its own layer
#: or those below it. A module is in the layer of the longest prefix that names it (``tokcount`` names only the
#: package's ``__init__``: a new module must be placed). Placed by what a module
#: depends on, not by its folder: ``renderers.jinja.limits`` (the render bounds: imports the settings and
#: errors), ``passthrough.upstreams`` (the ``[upstream.*]`` settings section: stdlib only) and ``window`` (headers
#: read off a Count) sit with what they are; the render processes run both templates and isolated tokenizer
#: pipelines
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("entry", ("tokcount", "tokcount.server", "tokcount.admission", "tokcount.scheduling", "tokcount.memo",
               "tokcount.protocol", "tokcount.httpguard", "tokcount.fastpath", "tokcount.routing",
               "tokcount.fit_route", "tokcount.observe", "tokcount.metrics", "tokcount.tenancy", "tokcount.sigv4",
               "tokcount.cli", "tokcount.batch", "tokcount.ray", "tokcount.playground", "tokcount.schemas")),
    ("jobs", ("tokcount.jobs", "tokcount.fit", "tokcount.advice", "tokcount.availability")),
    ("dialects", ("tokcount.dialects", "tokcount.passthrough")),
    ("count", ("tokcount.count", "tokcount.documents", "tokcount.window")),
    ("renderers", ("tokcount.renderers",)),
    ("tokenizers", ("tokcount.tokenizers", "tokcount.loader", "tokcount.model_files", "tokcount.assets")),
    ("processes", ("tokcount.renderers.jinja.render_pool", "tokcount.renderers.jinja.render_processes")),
    #: the catalog, the media rules and the closed models' rule data and measured errors (data and lookups)
    ("models", ("tokcount.models", "tokcount.media", "tokcount.rules_data", "tokcount.estimate_error",
                "tokcount.slices")),
    #: the settings in force, and the render bounds read off them (``renderers.jinja.limits``: its defaults are
    #: the settings', the library's limits those in force)
    ("in force", ("tokcount.settings_in_force", "tokcount.renderers.jinja.limits")),
    ("base", ("tokcount.settings", "tokcount.errors", "tokcount.request", "tokcount.token_count",
              "tokcount.passthrough.upstreams")),
)


def layer_of(module: str, layers: tuple[tuple[str, tuple[str, ...]], ...] = LAYERS) -> int:
    """The module's layer as a height (the bottom layer is 0); a module no layer names is an error."""
    best: tuple[int, int] | None = None
    for i, (_, prefixes) in enumerate(layers):
        for prefix in prefixes:
            named = module == prefix or (module.startswith(prefix + ".") and prefix != "tokcount")
            if named and (best is None or len(prefix) > best[1]):
                best = (i, len(prefix))
    if best is None:
        raise AssertionError(f"{module} is in no layer of LAYERS (tests/support/layers.py): place it")
    return len(layers) - 1 - best[0]
