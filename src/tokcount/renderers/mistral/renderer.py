"""The Mistral renderer: mistral-common builds and tokenizes the prompt (vLLM's ``tokenizer_mode=mistral``), from
the Tekken / SentencePiece file the catalog names (NeMo's and Pixtral's ship inside mistral-common itself).
"""

from __future__ import annotations

from typing import Any

from ... import loader, model_files
from ...media.sources import FetchPolicy
from ...models.catalog import ModelSpec
from ...request import Request, VideoPart
from ...token_count import Count, split
from .._attribute import attribute
from ..base import Capabilities
from . import common as mistral


def tokenizer(spec: ModelSpec) -> Any:
    """The model's ``MistralTokenizer`` (loaded once per file); a corrupt file is a :class:`CorruptAssets` naming
    it, remembered for the miss TTL like the loader's own misses."""

    def load() -> Any:
        found = model_files.locate(spec, spec.tokenizer, required=True, what="its Mistral tokenizer file")
        assert found is not None
        path, ref = found
        return model_files.parse_asset(spec, ref, path, lambda: mistral.load_tokenizer(path, spec.id))

    return loader.remembered(spec, "mistral", load)


class MistralRenderer:
    name = "mistral"
    capabilities = Capabilities()

    def count(self, spec: ModelSpec, req: Request, *, breakdown: bool, return_tokens: bool,
              media_policy: FetchPolicy | None) -> Count:
        tok = tokenizer(spec)
        ids, notes = mistral.encode(tok, req, policy=media_policy)
        image_ids = mistral.image_token_ids(tok)
        result = Count(model=spec.id, input_tokens=len(ids), exact=not notes, method="mistral-common",
                       context_window=spec.context_window, notes=notes,
                       modalities=split(len(ids), image=sum(i in image_ids for i in ids)))
        if any(isinstance(p, VideoPart) for m in req.messages for p in m.parts):
            result.exact = False
            result.notes.append("video parts are not counted for Mistral models")
        if breakdown:
            tools = len(ids) - len(mistral.encode(tok, req, with_tools=False)[0]) if req.tools else 0
            result.breakdown = attribute(req, len(ids), tools, lambda s: mistral.count_text(tok, s), None)
        if return_tokens:
            result.tokens = ids
            result.token_strings = [mistral.id_to_string(tok, i) for i in ids]
        return result

    def count_text(self, spec: ModelSpec, text: str, *, return_tokens: bool) -> Count:
        tok = tokenizer(spec)
        ids = mistral.encode_text(tok, text)
        result = Count(model=spec.id, input_tokens=len(ids), exact=True, method="text+mistral-common",
                       context_window=spec.context_window)
        if return_tokens:
            result.tokens = ids
            result.token_strings = [mistral.id_to_string(tok, i) for i in ids]
        return result

    def decode(self, spec: ModelSpec, ids: list[int]) -> str:
        """Control tokens (``<s>``, ``[INST]``) are kept as their strings, as the open models' decode keeps them,
        so ``/tokenize`` ids of a chat decode back to its prompt."""
        from mistral_common.tokens.tokenizers.base import SpecialTokenPolicy

        raw = tokenizer(spec).instruct_tokenizer.tokenizer
        bad = next((i for i in ids if not 0 <= i < raw.n_words), None)
        if bad is not None:
            raise ValueError(f"token id {bad} is not in the vocabulary")
        return raw.decode(ids, special_token_policy=SpecialTokenPolicy.KEEP)


RENDERER = MistralRenderer()
