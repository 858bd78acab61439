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
