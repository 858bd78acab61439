"""What a caller allows when image sizes are read: :class:`FetchPolicy`, built once from the settings.

Settings (``media_*`` in settings.py, read once: :func:`policy_from`): ``TOKCOUNT_MEDIA_FETCH`` (0 turns
remote fetching off), ``TOKCOUNT_MEDIA_ALLOW_NETWORKS`` (CIDRs), ``TOKCOUNT_MEDIA_MAX_PIXELS``,
``TOKCOUNT_MEDIA_MAX_SIDE``, ``TOKCOUNT_MEDIA_DEADLINE`` (seconds per fetch), ``TOKCOUNT_MEDIA_REQUEST_DEADLINE``
(seconds for all fetches of a request), ``TOKCOUNT_MEDIA_CONCURRENCY`` (fetches at once per request),
``TOKCOUNT_MEDIA_TOTAL_CONCURRENCY`` (fetches at once in the whole process). The bounds a setting can change take
that setting's default (:func:`tokcount.settings.default`): a default is written once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..settings import Settings, default


@dataclass(frozen=True)
class FetchPolicy:
    """Limits for reading media. Defaults suit a public service; the CLI enables ``allow_local``."""

    max_bytes: int = 20 * 1024 * 1024      # bytes read from a URL or file before giving up on finding a header
    max_data_url_bytes: int = 50 * 1024 * 1024
    timeout: float = 5.0                   # per connect / read
    deadline: float = default("media_deadline")
    max_redirects: int = 5
    max_media_parts: int = 256             # images/videos in one request (each may cost a fetch)
    # the bounds a setting can change default to that setting's default (settings.py says why each is what it is)
    max_image_pixels: int = default("media_max_pixels")
    max_image_side: int = default("media_max_side")
    max_concurrent_fetches: int = default("media_concurrency")
    max_total_fetches: int = default("media_total_concurrency")
    request_deadline: float = default("media_request_deadline")
    failure_ttl: float = 30.0              # a failed size read is answered from memory this long (no refetch)
    allow_remote: bool = True
    allow_local: bool = False
    allow_networks: tuple[str, ...] = ()   # CIDRs let through the address guard (tests: "127.0.0.1/32")
    user_agent: str = "tokcount-media/0.1 (+image size probe)"
    extra: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


def policy_from(settings: Settings) -> FetchPolicy:
    """The image-fetch policy ``settings`` describe (``media_*``; a 0 is the setting's default). The server and
    the CLI build theirs once with this and pass it down to every job."""
    bounds = {policy: getattr(settings, name) or default(name) for policy, name in SETTING_OF.items()}
    return FetchPolicy(allow_remote=settings.media_fetch, allow_networks=settings.media_allow_networks, **bounds)


#: the FetchPolicy bound each ``media_*`` setting sets
SETTING_OF = {"max_image_pixels": "media_max_pixels", "max_image_side": "media_max_side", "deadline": "media_deadline",
              "request_deadline": "media_request_deadline", "max_concurrent_fetches": "media_concurrency",
              "max_total_fetches": "media_total_concurrency"}


def default_policy() -> FetchPolicy:
    """The policy of the process's current settings, for library calls given none."""
    from .. import settings_in_force

    return policy_from(settings_in_force.current())
