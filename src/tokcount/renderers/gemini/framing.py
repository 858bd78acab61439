"""Gemini: Gemma 3's vocabulary, the per-Content framing and tool rendering measured on recorded API counts.

Text is tokenized with the Gemma 3 SentencePiece vocabulary (what google-genai's ``LocalTokenizer`` uses), so
"The quick brown fox jumps over the lazy dog." gives the 10 tokens Google's countTokens guide documents on
gemini-2.0-flash. Around the texts the API adds what ``../shared/calibration`` shows (``python -m bench.calibrate
--provider gemini``). The rules are data: each catalog entry names its generation (``rules``), whose table of
``gemini_rules.toml`` holds the switches and fitted numbers:

- ``content_tokens``: 1 per Content on Gemini 2.5 / 3 (the system instruction is one), 0 on 2.0;
- past-turn thought summaries (``thought: true`` parts) are prompt text;
- ``tools``: how function declarations, calls and responses count (:mod:`.gemini_tools`): their texts plus fixed
  costs per declaration, property and call (2.0, 2.5), or the FunctionGemma rendering (3);
- a ``thoughtSignature`` costs its bytes (less a leading field-1 chunk) / ``signature_bytes_per_token``.

Media: images cost what the model's ``vision`` rule of media/rules.toml says (``gemini-2``: 258 for an image
whose sides are both ≤ 384 px, else square tiles of side ``floor(min(w, h) / 1.5)`` plus one overview tile, each
258; ``gemini-2.5`` / ``gemini-3``: a ``media_resolution`` budget per image) plus the generation's
``image_tokens``. PDF pages cost ``document_page_tokens`` (258) each; video 263 and audio 32 per second (their
length cannot be read here, so they are reported but not counted).

Exactness: text and system instructions are labelled exact on the families whose every recorded count was
reproduced (``exact_text`` in the catalog); tools, function calls, signatures and media are labelled estimates.

Platforms: the generations' tables are the Gemini Developer API's. A request that came in through another platform's
route (``Request.api``: ``"vertex"``, Vertex AI) takes that platform's table of ``gemini_platforms.toml`` on top
of them (Vertex: no per-Content token), so a platform is data, not a branch here.
"""

from __future__ import annotations

import base64
import json
from functools import cache
from typing import Any

from ... import loader, rules_data
from ...errors import MediaError
from ...media.rules import rule_for
from ...media.sources import FetchPolicy
from ...models.catalog import ModelSpec
from ...request import DocumentPart, ImagePart, Request, TextPart, ThinkingPart, ToolCallPart, ToolResultPart, VideoPart
from ...token_count import Count, split
from .._image_size import image_size
from . import tools as gemini_tools

#: the generation of a catalog entry that names none
DEFAULT_GENERATION = "gemini-2.5"
#: an image whose size cannot be read is counted as one this size (one 258-token tile on Gemini 2.x)
UNKNOWN_SIZE = (384, 384)
#: the media rule (media/rules.toml) of Gemini 1.5 / 2.x
IMAGE_RULE = "gemini-2"


def image_tokens(width: int, height: int, rule: str = IMAGE_RULE, resolution: str | None = None) -> int:
    """An image's cost under the media rule named ``rule`` (a catalog entry's ``vision``) at the request's
    ``mediaResolution`` (``resolution``; the rule's default when None; tile rules have no levels)."""
    found = rule_for(rule)
    if found is None:
        raise MediaError("this model takes no images (its catalog entry names no vision rule).", param="contents")
    return found.tokens(width, height, {"media_resolution": resolution} if resolution else None)


@cache
def platforms() -> dict[str, dict[str, Any]]:
    """``gemini_platforms.toml``: each serving platform's rules over a model's catalog fields."""
    return rules_data.load("gemini_platforms.toml")


@cache
def generations() -> dict[str, dict[str, Any]]:
    """``gemini_rules.toml``: each model generation's rules, its ``inherit`` chain resolved."""
    raw: dict[str, dict[str, Any]] = rules_data.load("gemini_rules.toml").get("generation", {})

    def resolved(name: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
        if name in seen or name not in raw:
            raise KeyError(f"gemini_rules.toml: generation {name!r} is unknown or inherits itself")
        table = raw[name]
        base = resolved(str(table["inherit"]), (*seen, name)) if "inherit" in table else {}
        return {**base, **{k: v for k, v in table.items() if k != "inherit"}}

    return {name: resolved(name) for name in raw}


def rules_of(spec: ModelSpec, api: str | None) -> dict[str, Any]:
    """The model's rules: its generation's table, its own catalog fields, then the platform ``api`` names."""
    table = generations()
    generation = str(spec.extra.get("rules", DEFAULT_GENERATION))
    if generation not in table:
        raise KeyError(f"catalog entry {spec.id!r}: Gemini rules {generation!r} not in gemini_rules.toml")
    own = {k: v for k, v in spec.extra.items() if k != "rules"}
    return {**table[generation], **own, **platforms().get(api or "", {})}


def count(spec: ModelSpec, req: Request, *, breakdown: bool = True, return_tokens: bool = False,
          media_policy: FetchPolicy | None = None) -> Count:
    """The count of ``req``; ``media_policy`` is how image sizes may be read (the CLI's local files)."""
    tok = loader.load(spec).tokenizer
    rule = spec.vision
    rules = rules_of(spec, req.api)
    per_content = int(rules.get("content_tokens", 0))
    titles = bool(rules.get("schema_titles", True))
    sig_rate = float(rules.get("signature_bytes_per_token", 0) or 0)
    notes: list[str] = []
    estimated: list[str] = []
    media: dict[str, int] = {}  # tokens of image / document parts (the rest is text)

    def add(modality: str, n: int) -> int:
        if modality != "text":
            media[modality] = media.get(modality, 0) + n
        return n

    texts_rule = rules.get("tools", "texts") == "texts"

    def seg_tokens(segments: gemini_tools.Segments) -> int:
        return add("text", gemini_tools.count_segments(segments, tok.count))

    def shape_tokens(shape: gemini_tools.TextsShape, fixed: str) -> int:
        return add("text", shape.tokens(tok.count, rules) + int(rules.get(fixed, 0)))

    tool_label = "texts" if texts_rule else "FunctionGemma rendering"

    # a functionResponse names its function; a chat-shaped tool result only has the call's id
    call_names = {p.id: p.name for m in req.messages for p in m.parts if isinstance(p, ToolCallPart) and p.id}
    system = 0
    per_message: list[int] = []
    for msg in req.messages:
        n = add("text", per_content)
        for p in msg.parts:
            if isinstance(p, TextPart):
                n += add("text", tok.count(p.text)) if p.text else 0
            elif isinstance(p, ThinkingPart):
                if p.redacted:
                    n += add("text", _signature_tokens(p.text, sig_rate))
                    if sig_rate:
                        estimated.append("thought signatures (hidden thoughts: signature size / rate)")
                elif p.text:
                    n += add("text", tok.count(p.text))  # past-turn thought summaries are prompt text
            elif isinstance(p, ToolCallPart):
                n += (shape_tokens(gemini_tools.call_texts(p.name, p.arguments_value), "call_tokens") if texts_rule
                      else seg_tokens(gemini_tools.call(p.name, p.arguments_value)))
                estimated.append(f"function calls ({tool_label})")
            elif isinstance(p, ToolResultPart):
                # a string result is the JSON the caller sent (Gemini's functionResponse.response); parts are text
                payload: Any = _json_or_text(p.content) if isinstance(p.content, str) else p.text
                name = p.name or call_names.get(p.tool_call_id or "", "")
                n += (shape_tokens(gemini_tools.response_texts(name, payload), "response_tokens") if texts_rule
                      else seg_tokens(gemini_tools.response(name, payload)))
                estimated.append(f"function responses ({tool_label})")
            elif isinstance(p, ImagePart):
                size = image_size(p, media_policy)
                if size is None:
                    notes.append("image of unknown size counted as one 384x384 image")
                    size = UNKNOWN_SIZE
                n += add("image", image_tokens(size[0], size[1], rule, _resolution(p))
                                  + int(rules.get("image_tokens", 0)))
                estimated.append("image tokens (documented rule)")
            elif isinstance(p, DocumentPart):
                n += add("document", _pdf_pages(p) * int(rules.get("document_page_tokens", 0)))
                if p.text:
                    n += add("text", tok.count(p.text))
                estimated.append(f"documents ({int(rules.get('document_page_tokens', 0))} per page)")
            elif isinstance(p, VideoPart):
                notes.append("video/audio: 263 (video) / 32 (audio) tokens per second; length unknown, not counted")
                estimated.append("video")
        if msg.role in ("system", "developer"):
            system += n
        else:
            per_message.append(n)
    tools = 0
    for t in req.tools:
        tools += (shape_tokens(gemini_tools.declaration_texts(t.name, t.description, t.parameters),
                               "declaration_tokens") if texts_rule
                  else seg_tokens(gemini_tools.declaration(t.name, t.description, t.parameters, titles=titles)))
    if req.tools:
        estimated.append(f"tool declarations ({tool_label})")
    # responseMimeType "application/json" alone costs nothing (10 recorded cases exact); a response schema is in
    # no recording, so its cost is unknown
    if req.response_format is not None and req.response_format.get("type") == "json_schema":
        estimated.append("structured output (generationConfig response schema) not counted")
    if not rules.get("exact_text", False):
        estimated.append(str(rules.get("estimate", "text framing (no recorded count for this model family; it "
                                                   "shares the measured rules)")))
    if (missing := _missing_vocabulary(spec)) is not None:
        estimated.append(missing)
    total = system + tools + sum(per_message)
    notes.extend(f"estimated: {e}" for e in dict.fromkeys(estimated))
    result = Count(model=spec.id, input_tokens=total, exact=not estimated,
                   method=_method(per_content, "texts-tools" if texts_rule else "functiongemma-tools",
                                  bool(req.tools), tok.engine, req.api if req.api in platforms() else None),
                   context_window=spec.context_window,
                   notes=notes, modalities=split(total, **media))
    if breakdown:
        result.breakdown = {"system": system, "tools": tools, "messages": per_message, "template": 0}
    if return_tokens:
        texts_all = [p.text for m in req.messages for p in m.parts if isinstance(p, TextPart)]
        result.tokens = [i for t in texts_all for i in tok.encode(t)]
        result.token_strings = [tok.id_to_string(i) for i in result.tokens]
        if len(result.tokens) != total:
            result.partial_tokens(f"the ids of the text parts only ({len(result.tokens)} of {total}); each "
                                  "Content's framing, tools and media are counted, not listed")
    return result


def _method(per_content: int, tool_rule: str, tools: bool, engine: str, platform: str | None = None) -> str:
    """Say which rules made the count: the platform's, per-Content framing, the tool rule, the vocabulary."""
    parts = ["gemini-local", *([platform] if platform else [])]
    if per_content:
        parts.append(f"content+{per_content}")
    if tools:
        parts.append(tool_rule)
    return "+".join([*parts, "gemma3-vocab", engine])


def _resolution(part: ImagePart) -> str | None:
    """The image's ``mediaResolution`` level; a chat body's ``detail: "auto"`` is the model's default."""
    return None if part.detail in (None, "auto") else part.detail


def _missing_vocabulary(spec: ModelSpec) -> str | None:
    """Why the text cannot be exact when the model tokenizes with another vocabulary than the Gemma 3 one counted
    with (``vocabulary`` in the catalog: gemini-3.5-flash, 3.1 Pro and 3.1 Flash-Lite use Gemma 4's in
    google-genai's ``LocalTokenizer``, which loads it from the Hugging Face Hub; no package reachable here ships
    it), else None."""
    vocabulary = str(spec.extra.get("vocabulary", "gemma3"))
    if vocabulary == "gemma3":
        return None
    return f"vocabulary: the model tokenizes with {vocabulary}'s, not available here; Gemma 3's counted instead"


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _pdf_pages(part: DocumentPart) -> int:
    from ...media.pdf import pdf_pages

    return pdf_pages(part.source) or 1


def count_text(spec: ModelSpec, text: str, *, return_tokens: bool = False) -> Count:
    tok = loader.load(spec).tokenizer
    missing = _missing_vocabulary(spec)
    result = Count(model=spec.id, input_tokens=tok.count(text), exact=missing is None,
                   method=f"text+gemma3-vocab+{tok.engine}", context_window=spec.context_window,
                   notes=[f"estimated: {missing}"] if missing else [])
    if return_tokens:
        result.tokens = tok.encode(text)
        result.token_strings = [tok.id_to_string(i) for i in result.tokens]
    return result


def _signature_tokens(signature: str, bytes_per_token: float) -> int:
    """Hidden thought tokens a past turn's ``thoughtSignature`` stands for (0 when the model family has no rate).

    A signature is the model's encrypted thought, a protobuf of length-prefixed chunks. Measured on the
    calibration set: a Gemini 2.5 signature that is one field-1 chunk (what a non-streamed turn returns) costs
    nothing, and every chunk after it (a streamed turn returns one per streamed piece of thinking, which clients
    concatenate) costs its bytes / ``bytes_per_token``; Gemini 3's field-2 signatures cost all their bytes so.
    """
    if not bytes_per_token or not signature:
        return 0
    return round(_signature_payload(signature) / bytes_per_token)


def _signature_payload(signature: str) -> int:
    """Bytes of a signature's chunks, less a leading field-1 chunk; 0 if it is not base64 (standard or URL-safe)."""
    s = signature.strip().replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(s + "=" * (-len(s) % 4), validate=True)
    except ValueError:
        return 0
    chunks = _chunks(raw)
    if chunks is None:  # not the protobuf layout we know: count its size
        return len(raw)
    if chunks and chunks[0][0] == 1:
        chunks = chunks[1:]
    return sum(size for _, size in chunks)


def _chunks(raw: bytes) -> list[tuple[int, int]] | None:
    """(field number, length) of each length-delimited top-level field; None if ``raw`` is not such a message."""
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(raw):
        key, i = _varint(raw, i)
        size, i = _varint(raw, i)
        if key is None or size is None or key & 7 != 2 or i + size > len(raw):
            return None
        out.append((key >> 3, size))
        i += size
    return out


def _varint(raw: bytes, i: int) -> tuple[int | None, int]:
    value = shift = 0
    while i < len(raw) and shift < 64:
        byte = raw[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i
    return None, i
