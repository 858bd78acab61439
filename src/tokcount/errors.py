"""Typed errors, raised once by the engine and mapped by each dialect to its own status and body.

Every error carries a ``kind`` (a stable machine name) and the HTTP status a server should use, so that no
dialect has to guess what went wrong from a message string.
"""

from __future__ import annotations


class TokcountError(Exception):
    """Base of every error tokcount raises on purpose; anything else reaching a caller is a bug."""

    kind = "error"
    status = 400

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class InvalidRequest(TokcountError):
    """The request does not have the shape its dialect documents (wrong type, missing field, empty list)."""

    kind = "invalid_request"
    status = 400


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
    """A model is known but a file it needs is nowhere to be found; names every place that was looked at."""

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


class TemplateError(TokcountError):
    """The model's own chat template refused the conversation (``raise_exception`` or a Jinja error)."""

    kind = "template_error"
    status = 400


class MediaError(TokcountError):
    """An image or video part could not be read, fetched or measured."""

    kind = "media_error"
    status = 400


class RequestTooLarge(TokcountError):
    """The request exceeds a configured size or count limit."""

    kind = "request_too_large"
    status = 413
