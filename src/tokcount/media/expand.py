"""Images in a rendered prompt → exact token count, as the model's processor expands them.

The chat template renders each image as the model's placeholder (``<|vision_start|><|image_pad|><|vision_end|>``
for Qwen, ``<start_of_image>`` for Gemma 3, ...). The processor then replaces one ``target`` token per image, in
order, with the image's tokens. We do the same replacement on the text, writing each long pad run once, tokenize
the result (so text next to the replacement — Gemma's ``"\\n\\n"`` — merges exactly as it does for the model),
and add the rest of every pad run as a number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import AddressRefused, ImageTooLarge, MediaError, RequestTooLarge
from ..request import ImagePart, Message, Part, Request, ToolResultPart, VideoPart
from .rules import rule_for
from .sources import FetchPolicy, ImageInfo, default_policy, prefetch


@dataclass
class MediaCount:
    total: int
    #: one entry per media part: index, kind, where, width, height, tokens
    parts: list[dict[str, Any]]
    tokens: int
    exact: bool
    notes: list[str] = field(default_factory=list)


def media_parts(req: Request) -> list[tuple[str, ImagePart | VideoPart]]:
    """Every image/video part with its request path, in the order a template renders them."""
    out: list[tuple[str, ImagePart | VideoPart]] = []
    for i, msg in enumerate(req.messages):
        out.extend(_parts_of(msg, f"messages[{i}].content"))
    return out


def _parts_of(msg: Message, where: str) -> list[tuple[str, ImagePart | VideoPart]]:
    out: list[tuple[str, ImagePart | VideoPart]] = []
    parts: list[Part] = msg.parts
    for j, p in enumerate(parts):
        if isinstance(p, ImagePart | VideoPart):
            out.append((f"{where}[{j}]", p))
        elif isinstance(p, ToolResultPart) and not isinstance(p.content, str):
            out.extend((f"{where}[{j}].content[{k}]", q) for k, q in enumerate(p.content)
                       if isinstance(q, ImagePart | VideoPart))
    return out


def has_media(req: Request) -> bool:
    """Whether any message holds an image or video (asked of every request: no request paths built)."""
    for msg in req.messages:
        for p in msg.parts:
            if isinstance(p, ImagePart | VideoPart):
                return True
            if isinstance(p, ToolResultPart) and not isinstance(p.content, str) and any(
                    isinstance(q, ImagePart | VideoPart) for q in p.content):
                return True
    return False


def placeholder_for(vision: str) -> str | None:
    """What vLLM writes into a message's text for each image when the template takes only strings."""
    rule = rule_for(vision)
    return rule.placeholder if rule is not None else None


def check_media_limit(req: Request, policy: FetchPolicy | None = None) -> list[Any]:
    """The request's image/video parts, after two checks every model family shares: more parts than the policy
    allows (each may cost a fetch) is a 413, and so is an image whose header declares more than the policy's pixel
    or side limit. The sizes are read here, all at once (remote ones concurrently, under the policy's per-request
    cap and deadline), so the per-part reads that follow are answered from the media caches; a failure other than
    an oversized image is left for the caller (an open model refuses it, a closed model's estimate goes on)."""
    return _checked(req, policy or default_policy())[0]


def read_remote_sizes(req: Request, policy: FetchPolicy | None = None) -> None:
    """Read the sizes of the request's remote images now, all at once, before any renderer runs: every renderer
    needs them (Mistral's one part at a time), and on the server's counting threads
    (:func:`tokcount.media.sources.deferred`) a size not read yet stops the count, which costs least before the
    render. The same checks as :func:`check_media_limit` (too many parts, an oversized image); other failures
    are left in the caches for the renderer, which decides."""
    _checked(req, policy or default_policy(), remote_only=True)


def _checked(req: Request, policy: FetchPolicy, *,
             remote_only: bool = False) -> tuple[list[Any], dict[str, ImageInfo | MediaError]]:
    parts = media_parts(req)
    limit = policy.max_media_parts
    if len(parts) > limit:
        raise RequestTooLarge(f"the request has {len(parts)} image/video parts; at most {limit} are counted per "
                              "request.", param="messages")
    unsized = [(where, p.url or "") for where, p in parts
               if isinstance(p, ImagePart) and not (p.width and p.height)
               and (not remote_only or (p.url or "").strip().lower().startswith(("http://", "https://")))]
    sizes = prefetch(unsized, policy)
    for result in sizes.values():
        if isinstance(result, ImageTooLarge | AddressRefused):  # refused for every model, as the provider would
            raise result
    return parts, sizes


def count_media(tokenizer: Any, vision: str, req: Request, prompt: str, *,
                policy: FetchPolicy | None = None) -> MediaCount:
    """The exact prompt token count with every image expanded, and what each image costs."""
    policy = policy or default_policy()
    parts, sizes = _checked(req, policy)
    rule = rule_for(vision)
    if rule is None:  # the prompt as rendered is all there is to count
        plain = [_entry(i, w, p, None, None, None) for i, (w, p) in enumerate(parts)]
        return MediaCount(tokenizer.count(prompt), plain, 0, False,
                          ["this model has no vision rule: image/video parts are not counted, only the text "
                           "its template writes for them"])
    notes: list[str] = []
    exact = rule.exact
    if not exact:
        notes.append(f"media rule {rule.key!r} is an estimate (no public processor to verify it against)")
    images = [(w, p) for w, p in parts if isinstance(p, ImagePart)]
    videos = [(w, p) for w, p in parts if isinstance(p, VideoPart)]
    if videos:
        exact = False
        notes.append("video tokens are not counted (frame sampling needs the container's duration and fps): "
                     "only the template's video placeholders are")
    pieces = prompt.split(rule.target)
    found = len(pieces) - 1
    if found != len(images):
        exact = False
        notes.append(f"the template rendered {found} image placeholder(s) for {len(images)} image part(s); "
                     f"the first {min(found, len(images))} were expanded")
    expanded = [pieces[0]]
    repeats = 0
    entries: list[dict[str, Any]] = []
    media_tokens = 0
    wrapper = sum(tokenizer.count(w) for w in rule.wrapper)
    done = 0  # images expanded so far (= placeholders consumed)
    for index, (where, part) in enumerate(parts):
        if isinstance(part, VideoPart):
            entries.append(_entry(index, where, part, None, None, None))
            continue
        width, height = _size(part, where, sizes)
        try:
            exp = rule.expand(width, height)
        except MediaError as exc:
            raise MediaError(f"{where}: {exc.message}", param=where) from None
        tokens = tokenizer.count(exp.text_once()) + exp.repeats() + wrapper
        entries.append(_entry(index, where, part, width, height, tokens))
        if done < found:
            expanded += [exp.text_once(), pieces[done + 1]]
            repeats += exp.repeats()
            media_tokens += tokens
            done += 1
    expanded += [rule.target + piece for piece in pieces[done + 1:]]
    total = tokenizer.count("".join(expanded)) + repeats
    return MediaCount(total, entries, media_tokens, exact, notes)


def _size(part: ImagePart, where: str, sizes: dict[str, ImageInfo | MediaError]) -> tuple[int, int]:
    if part.width and part.height:
        return int(part.width), int(part.height)
    info = sizes[where]  # read by _checked, all of the request's images at once
    if isinstance(info, MediaError):
        raise info
    return info.width, info.height


def _entry(index: int, where: str, part: ImagePart | VideoPart, width: int | None, height: int | None,
           tokens: int | None) -> dict[str, Any]:
    return {"index": index, "kind": part.type, "where": where, "width": width, "height": height, "tokens": tokens}
