"""What a 404 for a model advises, added where a request is answered (:func:`tokcount.jobs.execute`), which knows
the configured upstreams and may ask which models have their files here (issue 26).

- A model whose files are missing: the loader's message already says where it looked and how to get the files
  (``tokcount pull``, an asset dir); here the third way is added for a model whose provider has a count endpoint
  tokcount can ask, when that passthrough is not configured.
- An unknown name: of the catalog's close names, those that can be counted here are suggested; the others are
  named apart ("close too, but without files here"), so a client is never pointed at a name that 404s as well.
"""

from __future__ import annotations

from .availability import availability
from .errors import MissingAssets, UnknownModel
from .models.catalog import ModelSpec, default_catalog
from .passthrough import Passthrough, provider_of

#: how the providers name themselves, for the sentence that points at their passthrough
PROVIDER_NAMES = {"openai": "OpenAI", "anthropic": "Anthropic", "gemini": "Google", "moonshot": "Moonshot",
                  "stepfun": "StepFun"}


def missing(exc: MissingAssets, spec: ModelSpec, upstream: Passthrough | None) -> None:
    """Add the provider's passthrough to ``exc``'s advice when the model has a provider and none is configured."""
    provider = provider_of(spec)
    if provider is None or (upstream is not None and upstream.upstream_for(spec) is not None):
        return
    name = PROVIDER_NAMES.get(provider, provider)
    env = f"TOKCOUNT_UPSTREAM_{provider.upper()}"
    exc.message += (f" Or let {name} count it: configure the {name} passthrough ([upstream.{provider}] in the "
                    f"settings file, or {env}_URL and {env}_KEY); a server then asks {name} itself, the CLI with "
                    "--upstream.")


def unknown(exc: UnknownModel) -> UnknownModel:
    """``exc`` with its suggestions split into names counted here and names without their files here."""
    if not exc.suggestions or exc.unavailable:
        return exc
    models = default_catalog().models
    here = [s for s in exc.suggestions if s not in models or availability(models[s])]
    if len(here) == len(exc.suggestions):
        return exc
    return UnknownModel(exc.model, here, [s for s in exc.suggestions if s not in here])
