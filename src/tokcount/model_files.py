"""Finding and reading a model's files: which candidate file is used (local first, then the Hub, then what
tokcount ships or builds), what a miss tells its reader, and a file turned into a chat template or a tokenizer,
any failure to read one being :class:`CorruptAssets` naming the model and the file.

:mod:`tokcount.loader` keeps what is loaded (the LRU, single flights, remembered misses); this module keeps no state.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from . import assets
from .errors import CorruptAssets, MissingAssets, TokcountError
from .models.catalog import AssetRef, ModelSpec
from .tokenizers.added import AddedToken, AddedTokens
from .tokenizers.core import Tokenizer

log = logging.getLogger("tokcount.loader")
T = TypeVar("T")

#: template variables taken from tokenizer_config.json, as ``PreTrainedTokenizerFast(bos_token=..., ...)`` has them
SPECIAL_TOKEN_KEYS = ("bos_token", "eos_token", "unk_token", "pad_token")


def locate(spec: ModelSpec, refs: tuple[AssetRef, ...], *, required: bool, what: str, hint: str = "",
           trail: list[str] | None = None) -> tuple[Path, AssetRef] | None:
    """The first candidate found locally, else the first that downloads; every place tried is recorded (in
    ``trail`` too, when given: a caller that finds the file unusable can still say where else it looked).

    Candidates are in priority order. A local file of a later candidate wins over downloading an earlier one
    only when they are in different repos (a declared shared tokenizer); within one repo an earlier file that may
    exist on the Hub (``chat_template.jinja`` before the config's ``chat_template``) is asked for first. A miss
    says ``what`` is missing, then ``hint`` (the catalog's word on the model) and how to get the files.
    """
    searched: list[str] = [] if trail is None else trail
    unknown_repos: set[str] = set()
    for ref in refs:
        files = assets.RepoFiles(ref.repo, spec.revision_of(ref.repo), packaged=packaged(ref))
        look = assets.find(files, ref.file, download=False)
        if look.path is not None and ref.repo not in unknown_repos:
            return look.path, ref
        if look.path is None and not look.absent:
            unknown_repos.add(ref.repo)
    for ref in refs:
        files = assets.RepoFiles(ref.repo, spec.revision_of(ref.repo), packaged=packaged(ref),
                                 fallback=fallback(ref))
        look = assets.find(files, ref.file, download=True)
        if look.refused is not None:
            raise CorruptAssets(spec.id, f"{ref.repo}/{ref.file}", "", look.refused)
        if look.path is not None:
            return look.path, ref
        searched.extend(f"{ref.repo}/{ref.file}: {s}" for s in look.searched)
    if required:
        raise MissingAssets(spec.id, [str(r) for r in refs], searched, reason=what, hint=how_to_get(spec, refs, hint))
    return None


def how_to_get(spec: ModelSpec, refs: tuple[AssetRef, ...], hint: str = "") -> str:
    """What a miss tells its reader to do (issue 26: the 404 said where it looked, never how to get the files):
    ``tokcount pull``, or the files in an asset dir under the layout :mod:`tokcount.assets` reads. ``hint``, the
    catalog's word on where this model's files come from, goes first. The provider's passthrough, the third way,
    is added where a request is answered (:func:`tokcount.jobs.execute`, which knows the configured upstreams)."""
    layout = " or ".join(f"hub/{repo}/" for repo in dict.fromkeys(r.repo for r in refs))
    said = f"{hint.rstrip('. ')}. " if hint else ""
    return (f"{said}To get the files: `tokcount pull {spec.id}` downloads them from the Hugging Face Hub (with "
            f"network), or copy them into an asset dir (TOKCOUNT_ASSET_DIRS) as {layout}.")


def packaged(ref: AssetRef) -> tuple[tuple[str, str], ...]:
    from .models.packaged import PACKAGED

    hit = PACKAGED.get(f"{ref.repo}/{ref.file}")
    return ((ref.file, hit),) if hit else ()


def fallback(ref: AssetRef) -> tuple[tuple[str, str], ...]:
    """What tokcount can build for ``ref``; never for a key inside a file (``tokenizer_config.json#chat_template``):
    a built config holds no template, and finding it would hide which file is really missing."""
    from .models.built import fallback

    hit = fallback(ref.repo, ref.file) if ref.key is None else None
    return ((ref.file, hit),) if hit else ()


def same_as(spec: ModelSpec) -> tuple[AssetRef, ...]:
    """Honour a ``TOKENIZER_SAME_AS`` file (one line ``org/repo``) found beside the repo's other files."""
    found = locate(spec, (AssetRef(spec.repo, "TOKENIZER_SAME_AS"),), required=False, what="")
    if found is None:
        return ()
    path, ref = found
    target = parse_asset(spec, ref, path, lambda: path.read_text(encoding="utf-8").strip())
    return (AssetRef(target, "tokenizer.json"),) if target else ()


def read_json(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict):
        raise ValueError(f"a JSON object is expected, not {type(data).__name__}")
    return data


def token_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value["content"]
    return None


def find_template(spec: ModelSpec) -> tuple[str | None, str | None, MissingAssets | None]:
    trail: list[str] = []
    try:
        found = locate(spec, spec.template, required=True, what="its chat template", trail=trail)
    except MissingAssets as exc:
        return None, None, exc
    assert found is not None
    path, ref = found
    try:
        if ref.key is None:
            return parse_asset(spec, ref, path, lambda: path.read_text(encoding="utf-8")), str(ref), None
        value = parse_asset(spec, ref, path, lambda: read_json(path)).get(ref.key)
    except CorruptAssets as exc:
        return None, None, exc
    if isinstance(value, list):  # named templates: [{"name": "default", "template": ...}, ...]
        named = {t.get("name"): t.get("template") for t in value if isinstance(t, dict)}
        value = named.get("default")
    if not isinstance(value, str):  # every place the earlier candidates were looked for, then this file
        trail.append(f"{ref.repo}/{ref.file}: found, without a {ref.key!r} key")
        return None, None, MissingAssets(spec.id, [str(r) for r in spec.template], trail, reason="its chat template",
                                        hint=how_to_get(spec, spec.template))
    return value, str(ref), None


def tiktoken_added(config: dict[str, Any], n_base: int) -> AddedTokens:
    decoder = config.get("added_tokens_decoder") or {}
    tokens = {}
    for key, value in decoder.items():
        if isinstance(value, dict) and isinstance(value.get("content"), str):
            tokens[int(key)] = AddedToken(
                content=value["content"], id=int(key), special=bool(value.get("special", True)),
                lstrip=bool(value.get("lstrip", False)), rstrip=bool(value.get("rstrip", False)),
                single_word=bool(value.get("single_word", False)),
            )
    # Kimi's tokenizer names the 256 reserved ids after its base vocabulary when the config does not.
    for i in range(n_base, n_base + 256):
        tokens.setdefault(i, AddedToken(content=f"<|reserved_token_{i}|>", id=i))
    return AddedTokens(tokens.values())


def parse_asset(spec: ModelSpec, ref: AssetRef, path: Path, read: Callable[[], T]) -> T:
    """``read()``, with any failure to read or parse the file turned into :class:`CorruptAssets` naming the model
    and the file as the catalog names it; the server path and the full error are logged, never sent."""
    try:
        return read()
    except TokcountError:
        raise
    except OSError as exc:
        detail = f"the file cannot be read ({exc.strerror or type(exc).__name__})"
    except UnicodeDecodeError:
        detail = "the file is not UTF-8 text"
    except json.JSONDecodeError as exc:
        detail = f"the file is not valid JSON ({exc.msg}: line {exc.lineno}, column {exc.colno})"
    except RecursionError:
        detail = "the file is nested too deeply"
    except Exception as exc:  # tokenizers raises plain Exception; tiktoken a ValueError; a bad shape a KeyError...
        first = (str(exc).splitlines() or [""])[0].replace(str(path.parent), "")
        detail = f"the file was refused ({type(exc).__name__}: {first[:200]})"
    name = f"{ref.repo}/{ref.file}"
    log.warning("model %r: unusable %s at %s: %s", spec.id, name, path, detail)
    raise CorruptAssets(spec.id, name, str(path), detail) from None


def build_tokenizer(spec: ModelSpec, path: Path, ref: AssetRef, config: dict[str, Any]) -> Tokenizer:
    """The tokenizer in ``path`` (a ``tokenizer.json`` or a tiktoken file with ``config``'s added tokens), with
    the special-token names the template reads; any failure to read or parse it is :class:`CorruptAssets`."""
    variables = {k: v for k in SPECIAL_TOKEN_KEYS if (v := token_text(config.get(k))) is not None}
    build: Callable[[], Tokenizer]
    if path.suffix == ".json":
        from .tokenizers.fast import fastest_exact
        from .tokenizers.hf import HFEncoder, added_tokens_of
        from .tokenizers.isolated import IsolatedEncoder, unvetted

        def build() -> Tokenizer:
            source = path.read_bytes()
            data = json.loads(source)
            text = source.decode("utf-8")
            reference = HFEncoder(path, text)
            # a regular expression no vetted model uses may backtrack for seconds or panic: kept out of process
            encoder: Any = IsolatedEncoder(reference, text) if unvetted(data) else fastest_exact(reference, data,
                                                                                                 source)
            return Tokenizer(spec.id, encoder, added_tokens_of(path, data), variables)
    else:
        from .tokenizers.tiktoken_file import TiktokenEncoder

        pattern = spec.pattern
        if not pattern:
            raise MissingAssets(spec.id, [str(ref)], [], reason="a tiktoken-format vocabulary needs a split "
                                "pattern (`pattern` in the catalog)")

        def build() -> Tokenizer:
            encoder = TiktokenEncoder(spec.id, path, pattern)
            return Tokenizer(spec.id, encoder, tiktoken_added(config, encoder.n_vocab), variables)

    return parse_asset(spec, ref, path, build)
