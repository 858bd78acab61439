"""What a renderer is: one way of turning a canonical request into prompt tokens for a model.

A catalog entry names its renderer (``renderer = "jinja"`` by default); :mod:`tokcount.renderers` maps the name
to an implementation. Everything that differs between "a chat template", "mistral-common" and "a closed
provider's framing" lives behind this protocol, so the engine facade (:mod:`tokcount.count`), the server's
``/tokenize`` and ``/detokenize``, ``tokcount models`` and ``tokcount pull`` ask the renderer instead of testing
renderer names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..media.sources import FetchPolicy
    from ..models.catalog import ModelSpec
    from ..request import Request
    from ..token_count import Count


@dataclass(frozen=True)
class Capabilities:
    """What the callers of a renderer need to know without running it."""

    #: counts ``document`` parts itself (a provider's document rule); otherwise the facade inlines the text of
    #: documents first and labels the count inexact (:mod:`tokcount.documents`)
    takes_documents: bool = False
    #: its tokenizer is a file that must be found locally or downloaded (False: the vocabulary ships in a package)
    needs_files: bool = True
    #: it also needs a chat template file (only the Jinja renderer); the loader then reads the template with the
    #: tokenizer and keeps both, where other renderers' modules keep what they load themselves
    needs_template: bool = False
    #: token ids map back to text (False for an estimate with no public tokenizer)
    decodes: bool = True


class Renderer(Protocol):
    """One way of building a model's prompt. Implementations are stateless; loaded files are cached elsewhere."""

    name: str
    capabilities: Capabilities

    def count(self, spec: ModelSpec, req: Request, *, breakdown: bool, return_tokens: bool,
              media_policy: FetchPolicy | None) -> Count:
        """Input tokens of a non-empty request; documents already handled."""
        ...

    def count_text(self, spec: ModelSpec, text: str, *, return_tokens: bool) -> Count:
        """Tokens of a raw prompt string: special-token strings recognised as the model does, nothing added."""
        ...

    def decode(self, spec: ModelSpec, ids: list[int]) -> str:
        """The text of ``ids``; an id outside the vocabulary raises ``ValueError`` naming it."""
        ...
