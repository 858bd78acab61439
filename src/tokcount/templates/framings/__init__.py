"""Built-in framings for closed models: how a provider turns a request into prompt tokens when there is no
public chat template. Each module has ``count(spec, req, breakdown=, return_tokens=)`` and
``count_text(spec, text, return_tokens=)`` returning a :class:`~tokcount.result.Count` that says whether it is
exact and by which method; :mod:`tokcount.renderers` adapts each one to the renderer protocol and registers it
under the name a catalog entry's ``renderer`` uses.
"""
