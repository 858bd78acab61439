"""Loading the catalog and resolving any name a user may send (alias, provider-prefixed, Hub repo id)."""

from __future__ import annotations

import difflib
import fnmatch
import re
import tomllib
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib.resources import files as package_files
from pathlib import Path
from typing import Any

from .. import settings_in_force
from ..errors import InvalidRequest, ModelNotAllowed, UnknownModel

#: provider prefixes people put before a model name ("moonshot/kimi-k2.6"); stripped before lookup
PROVIDER_PREFIXES = (
    "moonshot", "moonshotai", "kimi", "minimax", "minimaxai", "stepfun", "stepfun-ai", "step", "deepseek",
    "deepseek-ai", "qwen", "alibaba", "dashscope", "zai", "zai-org", "z-ai", "thudm", "glm", "meta", "meta-llama",
    "llama", "openai", "azure", "google", "gemini", "vertex_ai", "vertex", "anthropic", "claude", "mistral",
    "mistralai", "openrouter", "together", "together_ai", "fireworks", "fireworks_ai", "groq", "hosted_vllm",
    "vllm", "sglang", "bedrock", "huggingface", "hf",
)
#: one snapshot tag at the end of a model name: a date (-2024-08-06, -20250929, -0613, -05-20), -preview, -latest
SNAPSHOT_SUFFIX = re.compile(r"(-\d{4}-\d{2}-\d{2}|-\d{8}|-\d{4}|-\d{2}-\d{2}|-preview|-latest|-exp)$")
#: a Hub repo id as the Hub accepts one: "org/name" in ASCII letters, digits, "_", "-" and ".", at most
#: MAX_REPO_ID characters. Only such a name is ever looked up on disk (``TOKCOUNT_ASSET_DIRS``) or on the Hub:
#: a client's name becomes a path nowhere else, so none can be too long for the filesystem or hold a NUL
_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9_.-]+")
MAX_REPO_ID = 96
#: the longest model name looked up at all (catalog names and repo ids with a provider prefix or two are far
#: shorter); a longer one is refused before anything is matched against it
MAX_NAME_CHARS = 256


def is_repo_id(name: str) -> bool:
    """Whether ``name`` is a repo id that may become a path (see :data:`_REPO_ID`); no ``.``/``..`` segment."""
    return (len(name) <= MAX_REPO_ID and _REPO_ID.fullmatch(name) is not None
            and not any(part in (".", "..") for part in name.split("/")))
#: keys a ``like = "<id>"`` entry never takes from the entry it borrows rules from: its own identity, and the
#: claims that recorded counts of *that* model were reproduced (evidence belongs to one model, not its family)
NOT_INHERITED = frozenset({"id", "repo", "revision", "aliases", "context_window", "like",
                           "framing_verified", "image_verified", "exact_text"})


@dataclass(frozen=True, slots=True)
class FamilyMatch:
    """A name the catalog does not list, matched by a ``[[family]]`` rule: counted with the rules of the family's
    newest entry and labelled so (see :meth:`Catalog.resolve_family`)."""

    requested: str
    pattern: str


@dataclass(frozen=True, slots=True)
class AssetRef:
    """One candidate location of a file: a Hub repo, a file in it, and optionally a JSON key inside the file."""

    repo: str
    file: str
    key: str | None = None

    @classmethod
    def parse(cls, text: str) -> AssetRef:
        path, _, key = text.partition("#")
        parts = path.split("/")
        if len(parts) < 3:
            raise ValueError(f"asset reference {text!r} must be 'org/repo/file'")
        return cls(repo="/".join(parts[:2]), file="/".join(parts[2:]), key=key or None)

    def __str__(self) -> str:
        return f"{self.repo}/{self.file}" + (f"#{self.key}" if self.key else "")


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to count for one model, as data."""

    id: str
    family: str
    repo: str
    revision: str | None = None
    aliases: tuple[str, ...] = ()
    context_window: int | None = None
    tokenizer: tuple[AssetRef, ...] = ()
    config: tuple[AssetRef, ...] = ()
    template: tuple[AssetRef, ...] = ()
    pattern: str | None = None
    tool_arguments: str = "object"
    vision: str = ""
    renderer: str = "jinja"
    #: True when the catalog lists the model; False for a Hub repo id counted with default file names
    listed: bool = True
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    #: set when an unlisted name was matched by a family rule. Not compared or hashed, so the spec is the family
    #: entry's own for every cache keyed by spec (the loader's LRU): endless made-up names load nothing new
    family_match: FamilyMatch | None = field(default=None, hash=False, compare=False)

    @property
    def known_window(self) -> int | None:
        """The context window the catalog gives this name: none for an unlisted family name, whose window is not
        known (the family entry's own would be a guess)."""
        return None if self.family_match is not None else self.context_window

    @property
    def rules_of(self) -> str | None:
        """The entry whose rules count this model when they are not its own: the family's newest for an
        unlisted name, the catalog's ``like`` for a listed one that borrows them; None for its own rules."""
        if self.family_match is not None:
            return self.id
        like = self.extra.get("like")
        return str(like) if like else None

    def revision_of(self, repo: str) -> str | None:
        return self.revision if repo == self.repo else None


@dataclass(frozen=True)
class RepoPolicy:
    """Which Hub repo ids outside the catalog a caller may name (the catalog's own models are always served).

    Naming a repo chooses code (its chat template is a Jinja program) and makes the process download it. The
    user's own CLI or library call may name any repo (:data:`OPEN`, the default of :meth:`Catalog.resolve`); a
    server passes the operator's ``allow_hub_repos`` patterns (``fnmatch``, case-insensitive: ``"org/*"``,
    ``"exact/repo"``, ``"*"``). Repos the operator put in ``TOKCOUNT_ASSET_DIRS`` are served either way: their
    files are already on the server and nothing is downloaded."""

    allow: tuple[str, ...] = ()

    def allows(self, repo: str) -> bool:
        key = repo.lower()
        return any(fnmatch.fnmatchcase(key, pattern.strip().lower()) for pattern in self.allow)


#: any repo id: the CLI and the library, run by the user themselves
OPEN = RepoPolicy(("*",))


def _default_refs(repo: str) -> dict[str, tuple[AssetRef, ...]]:
    return {
        "tokenizer": (AssetRef(repo, "tokenizer.json"),),
        "config": (AssetRef(repo, "tokenizer_config.json"),),
        "template": (AssetRef(repo, "chat_template.jinja"), AssetRef(repo, "tokenizer_config.json", "chat_template")),
    }


def spec_for_repo(repo: str) -> ModelSpec:
    """A spec for any Hub repo id not in the catalog: its own tokenizer.json, config and template."""
    refs = _default_refs(repo)
    return ModelSpec(id=repo, family="hub", repo=repo, listed=False, tokenizer=refs["tokenizer"],
                     config=refs["config"], template=refs["template"])


def _spec_from_table(table: dict[str, Any], patterns: dict[str, str], source: str) -> ModelSpec:
    try:
        model_id = str(table["id"]).strip()
        repo = str(table["repo"]).strip()
        family = str(table.get("family", "custom"))
    except KeyError as exc:
        raise ValueError(f"{source}: a [[model]] needs {exc.args[0]!r}") from None
    refs = _default_refs(repo)
    for key in ("tokenizer", "config", "template"):
        if key in table:
            values = table[key] if isinstance(table[key], list) else [table[key]]
            refs[key] = tuple(AssetRef.parse(v) for v in values)
    pattern = table.get("pattern")
    if pattern is not None:
        pattern = patterns.get(pattern, pattern)
    known = {"id", "family", "repo", "revision", "aliases", "context_window", "tokenizer", "config", "template",
             "pattern", "tool_arguments", "vision", "renderer"}
    return ModelSpec(
        id=model_id,
        family=family,
        repo=repo,
        revision=table.get("revision"),
        aliases=tuple(table.get("aliases", ())),
        context_window=table.get("context_window"),
        pattern=pattern,
        tool_arguments=table.get("tool_arguments", "object"),
        vision=table.get("vision", ""),
        renderer=table.get("renderer", "jinja"),
        extra={k: v for k, v in table.items() if k not in known},
        tokenizer=refs["tokenizer"],
        config=refs["config"],
        template=refs["template"],
    )


def _key(name: str) -> str:
    return name.strip().lower()


class Catalog:
    """All known models and every name that resolves to each."""

    def __init__(self) -> None:
        self.models: dict[str, ModelSpec] = {}
        self._names: dict[str, str] = {}
        self.patterns: dict[str, str] = {}
        #: each entry's table as read (``like`` merged), for later entries that borrow its rules
        self._tables: dict[str, dict[str, Any]] = {}
        #: ``[[family]]`` rules, in file order (a later file's come first): (name pattern, entry id)
        self.families: list[tuple[str, str]] = []
        #: ``[[rename]]`` rules, in file order (a later file's come first): (whole-name pattern, replacement)
        self.renames: list[tuple[re.Pattern[str], str]] = []
        #: ``[[hosted]]`` rules, in file order (a later file's come first): (platforms, model family, entry id)
        self.hosted_rules: list[tuple[frozenset[str], str, str]] = []

    def load_toml(self, text: str, source: str) -> None:
        data = tomllib.loads(text)
        self.patterns.update(data.get("patterns", {}))
        for table in data.get("model", []):
            table = self._borrow(table, source)
            spec = _spec_from_table(table, self.patterns, source)
            self._tables[spec.id] = table
            self.add(spec)
        families = []
        for rule in data.get("family", []):
            match, rules = rule.get("match"), rule.get("rules")
            if not isinstance(match, str) or not isinstance(rules, str) or rules not in self.models:
                raise ValueError(f"{source}: a [[family]] needs match = \"<pattern>\" and rules = \"<listed id>\" "
                                 f"(got {rule!r})")
            families.append((match.strip().lower(), rules))
        self.families[:0] = families
        renames = []
        for rule in data.get("rename", []):
            match, to = rule.get("match"), rule.get("to")
            if not isinstance(match, str) or not isinstance(to, str):
                raise ValueError(f"{source}: a [[rename]] needs match = '<regex>' and to = '<name>' (got {rule!r})")
            try:
                renames.append((re.compile(match), to))
            except re.error as exc:
                raise ValueError(f"{source}: [[rename]] match {match!r} is not a regular expression: {exc}") from None
        self.renames[:0] = renames
        hosted = []
        for rule in data.get("hosted", []):
            api, family, rules = rule.get("api"), rule.get("family"), rule.get("rules")
            if (not isinstance(api, list) or not all(isinstance(a, str) for a in api) or not isinstance(family, str)
                    or not isinstance(rules, str) or rules not in self.models):
                raise ValueError(f"{source}: a [[hosted]] needs api = [\"<platform>\", ...], family = \"<family>\" "
                                 f"and rules = \"<listed id>\" (got {rule!r})")
            hosted.append((frozenset(api), family, rules))
        self.hosted_rules[:0] = hosted

    def _borrow(self, table: dict[str, Any], source: str) -> dict[str, Any]:
        """``like = "<id>"``: the entry takes every field of that (earlier) entry it does not set itself, except
        :data:`NOT_INHERITED`; a new model of a known family is its names and window, its rules named as data."""
        like = table.get("like")
        if like is None:
            return table
        base = self._tables.get(str(like))
        if base is None:
            raise ValueError(f"{source}: model {table.get('id')!r} is like {like!r}, which no earlier entry is")
        return {**{k: v for k, v in base.items() if k not in NOT_INHERITED}, **table}

    def add(self, spec: ModelSpec) -> None:
        """Add or replace a model; a later file overrides an earlier one with the same id."""
        self.models[spec.id] = spec
        for name in (spec.id, spec.repo, *spec.aliases):
            self._names[_key(name)] = spec.id

    def names(self) -> list[str]:
        return sorted(self._names)

    def resolve(self, name: str, allow: RepoPolicy = OPEN) -> ModelSpec:
        """The spec for ``name``: id, alias or repo id (any case, provider prefixes stripped), or a Hub repo id
        that ``allow`` permits or that is in ``TOKCOUNT_ASSET_DIRS`` (else :class:`ModelNotAllowed`)."""
        if not isinstance(name, str) or not name.strip():
            raise InvalidRequest("model must be a non-empty string.", param="model")
        if len(name) > MAX_NAME_CHARS:
            raise InvalidRequest(f"model names have at most {MAX_NAME_CHARS} characters; this one has {len(name)}.",
                                 param="model")
        return self._resolve(name, allow, rename=True)

    def _resolve(self, name: str, allow: RepoPolicy, *, rename: bool) -> ModelSpec:
        key = _key(name)
        candidates = [key]
        rest = key
        while "/" in rest:
            rest = rest.split("/", 1)[1]
            candidates.append(rest)
        for cand in candidates:
            model_id = self._names.get(cand)
            if model_id is not None:
                return self.models[model_id]
        renamed = self.renamed(candidates) if rename else None
        if renamed is not None:  # another platform's id of a listed model (Bedrock's): resolved once, as that name
            try:
                return self._resolve(renamed, allow, rename=False)
            except UnknownModel as exc:
                if type(exc) is not UnknownModel:
                    raise
                raise UnknownModel(name, exc.suggestions) from None
        snapshot = self.resolve_snapshot(candidates)
        if snapshot is not None:
            return snapshot
        family = self.resolve_family(name)
        if family is not None:
            return family
        # Any Hub repo id, unless its "org" is just a provider prefix of a name we would have known.
        stripped = name.strip()
        org = stripped.split("/", 1)[0].lower()
        # "Qwen/Qwen3-Next-80B" with a provider's name as org counts only when cased like a real repo id
        if is_repo_id(stripped) and (org not in PROVIDER_PREFIXES or any(c.isupper() for c in stripped)):
            if allow.allows(stripped) or _in_asset_dirs(stripped):
                return spec_for_repo(stripped)
            raise ModelNotAllowed(stripped)
        raise UnknownModel(name, self.suggest(candidates[-1]))

    def renamed(self, candidates: list[str]) -> str | None:
        """The name the first ``[[rename]]`` rule matching a candidate (the whole lower-case name, then without
        each provider prefix) turns it into: a platform's own ids for listed models, such as Amazon Bedrock's
        ``us.anthropic.claude-sonnet-4-5-20250929-v1:0`` for ``claude-sonnet-4-5-20250929``, as data."""
        for cand in candidates:
            for pattern, to in self.renames:
                found = pattern.fullmatch(cand)
                if found is not None:
                    return found.expand(to)
        return None

    def resolve_snapshot(self, candidates: list[str]) -> ModelSpec | None:
        """A dated or tagged snapshot of a listed model (``gpt-4o-2099-01-01``, ``o3-mini-20250131``,
        ``gpt-4-0613``, ``gemini-2.5-flash-preview-05-20``, ``...-latest``): the providers publish new snapshots
        faster than any catalog, and a snapshot counts as its family does. Suffixes are stripped one at a time
        until a listed name remains."""
        for cand in candidates:
            name = cand
            while True:
                stripped = SNAPSHOT_SUFFIX.sub("", name)
                if stripped == name or not stripped:
                    break
                name = stripped
                model_id = self._names.get(name)
                if model_id is not None:
                    return self.models[model_id]
        return None

    def resolve_family(self, name: str) -> ModelSpec | None:
        """An unlisted name of a known closed family (``gpt-5.9``, ``claude-opus-7``): the spec of the entry the
        first matching ``[[family]]`` rule names (the family's newest), marked with the match so that the count
        says so (``exact: false``, the rules in its method, ``x-tokcount-resolved-as``). Providers ship models
        faster than any catalog; a 404 for tomorrow's name helps nobody, a silent stand-in misleads. Only a
        plain name or one behind provider prefixes matches: ``someorg/claude-style-7b`` is a Hub repo."""
        key = _key(name)
        while "/" in key and key.split("/", 1)[0] in PROVIDER_PREFIXES:
            key = key.split("/", 1)[1]
        if "/" in key or not key:
            return None
        for pattern, model_id in self.families:
            if fnmatch.fnmatchcase(key, pattern):
                return replace(self.models[model_id], family_match=FamilyMatch(key, pattern))
        return None

    def hosted(self, spec: ModelSpec, api: str | None) -> ModelSpec:
        """``spec`` as the platform ``api`` serves it: a ``[[hosted]]`` rule for the platform and the model's family
        counts the model's own vocabulary with the framing and rules of the entry it names, as that platform's
        API counts it (Google's Gemini API counts a hosted Gemma prompt as it counts Gemini's, not with Gemma's
        chat template). Borrowed like ``like``: the rules entry's claims of verified counts do not come along, and
        the method says whose rules they are. Any other model, or no platform, is ``spec`` itself."""
        if api is None or spec.family_match is not None:
            return spec
        for platforms, family, rules_id in self.hosted_rules:
            if api in platforms and spec.family == family and spec.id != rules_id:
                rules = self.models[rules_id]
                extra = {k: v for k, v in rules.extra.items() if k not in NOT_INHERITED}
                return replace(rules, id=spec.id, repo=spec.repo, revision=spec.revision, aliases=spec.aliases,
                               context_window=spec.context_window, tokenizer=spec.tokenizer or rules.tokenizer,
                               config=spec.config or rules.config, extra={**extra, "like": rules_id})
        return spec

    def suggest(self, name: str, n: int = 3) -> list[str]:
        """The catalog ids closest to ``name`` (matched on every name, each entry named once by its id: a repo id
        such as ``moonshotai/kimi-k2.6`` is not a name a provider's client would send)."""
        names = [k for k in self._names if "/" not in k] + [k for k in self._names if "/" in k]
        close = difflib.get_close_matches(_key(name), names, n=4 * n, cutoff=0.5)
        return list(dict.fromkeys(self._names[k] for k in close))[:n]


def _in_asset_dirs(repo: str) -> bool:
    """The operator's own copy of the repo is in ``TOKCOUNT_ASSET_DIRS`` (the layouts :mod:`tokcount.assets` reads)."""
    from ..assets import asset_dirs, exists

    return any(exists(d / "hub" / repo, directory=True) or exists(d / repo, directory=True) for d in asset_dirs())


def _builtin_text() -> str:
    return package_files("tokcount.models").joinpath("catalog.toml").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    """The built-in catalog plus the user files of the ``catalog`` setting (``TOKCOUNT_CATALOG``); rebuilt when
    :func:`tokcount.settings_in_force.configure` installs new settings."""
    catalog = Catalog()
    catalog.load_toml(_builtin_text(), "tokcount/models/catalog.toml")
    for path in settings_in_force.current().catalog:
        p = Path(path).expanduser()
        catalog.load_toml(p.read_text(encoding="utf-8"), str(p))
    return catalog


settings_in_force.on_change(default_catalog.cache_clear)  # new settings may name other catalog files
