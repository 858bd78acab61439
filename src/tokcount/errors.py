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

    def __init__(self, model: str, suggestions: list[str] | None = None) -> None:
        self.model = model
        self.suggestions = suggestions or []
        hint = f" Did you mean: {', '.join(self.suggestions)}?" if self.suggestions else ""
        super().__init__(f"Unknown model {model!r}.{hint}", param="model")


class MissingAssets(TokcountError):
    """A model is known but a file it needs is nowhere to be found.

    ``message`` (what a client is answered) names the model, the files and the *kinds* of places looked at
    ("TOKCOUNT_ASSET_DIRS", "Hugging Face cache", "Hugging Face Hub (skipped: HF_HUB_OFFLINE)"), never a server path
    or URL; ``detail`` (and ``str(exc)``, which tracebacks and logs show) keeps every place in full.
    """

    kind = "missing_assets"
    status = 404

    def __init__(self, model: str, files: list[str], searched: list[str], reason: str = "") -> None:
        self.model = model
        self.files = files
        self.searched = searched
        where = "; ".join(searched) if searched else "nowhere"
        extra = f" ({reason})" if reason else ""
        super().__init__(
            f"Model {model!r} needs {', '.join(files)}, which could not be found{extra}. Looked in: {where}.",
            param="model",
        )
        self.detail = self.message
        kinds = list(dict.fromkeys(k for k in map(public_text, searched) if k)) or ["nowhere"]
        public_extra = f" ({public_text(reason)})" if reason else ""
        self.message = (f"Model {model!r} needs {', '.join(public_name(f) for f in files)}, which could not be "
                        f"found{public_extra}. Looked in: {'; '.join(kinds)}.")
        logging.getLogger("tokcount.assets").info("%s", self.detail)  # the operator's copy, with every path


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


class TemplateError(TokcountError):
    """The model's own chat template refused the conversation (``raise_exception`` or a Jinja error)."""

    kind = "template_error"
    status = 400


class MediaError(TokcountError):
    """An image or video part could not be read, fetched or measured."""

    kind = "media_error"
    status = 400


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


class InternalError(TokcountError):
    """A bug: logged with its traceback and answered as a 500 in the route's shape (never with the body)."""

    kind = "internal"
    status = 500
