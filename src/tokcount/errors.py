"""Typed errors, raised once (by the engine, a dialect's parser or the server's boundary) and mapped by each dialect
to its own status and body at the boundary (``Dialect.error``).

Every error carries a ``kind`` (a stable machine name) and the HTTP status a server should use, so that no
dialect has to guess what went wrong from a message string.
"""

from __future__ import annotations

import logging
import re
from pathlib import PurePath


class TokcountError(Exception):
    """Base of every error tokcount raises on purpose; anything else reaching a caller is a bug."""

    kind = "error"
    status = 400
    #: raised while reading the body's fields (a dialect may answer these with its own status, Anthropic 422)
    schema = False

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class InvalidRequest(TokcountError):
    """The request does not have the shape its dialect documents (wrong type, missing field, empty list)."""

    kind = "invalid_request"
    status = 400


class SchemaError(InvalidRequest):
    """The body's fields break the dialect's schema (wrong type, missing or empty required field, JSON nested too
    deep): an :class:`InvalidRequest` found while parsing, which Anthropic answers with 422 and the others 400."""

    schema = True

    @classmethod
    def of(cls, exc: InvalidRequest) -> SchemaError:
        return exc if isinstance(exc, SchemaError) else cls(exc.message, param=exc.param)


class MalformedJson(TokcountError):
    """The body is empty or not JSON at all."""

    kind = "invalid_json"
    status = 400


class AuthenticationError(TokcountError):
    """No API key, or a wrong one, where the server requires one (never names the key)."""

    kind = "authentication"
    status = 401


class UnknownModel(TokcountError):
    """No catalog entry, alias or Hub repo id matches; ``suggestions`` lists close names."""

    kind = "unknown_model"
    status = 404

    def __init__(self, model: str, suggestions: list[str] | None = None, unavailable: list[str] | None = None) -> None:
        self.model = model
        self.suggestions = suggestions or []
        #: close names whose files are not here (:func:`tokcount.advice.unknown` sorts them out of ``suggestions``)
        self.unavailable = unavailable or []
        hint = f" Did you mean: {', '.join(self.suggestions)}?" if self.suggestions else ""
        if self.unavailable:
            hint += (f" ({' and '.join(self.unavailable)} {'is' if len(self.unavailable) == 1 else 'are'} close too, "
                     "but without files here.)")
        super().__init__(f"Unknown model {model!r}.{hint}", param="model")


class MissingAssets(TokcountError):
    """A model is known but a file it needs is nowhere to be found.

    ``message`` (what a client is answered) names the model and the files once, the *kinds* of places looked at
    once ("TOKCOUNT_ASSET_DIRS", "Hugging Face cache", "Hugging Face Hub (skipped: HF_HUB_OFFLINE)"; per file only
    where they differ), never a server path or URL, then ``hint``: how to get the files. ``detail`` (and
    ``str(exc)``, which tracebacks and logs show) keeps every place in full. ``searched`` holds places, each
    ``"<repo>/<file>: <place>"`` when several files were looked for.
    """

    kind = "missing_assets"
    status = 404

    def __init__(self, model: str, files: list[str], searched: list[str], reason: str = "", hint: str = "") -> None:
        self.model = model
        self.files = files
        self.searched = searched
        where = "; ".join(searched) if searched else "nowhere"
        extra = f" ({reason})" if reason else ""
        tail = f" {hint}" if hint else ""
        super().__init__(
            f"Model {model!r} needs {', '.join(files)}, which could not be found{extra}. Looked in: {where}.{tail}",
            param="model",
        )
        self.detail = self.message
        names = [public_name(f) for f in files]
        needs = names[0] if len(names) == 1 else "one of " + ", ".join(names)
        public_extra = f" ({public_text(reason)})" if reason else ""
        self.message = (f"Model {model!r} needs {needs}{public_extra}, which could not be found. "
                        f"{_places(searched)}{f' {public_text(hint)}' if hint else ''}")
        logging.getLogger("tokcount.assets").info("%s", self.detail)  # the operator's copy, with every path


def _places(searched: list[str]) -> str:
    """"Looked in: A; B; C." once when every file was looked for in the same places (the usual case), else "Looked
    for X: A, B; for Y: C.": each file named once, each place in its public form (no path, no URL)."""
    by_file: dict[str, list[str]] = {}
    for entry in searched:
        head, sep, place = entry.partition(": ")
        file = head if sep and " " not in head and "/" in head else ""
        place = public_text(place if file else entry)
        if place and place not in by_file.setdefault(file, []):
            by_file[file].append(place)
    lists = {tuple(v) for v in by_file.values() if v}
    if not lists:
        return "Looked nowhere."
    if len(lists) == 1:
        return f"Looked in: {'; '.join(lists.pop())}."
    return "Looked " + "; ".join(f"for {public_name(f) or 'it'}: {', '.join(v)}" for f, v in by_file.items()
                                 if v) + "."


#: what a client must not learn about the server: URLs (a private Hub mirror), absolute paths, IPv4 addresses
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s;,)'\"]*")
_PATH = re.compile(r"(?<![\w/.-])(?:~|[A-Za-z]:[\\/]|/)[^\s;,)'\"]*")
_IPV4 = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b")


def public_text(text: str) -> str:
    """``text`` without URLs, absolute paths or IP addresses, so a message built from internal details can be sent to a
    client: a URL is dropped, a file path becomes its file name (a directory is dropped), an address "(address)"."""
    text = _URL.sub("", text)
    text = _PATH.sub(lambda m: _file_name(m.group(0)), text)
    text = _IPV4.sub("(address)", text)
    text = re.sub(r"\s+", " ", text).replace(" )", ")").replace("( ", "(").replace("''", "")
    return text.strip(" :")


def _file_name(path: str) -> str:
    name = PurePath(path).name
    return name if "." in name.strip(".") else ""


def public_name(name: str) -> str:
    """A file as a client may see it: its name when ``name`` is an absolute path, else ``name`` (``repo/file``)."""
    if _PATH.fullmatch(name) or _URL.fullmatch(name):
        return PurePath(name).name or name
    return name


class ModelNotAllowed(UnknownModel):
    """A Hub repo id outside the catalog and the local asset dirs, which this server's operator has not allowed.

    Naming a repo picks the chat template (third-party Jinja code) and makes the server download it, so on a
    server that choice is the operator's (``allow_hub_repos``), not the client's. An :class:`UnknownModel` to
    every caller that only asks "can this name be served here" (Bifrost falls back past it)."""

    kind = "model_not_allowed"
    status = 403

    def __init__(self, model: str) -> None:
        self.model = model
        self.suggestions = []
        TokcountError.__init__(self,
            f"Model {model!r} is not in this server's catalog and Hub repos outside it are not allowed here "
            "(the operator can allow it with allow_hub_repos / TOKCOUNT_ALLOW_HUB_REPOS).", param="model")


class CorruptAssets(MissingAssets):
    """A model's file is there but cannot be used (truncated, invalid JSON, unreadable, refused by ``tokenizers``).

    A :class:`MissingAssets` for every caller (the model is not usable here, Bifrost falls back past it), with a
    message naming the model and the file as the catalog names it; the server path and the parser's full message
    stay in ``path`` / ``detail`` for the log, never in what a client sees."""

    def __init__(self, model: str, file: str, path: str, detail: str) -> None:
        TokcountError.__init__(self, f"Model {model!r} has an unusable {file}: {detail}.", param="model")
        self.model = model
        self.files = [file]
        self.searched = []
        self.file = file
        self.path = path
        self.detail = detail


class TemplateError(TokcountError):
    """The model's own chat template refused the conversation (``raise_exception`` or a Jinja error)."""

    kind = "template_error"
    status = 400


class MediaError(TokcountError):
    """An image or video part could not be read, fetched or measured."""

    kind = "media_error"
    status = 400


class AddressRefused(MediaError):
    """An image URL whose host the fetch address guard refuses (private, loopback, link-local, metadata): refused
    for every model, closed ones too. An assumed size in its place would count an image the provider cannot
    fetch either, and answer 200 for a request meant to reach an internal address (issue 26)."""


class ImageTooLarge(MediaError):
    """An image's header declares more pixels (or a longer side) than the media policy counts: a 413."""

    kind = "request_too_large"
    status = 413


class RequestTooLarge(TokcountError):
    """The request exceeds a configured size or count limit."""

    kind = "request_too_large"
    status = 413


class RequestTimeout(TokcountError):
    """The client did not send its request (headers or body) within the server's deadline."""

    kind = "request_timeout"
    status = 408


class RouteNotFound(TokcountError):
    """No route at this path (routing.py answers it in the error shape the path's dialect uses)."""

    kind = "not_found"
    status = 404


class MethodNotAllowed(TokcountError):
    """The path exists, but not for this method."""

    kind = "method_not_allowed"
    status = 405


class InternalError(TokcountError):
    """A bug: logged with its traceback and answered as a 500 in the route's shape (never with the body)."""

    kind = "internal"
    status = 500


class RenderLimit(TokcountError):
    """The chat template passed a render limit (output size, loop iterations, a repetition's result).

    A 4xx: the same request on the same model hits the same limit every time, so retrying cannot help; the
    message names the setting that would have to be raised.
    """

    kind = "render_limit"
    status = 400


class RenderTimeout(TokcountError):
    """The chat template did not finish within the render's wall-clock budget.

    A 503, not a 4xx: how far a render gets in its budget depends on the server's load, so the condition is the
    server's, and a client may retry (a runaway template will time out again, but so may a legit one under load).
    """

    kind = "render_timeout"
    status = 503


class TokenizerFailure(TokcountError):
    """The model's tokenizer failed on this text (its Rust side panicked, or its isolated process died).

    A 4xx: the same text fails the same way every time; the model's files, not the server, are at fault.
    """

    kind = "tokenizer_failed"
    status = 400
