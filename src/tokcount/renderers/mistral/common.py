"""Mistral models, whose prompt format is not a Jinja template but code: rendered and tokenized by Mistral's own
library, ``mistral-common`` (what vLLM uses with ``tokenizer_mode=mistral``), from the canonical request.

``mistral-common`` is an optional dependency (``pip install tokcount[mistral]``); it also ships the Tekken
vocabularies of Mistral NeMo (``tekken_240718.json``) and Pixtral 12B (``tekken_240911.json``), so those models
work with no download.
"""

from __future__ import annotations

import hashlib
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import InvalidRequest, MissingAssets, TemplateError
from ...request import ImagePart, Message, Request, TextPart, ThinkingPart, ToolCallPart, ToolResultPart
from ..jinja.prepare import split_tool_results

if TYPE_CHECKING:
    from ...media.sources import FetchPolicy

_lock = threading.Lock()
_tokenizers: dict[str, Any] = {}


def load_tokenizer(path: Path, model_id: str) -> Any:
    """The ``MistralTokenizer`` for a tekken.json / tokenizer.model.v* file, loaded once per process."""
    try:
        from mistral_common.tokens.tokenizers.mistral import MistralTokenizer
    except ImportError as exc:
        raise MissingAssets(model_id, ["mistral-common (Python package)"], [],
                            reason="install tokcount[mistral] to count Mistral models") from exc
    with _lock:
        tok = _tokenizers.get(str(path))
        if tok is None:
            tok = _tokenizers[str(path)] = MistralTokenizer.from_file(str(path))
        return tok


def _text(parts: list[Any]) -> str:
    return "\n".join(p.text for p in parts if isinstance(p, TextPart))


def _image_chunk(part: ImagePart, where: str, max_size: int | None, policy: FetchPolicy | None) -> Any:
    """An image of the part's size: Pixtral's token count depends on width and height only, so the size is read
    from the header through tokcount's guarded reader (mistral-common would otherwise download URLs itself)."""
    from mistral_common.protocol.instruct.messages import ImageChunk
    from PIL import Image

    from ...media.sources import image_size

    if part.width and part.height:
        width, height = part.width, part.height
    else:
        info = image_size(part.url, policy=policy, where=where)  # the caller's policy: the CLI reads files
        width, height = info.width, info.height
    ratio = max(width, height) / max_size if max_size else 1.0
    if ratio > 1:  # the encoder's own downscaling, done here so a huge image is never allocated
        width, height = max(round(width / ratio), 1), max(round(height / ratio), 1)
    return ImageChunk(image=Image.new("RGB", (width, height)))


def _user_content(msg: Message, where: str, max_size: int | None, policy: FetchPolicy | None) -> Any:
    from mistral_common.protocol.instruct.messages import TextChunk

    if not any(isinstance(p, ImagePart) for p in msg.parts):
        return _text(msg.parts)
    chunks: list[Any] = []
    for j, p in enumerate(msg.parts):
        if isinstance(p, TextPart):
            chunks.append(TextChunk(text=p.text))
        elif isinstance(p, ImagePart):
            chunks.append(_image_chunk(p, f"{where}.content[{j}]", max_size, policy))
    return chunks


def _arguments(call: ToolCallPart) -> str:
    return call.arguments_text


_ID = re.compile(r"^[A-Za-z0-9]{9}$")


def mistral_call_id(call_id: str | None) -> tuple[str, bool]:
    """Mistral's tool-call ids are 9 alphanumerics and are printed in the prompt. Longer ids keep their last 9
    characters, as vLLM truncates them; anything still invalid is replaced by a stable 9-character id derived from
    it, and the flag says so, since the real id's tokens may differ."""
    if call_id is None:
        return "null", False
    if len(call_id) > 9:
        call_id = call_id[-9:]
    if _ID.match(call_id):
        return call_id, False
    digest = hashlib.sha256(call_id.encode()).digest()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(alphabet[b % 62] for b in digest[:9]), True


def to_mistral(req: Request, *, with_tools: bool = True, max_image_size: int | None = None,
               policy: FetchPolicy | None = None) -> tuple[Any, list[str]]:
    """The ``ChatCompletionRequest`` mistral-common encodes, prepared as vLLM prepares it (reasoning dropped, the
    last assistant message continued as a prefix), and notes on anything that makes the count inexact."""
    from mistral_common.protocol.instruct.messages import AssistantMessage, SystemMessage, ToolMessage, UserMessage
    from mistral_common.protocol.instruct.request import ChatCompletionRequest
    from mistral_common.protocol.instruct.tool_calls import Function, FunctionCall, Tool, ToolCall

    messages: list[Any] = []
    notes: list[str] = []
    turns = split_tool_results(req.messages)
    for i, msg in enumerate(turns):
        if msg.role in ("system", "developer"):
            messages.append(SystemMessage(content=_text(msg.parts)))
        elif msg.role == "user":
            messages.append(UserMessage(content=_user_content(msg, f"messages[{i}]", max_image_size, policy)))
        elif msg.role == "assistant":
            calls = []
            for c in msg.parts:
                if isinstance(c, ToolCallPart):
                    call_id, replaced = mistral_call_id(c.id)
                    if replaced:
                        notes.append(f"tool call id {c.id!r} is not Mistral's 9-alphanumeric form: counted as "
                                     "a 9-character id")
                    calls.append(ToolCall(id=call_id, function=FunctionCall(name=c.name, arguments=_arguments(c))))
            text = _text([p for p in msg.parts if not isinstance(p, ThinkingPart)])
            last = i == len(turns) - 1
            messages.append(AssistantMessage(content=text or None, tool_calls=calls or None,
                                             prefix=last and not calls and req.add_generation_prompt is not True))
        else:
            result = next((p for p in msg.parts if isinstance(p, ToolResultPart)), None)
            content = result.text if result is not None else _text(msg.parts)
            result_id = mistral_call_id(result.tool_call_id)[0] if result and result.tool_call_id else None
            messages.append(ToolMessage(content=content, tool_call_id=result_id))
    tools = None
    if with_tools and req.tools:
        tools = [Tool(function=Function(name=t.name, description=t.description or "",
                                        parameters=t.parameters or {})) for t in req.tools]
    return ChatCompletionRequest(messages=messages, tools=tools), notes


def encode(tokenizer: Any, req: Request, *, with_tools: bool = True,
           policy: FetchPolicy | None = None) -> tuple[list[int], list[str]]:
    """Token ids of the request and notes on anything counted inexactly; ``policy`` is how image sizes may be
    read (the CLI's local files)."""
    try:
        encoder = getattr(tokenizer.instruct_tokenizer, "image_encoder", None)
        max_size = encoder.image_config.max_image_size if encoder is not None else None
        mreq, notes = to_mistral(req, with_tools=with_tools, max_image_size=max_size, policy=policy)
    except (ValueError, TypeError) as exc:  # pydantic validation of the message shapes
        raise InvalidRequest(f"Mistral request is invalid: {exc}") from exc
    try:
        return tokenizer.encode_chat_completion(mreq).tokens, notes
    except Exception as exc:  # mistral-common's own validation (roles order, tool ids, ...)
        raise TemplateError(f"mistral-common refused the conversation: {type(exc).__name__}: {exc}") from exc


def image_token_ids(tokenizer: Any) -> frozenset[int]:
    """The ids Pixtral's image encoder writes for an image (``[IMG]``, ``[IMG_BREAK]``, ``[IMG_END]``), which
    text never produces (Tekken does not parse its specials from text); empty for a text-only model."""
    encoder = getattr(tokenizer.instruct_tokenizer, "image_encoder", None)
    if encoder is None:
        return frozenset()
    ids = encoder.special_ids
    return frozenset((ids.img, ids.img_break, ids.img_end))


def encode_text(tokenizer: Any, text: str) -> list[int]:
    """Ids of plain text, control-token strings in it treated as text (Tekken's own rule: its specials are
    never parsed from text)."""
    return tokenizer.instruct_tokenizer.tokenizer.encode(text, bos=False, eos=False)


def count_text(tokenizer: Any, text: str) -> int:
    return len(encode_text(tokenizer, text))


def id_to_string(tokenizer: Any, token_id: int) -> str:
    return tokenizer.instruct_tokenizer.tokenizer.id_to_piece(token_id)
