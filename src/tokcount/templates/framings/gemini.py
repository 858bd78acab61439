"""Gemini: text counted with Gemma 3's vocabulary, media with Google's documented rules.

Google's own offline counter (``google.genai.local_tokenizer.LocalTokenizer``) tokenizes Gemini text with the
Gemma 3 SentencePiece model: it collects every text of the request — part texts, function-call names and
argument keys/string values, function-response names and contents, tool declarations (names, descriptions,
parameter names, descriptions, enums) and the system instruction — tokenizes each and sums, with no per-turn
framing. We do the same with Gemma 3's tokenizer.json (same vocabulary), so "The quick brown fox jumps over the
lazy dog." gives the 10 tokens Google's countTokens documents.

Media (documented): an image whose sides are both ≤ 384 px costs 258; a larger one is cut into square tiles of
side ``floor(min(w, h) / 1.5)``, each 258 (960x540 → 6 tiles → 1548). Gemini 3 prices images by
``media_resolution`` instead (default 1120 per image). PDF pages cost 258 each; video 263 and audio 32 per
second (their length cannot be read here, so they are reported but not counted).

Exactness: a request made only of text parts, in the text-only shape Google's example verifies, is labelled
exact; with tools, function calls or media the count is labelled an estimate (the SDK's own local counter does
not claim them either).
"""

from __future__ import annotations

import json
import math
from typing import Any

from ... import loader
from ...models.catalog import ModelSpec
from ...request import (
    DocumentPart,
    ImagePart,
    Request,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolResultPart,
    VideoPart,
)
from ...result import Count
from ._image_size import image_size

IMAGE_TOKENS = 258
SMALL_IMAGE = 384
PAGE_TOKENS = 258
GEMINI3_IMAGE = 1120


def image_tokens(width: int, height: int, rule: str = "tiles") -> int:
    if rule == "media_resolution":
        return GEMINI3_IMAGE
    if width <= SMALL_IMAGE and height <= SMALL_IMAGE:
        return IMAGE_TOKENS
    unit = max(1, math.floor(min(width, height) / 1.5))
    return math.ceil(width / unit) * math.ceil(height / unit) * IMAGE_TOKENS


def _struct_texts(value: Any, out: list[str]) -> None:
    """Keys and string values of a JSON value, as LocalTokenizer's struct traversal collects them."""
    if isinstance(value, dict):
        for k, v in value.items():
            out.append(str(k))
            _struct_texts(v, out)
    elif isinstance(value, list):
        for v in value:
            _struct_texts(v, out)
    elif isinstance(value, str):
        out.append(value)


def _schema_texts(schema: Any, out: list[str]) -> None:
    if not isinstance(schema, dict):
        return
    for key in ("description", "format", "title"):
        if isinstance(schema.get(key), str):
            out.append(schema[key])
    for v in schema.get("enum") or []:
        if isinstance(v, str):
            out.append(v)
    for name in schema.get("required") or []:
        if isinstance(name, str):
            out.append(name)
    for name, sub in (schema.get("properties") or {}).items():
        out.append(str(name))
        _schema_texts(sub, out)
    if isinstance(schema.get("items"), dict):
        _schema_texts(schema["items"], out)
    for key in ("anyOf", "oneOf"):
        for sub in schema.get(key) or []:
            _schema_texts(sub, out)


def count(spec: ModelSpec, req: Request, *, breakdown: bool = True, return_tokens: bool = False) -> Count:
    tok = loader.load(spec).tokenizer
    rule = spec.extra.get("image_rule", "tiles")
    notes: list[str] = []
    estimated: list[str] = []
    modalities: dict[str, int] = {}

    def add(modality: str, n: int) -> int:
        modalities[modality] = modalities.get(modality, 0) + n
        return n

    def texts_tokens(texts: list[str]) -> int:
        return add("TEXT", sum(tok.count(t) for t in texts if t))

    system = 0
    per_message: list[int] = []
    for msg in req.messages:
        texts: list[str] = []
        media = 0
        for p in msg.parts:
            if isinstance(p, TextPart):
                texts.append(p.text)
            elif isinstance(p, ThinkingPart):
                pass  # thought summaries are not sent back as prompt text
            elif isinstance(p, ToolCallPart):
                texts.append(p.name)
                _struct_texts(p.arguments, texts)
                estimated.append("function calls (texts summed as google-genai's LocalTokenizer does)")
            elif isinstance(p, ToolResultPart):
                if p.name:
                    texts.append(p.name)
                if isinstance(p.content, str):
                    try:
                        _struct_texts(json.loads(p.content), texts)
                    except ValueError:
                        texts.append(p.content)
                else:
                    texts.extend(q.text for q in p.content if isinstance(q, TextPart))
                estimated.append("function responses (texts summed as google-genai's LocalTokenizer does)")
            elif isinstance(p, ImagePart):
                size = image_size(p)
                if size is None:
                    notes.append("image of unknown size counted as one 258-token tile")
                    size = (SMALL_IMAGE, SMALL_IMAGE)
                media += add("IMAGE", image_tokens(size[0], size[1], rule))
                estimated.append("image tokens (documented rule)")
            elif isinstance(p, DocumentPart):
                pages = _pdf_pages(p)
                media += add("DOCUMENT", pages * PAGE_TOKENS)
                if p.text:
                    texts.append(p.text)
                estimated.append("documents (258 per page)")
            elif isinstance(p, VideoPart):
                notes.append("video/audio: 263 (video) / 32 (audio) tokens per second; length unknown, not counted")
                estimated.append("video")
        n = texts_tokens(texts) + media
        if msg.role in ("system", "developer"):
            system += n
        else:
            per_message.append(n)
    tools = 0
    if req.tools:
        texts = []
        for t in req.tools:
            texts.append(t.name)
            if t.description:
                texts.append(t.description)
            _schema_texts(t.parameters, texts)
        tools = texts_tokens(texts)
        estimated.append("tool declarations (texts summed as google-genai's LocalTokenizer does)")
    total = system + tools + sum(per_message)
    notes.extend(f"estimated: {e}" for e in dict.fromkeys(estimated))
    result = Count(model=spec.id, input_tokens=total, exact=not estimated,
                   method=f"gemini-local+gemma3-vocab+{tok.engine}", context_window=spec.context_window,
                   notes=notes, image_tokens=modalities.get("IMAGE", 0))
    if breakdown:
        result.breakdown = {"system": system, "tools": tools, "messages": per_message, "template": 0,
                            "modalities": modalities or {"TEXT": 0}}
    if return_tokens:
        texts_all = [p.text for m in req.messages for p in m.parts if isinstance(p, TextPart)]
        result.tokens = [i for t in texts_all for i in tok.encode(t)]
        result.token_strings = [tok.id_to_string(i) for i in result.tokens]
    return result


def _pdf_pages(part: DocumentPart) -> int:
    from .anthropic import pdf_pages

    return pdf_pages(part.source) or 1


def count_text(spec: ModelSpec, text: str, *, return_tokens: bool = False) -> Count:
    tok = loader.load(spec).tokenizer
    result = Count(model=spec.id, input_tokens=tok.count(text), exact=True,
                   method=f"text+gemma3-vocab+{tok.engine}", context_window=spec.context_window)
    if return_tokens:
        result.tokens = tok.encode(text)
        result.token_strings = [tok.id_to_string(i) for i in result.tokens]
    return result
