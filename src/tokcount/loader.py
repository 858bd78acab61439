"""Turning a :class:`ModelSpec` into loaded parts: its tokenizer, its chat template, its special-token names.

Loaded once per process and shared: tokenizers by file (several models share one vocabulary), templates by
source text (compiled once). Missing files raise :class:`MissingAssets` naming every place that was looked.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import assets
from .errors import MissingAssets
from .models.catalog import AssetRef, ModelSpec
from .templates.inspect import iterates_content
from .tokenizers.added import AddedToken, AddedTokens
from .tokenizers.core import Tokenizer

_lock = threading.RLock()
_tokenizers: dict[tuple[str, str | None], Tokenizer] = {}
_models: dict[ModelSpec, LoadedModel] = {}

#: template variables taken from tokenizer_config.json, as ``PreTrainedTokenizerFast(bos_token=..., ...)`` has them
SPECIAL_TOKEN_KEYS = ("bos_token", "eos_token", "unk_token", "pad_token")


@dataclass
class LoadedModel:
    spec: ModelSpec
    tokenizer: Tokenizer
    config: dict[str, Any]
    tokenizer_path: Path
    _template: str | None = None
    _template_from: str | None = None
    _template_error: MissingAssets | None = None
    _iterates: bool | None = None
    variables: dict[str, str] = field(default_factory=dict)

    def template(self) -> str:
        """The chat template source; raises :class:`MissingAssets` if the model has none."""
        if self._template is None and self._template_error is None:
            self._template, self._template_from, self._template_error = _find_template(self.spec)
        if self._template_error is not None:
            raise self._template_error
        assert self._template is not None
        return self._template

    @property
    def template_source(self) -> str | None:
        return self._template_from

    def iterates_content(self) -> bool:
        if self._iterates is None:
            self._iterates = iterates_content(self.template())
        return self._iterates


def locate(spec: ModelSpec, refs: tuple[AssetRef, ...], *, required: bool, what: str) -> tuple[Path, AssetRef] | None:
    """The first candidate found locally, else the first that downloads; every place tried is recorded.

    Candidates are in priority order. A local file of a later candidate wins over downloading an earlier one
    only when they are in different repos (a declared shared tokenizer); within one repo an earlier file that may
    exist on the Hub (``chat_template.jinja`` before the config's ``chat_template``) is asked for first.
    """
    searched: list[str] = []
    unknown_repos: set[str] = set()
    for ref in refs:
        files = assets.RepoFiles(ref.repo, spec.revision_of(ref.repo), packaged=_packaged(ref))
        look = assets.find(files, ref.file, download=False)
        if look.path is not None and ref.repo not in unknown_repos:
            return look.path, ref
        if look.path is None and not look.absent:
            unknown_repos.add(ref.repo)
    for ref in refs:
        files = assets.RepoFiles(ref.repo, spec.revision_of(ref.repo), packaged=_packaged(ref))
        look = assets.find(files, ref.file, download=True)
        if look.path is not None:
            return look.path, ref
        searched.extend(f"{ref.repo}/{ref.file}: {s}" for s in look.searched)
    if required:
        raise MissingAssets(spec.id, [str(r) for r in refs], searched, reason=what)
    return None


def _packaged(ref: AssetRef) -> tuple[tuple[str, str], ...]:
    from .models.packaged import PACKAGED

    hit = PACKAGED.get(f"{ref.repo}/{ref.file}")
    return ((ref.file, hit),) if hit else ()


def _same_as(spec: ModelSpec) -> tuple[AssetRef, ...]:
    """Honour a ``TOKENIZER_SAME_AS`` file (one line ``org/repo``) found beside the repo's other files."""
    found = locate(spec, (AssetRef(spec.repo, "TOKENIZER_SAME_AS"),), required=False, what="")
    if found is None:
        return ()
    target = found[0].read_text(encoding="utf-8").strip()
    return (AssetRef(target, "tokenizer.json"),) if target else ()


def _read_json(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    return data if isinstance(data, dict) else {}


def _token_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value["content"]
    return None


def _find_template(spec: ModelSpec) -> tuple[str | None, str | None, MissingAssets | None]:
    try:
        found = locate(spec, spec.template, required=True, what="no chat template")
    except MissingAssets as exc:
        return None, None, exc
    assert found is not None
    path, ref = found
    if ref.key is None:
        return path.read_text(encoding="utf-8"), str(ref), None
    value = _read_json(path).get(ref.key)
    if isinstance(value, list):  # named templates: [{"name": "default", "template": ...}, ...]
        named = {t.get("name"): t.get("template") for t in value if isinstance(t, dict)}
        value = named.get("default")
    if not isinstance(value, str):
        return None, None, MissingAssets(spec.id, [str(ref)], [str(path)], reason=f"no {ref.key!r} in the file")
    return value, str(ref), None


def _tiktoken_added(config: dict[str, Any], n_base: int) -> AddedTokens:
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


def _load_tokenizer(spec: ModelSpec, path: Path, config: dict[str, Any]) -> Tokenizer:
    key = (str(path), spec.pattern)
    with _lock:
        tok = _tokenizers.get(key)
        if tok is not None:
            return tok
        variables = {k: v for k in SPECIAL_TOKEN_KEYS if (v := _token_text(config.get(k))) is not None}
        if path.suffix == ".json":
            from .tokenizers.fast import fastest_exact
            from .tokenizers.hf import HFEncoder, added_tokens_of

            source = path.read_bytes()
            data = json.loads(source)
            encoder = fastest_exact(HFEncoder(path, source.decode("utf-8")), data, source)
            tok = Tokenizer(spec.id, encoder, added_tokens_of(path, data), variables)
        else:
            from .tokenizers.tiktoken_file import TiktokenEncoder

            if not spec.pattern:
                raise MissingAssets(spec.id, [str(path)], [], reason="a tiktoken-format vocabulary needs a split "
                                    "pattern (`pattern` in the catalog)")
            encoder = TiktokenEncoder(spec.id, path, spec.pattern)
            tok = Tokenizer(spec.id, encoder, _tiktoken_added(config, encoder.n_vocab), variables)
        _tokenizers[key] = tok
        return tok


def load(spec: ModelSpec) -> LoadedModel:
    """The loaded model for ``spec`` (cached for the life of the process)."""
    with _lock:
        model = _models.get(spec)
        if model is not None:
            return model
        refs = spec.tokenizer
        found = locate(spec, refs, required=False, what="")
        if found is None and (same := _same_as(spec)):
            refs = same
        if found is None:
            found = locate(spec, refs, required=True, what="no tokenizer vocabulary")
        assert found is not None
        tok_path = found[0]
        cfg = locate(spec, spec.config, required=False, what="")
        config = _read_json(cfg[0]) if cfg else {}
        tokenizer = _load_tokenizer(spec, tok_path, config)
        model = LoadedModel(spec=spec, tokenizer=tokenizer, config=config, tokenizer_path=tok_path,
                            variables=dict(tokenizer.special_tokens))
        _models[spec] = model
        return model


def clear() -> None:
    """Forget every loaded model (tests change asset directories between cases)."""
    with _lock:
        _models.clear()
        _tokenizers.clear()
