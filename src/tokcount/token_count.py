"""A token count (:class:`Count`) with its provenance, shared by the engine and every renderer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .estimate_error import EstimateError


@dataclass
class Count:
    """A token count with its provenance.

    ``breakdown`` attributes the total: ``system`` (content of system/developer messages), ``tools`` (what the
    tool definitions add to the prompt), ``messages`` (content of each other message, in order) and ``template``
    (the framing the chat template adds: role markers, separators, generation prompt). They sum to the total.
    Content is counted on its own, so where the template merges a content's first token with its framing the
    split moves by a token between them; the total is always the exact count.
    """

    model: str
    input_tokens: int
    exact: bool
    method: str
    breakdown: dict[str, Any] | None = None
    context_window: int | None = None
    tokens: list[int] | None = None
    token_strings: list[str] | None = None
    prompt: str | None = None
    notes: list[str] = field(default_factory=list)
    #: why a configured upstream passthrough was not used ("openai: timeout after 5s"); None when it was, or
    #: when none is configured for the model's provider
    upstream_error: str | None = None
    #: the catalog entry whose rules counted a name the catalog does not list (a ``[[family]]`` match: the
    #: count is then an estimate); None for a listed name
    resolved_as: str | None = None
    #: ``input_tokens`` split by what the tokens carry: ``text`` (everything but media: text, framing, tools)
    #: and ``image`` / ``video`` / ``audio`` / ``document`` where present; the values sum to ``input_tokens``.
    #: Every renderer fills it (:func:`split`); an empty dict means "all text".
    modalities: dict[str, int] = field(default_factory=dict)
    #: set when ``tokens`` is not the whole prompt that was counted: what it leaves out (a closed model's
    #: framing, an estimate's ids, images before expansion); None when the ids are the prompt counted
    tokens_partial: str | None = None
    #: a closed model's estimate (``exact`` false): the error measured on held-out recordings of its slice
    #: (:mod:`tokcount.estimate_error`); None for an exact count or a model no provider's API was measured for
    estimate_error: EstimateError | None = None

    def partial_tokens(self, why: str) -> None:
        """Say that ``tokens`` is not the whole prompt, and why: in :attr:`tokens_partial` (a route that lists the
        ids says so next to them: Bifrost's ``extra_fields.tokens_complete``) and in the notes."""
        self.tokens_partial = why
        self.notes.append(f"tokens: {why}")

    def estimated(self, notes: list[str]) -> Count:
        """This count, labelled an estimate for the reasons in ``notes`` (nothing changes when there are none)."""
        if notes:
            self.exact = False
            self.notes.extend(notes)
        return self

    @property
    def image_tokens(self) -> int:
        """The part of ``input_tokens`` that images take (placeholders expanded, or a provider's image rule)."""
        return self.modalities.get("image", 0)

    def modality_split(self) -> dict[str, int]:
        """:attr:`modalities`, or everything as text when no renderer split it."""
        return self.modalities or {"text": self.input_tokens}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model,
            "input_tokens": self.input_tokens,
            "exact": self.exact,
            "method": self.method,
        }
        if self.breakdown is not None:
            out["breakdown"] = self.breakdown
        if self.context_window is not None:
            out["context_window"] = self.context_window
        if self.tokens is not None:
            out["tokens"] = self.tokens
        if self.token_strings is not None:
            out["token_strings"] = self.token_strings
        if self.image_tokens:
            out["image_tokens"] = self.image_tokens
        if set(self.modalities) - {"text"}:
            out["modalities"] = self.modalities
        if self.resolved_as is not None:
            out["resolved_as"] = self.resolved_as
        if self.estimate_error is not None:
            out["estimate_error"] = self.estimate_error.as_dict()
        if self.notes:
            out["notes"] = self.notes
        return out


MODALITIES = ("text", "image", "video", "audio", "document")


def split(total: int, **media: int) -> dict[str, int]:
    """Modalities of a count of ``total`` tokens whose media parts took ``media`` (e.g. ``image=765``): text is
    what the media leave, so the split always sums to the total; media that took nothing are left out."""
    unknown = set(media) - set(MODALITIES[1:])
    if unknown:
        raise ValueError(f"unknown modalities {sorted(unknown)}; known: {MODALITIES[1:]}")
    out = {"text": total - sum(media.values())}
    out.update({k: v for k, v in media.items() if v})
    return out
