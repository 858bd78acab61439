"""``python -m bench.calibrate``: closed-model counts checked against what the providers' own APIs returned.

Every case of the calibration set (``$TOKCOUNT_SHARED/calibration/*.jsonl``, or ``--dir``) goes through the path
a user's request takes: the dialect module of the case's ``dialect`` parses the recorded body, then
:func:`tokcount.count.count` counts it for the case's ``model`` string, resolved as a user's name would be
(dated snapshots, provider prefixes). Nothing is special-cased per case: the runner only reports.

Options:
  --provider openai|anthropic|gemini|vertex   only that provider's file (vertex: Gemini on Vertex AI)
  --cases ID,...                      only these case ids
  --show-misses                       list every case whose count differs (id, model, scope, expected, got, diff);
                                      with --cross-validate also the held-out misses (scope: the slice)
  --write                             also write docs/closed-models-accuracy.md (generated; never edit by hand)
  --pin                               write tests/data/calibration_exact.json: the ids exact now, which
                                      tests/closed_models/test_calibration.py keeps exact
  --fit-sources OWNER/REPO,...        also one row per provider for the cases of these sources and one for the
                                      others (constants fitted on some sources are judged on the held-out rest)
  --cross-validate                    leave-one-source-out: every integer of the provider's rules files refitted
                                      without each source, that source counted with the refit (bench/xval.py);
                                      --write always includes it, and writes src/tokcount/models/estimate_error.toml

Accuracy never makes it fail: the exit status is 0 whatever the numbers (2 only for a missing data directory).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TOKCOUNT_SHARED", REPO.parent / "shared"))
DOC = REPO / "docs" / "closed-models-accuracy.md"
ERROR_TABLE = REPO / "src" / "tokcount" / "models" / "estimate_error.toml"
PIN = REPO / "tests" / "data" / "calibration_exact.json"
ERRATA = Path(__file__).resolve().with_name("calibration_errata.toml")
PROVIDERS = ("openai", "anthropic", "gemini", "vertex")
COMMAND = "python -m bench.calibrate --write"

os.environ.setdefault("TOKCOUNT_ASSET_DIRS", str(SHARED / "assets"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKCOUNT_NOW", "2025-01-01")


@dataclass
class Outcome:
    """One case's result: what the API said, what tokcount said (None when it refused), and how it was labelled."""

    id: str
    provider: str
    model: str
    family: str
    scope: str
    expected: int
    got: int | None
    exact_label: bool | None = None
    method: str = ""
    error: str = ""
    #: where the recording comes from: ``owner/repo`` or ``docs:...`` (the case's ``source`` before ``@``)
    source: str = ""

    @property
    def diff(self) -> int | None:
        return None if self.got is None else self.got - self.expected

    @property
    def exact(self) -> bool:
        return self.got == self.expected

    @property
    def rel_error(self) -> float:
        """|got − expected| / expected; a refused request counts as 100 % off."""
        if self.got is None:
            return 1.0
        return abs(self.got - self.expected) / max(self.expected, 1)


def errata(path: Path = ERRATA) -> dict[str, dict[str, str]]:
    """id → erratum (``why``, ``remove``): recorded bodies that are not what was sent (calibration_errata.toml)."""
    with open(path, "rb") as f:
        return {e["id"]: e for e in tomllib.load(f).get("erratum", [])}


def as_sent(request: Any, erratum: dict[str, str]) -> Any:
    """``request`` with the erratum undone: its ``remove`` text taken out of every string in it."""
    if isinstance(request, str):
        return request.replace(erratum["remove"], "")
    if isinstance(request, list):
        return [as_sent(v, erratum) for v in request]
    if isinstance(request, dict):
        return {k: as_sent(v, erratum) for k, v in request.items()}
    return request


def load_cases(directory: Path, providers: Iterable[str] = PROVIDERS, ids: set[str] | None = None
               ) -> list[tuple[str, dict[str, Any]]]:
    """(provider, case) for every line of ``<provider>.jsonl`` in ``directory``, filtered by ``ids``; a case with
    an erratum carries the request as it was sent (and the erratum under ``"erratum"``)."""
    fixes = errata()
    out = []
    for provider in providers:
        path = directory / f"{provider}.jsonl"
        if not path.is_file():
            continue
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    case = json.loads(line)
                    if ids is None or case["id"] in ids:
                        if case["id"] in fixes:
                            fix = fixes[case["id"]]
                            case = {**case, "request": as_sent(case["request"], fix), "erratum": fix}
                        out.append((provider, case))
    return out


def parse_case(case: dict[str, Any]) -> tuple[str, Any]:
    """(model name, canonical request) exactly as the server's route for the case's dialect would produce them."""
    from tokcount.dialects import anthropic, gemini, openai_chat, openai_responses, vertex
    from tokcount.settings import Settings

    dialect, body, model = case["dialect"], case["request"], case["model"]
    if dialect == "openai-chat":
        return model, openai_chat.parse_request(body)
    if dialect == "openai-responses":
        return model, openai_responses.parse(body, Settings()).request
    if dialect == "anthropic":
        return model, anthropic.parse(body, Settings()).request
    if dialect == "gemini":
        job = gemini.parse(body, Settings(), model)
        return job.models[0], job.request
    if dialect == "vertex":
        job = vertex.parse(body, Settings(), model)
        return job.models[0], job.request
    raise ValueError(f"case {case['id']}: unknown dialect {dialect!r}")


def run_case(provider: str, case: dict[str, Any]) -> Outcome:
    """Count one case; a refusal (any exception) is recorded as a miss, never raised."""
    from tokcount.count import count, resolve

    out = Outcome(id=case["id"], provider=provider, model=case["model"], family="?", scope=case.get("scope", "?"),
                  expected=int(case["expected"]), got=None, source=str(case.get("source", "")).split("@")[0])
    try:
        out.family = resolve(case["model"]).id
    except Exception as exc:  # an unknown model is itself a finding
        out.family = f"unresolved:{case['model']}"
        out.error = f"{type(exc).__name__}: {exc}"
        return out
    try:
        model, request = parse_case(case)
        result = count(model, request, breakdown=False)
    except Exception as exc:
        out.error = f"{type(exc).__name__}: {exc}"
        return out
    out.got, out.exact_label, out.method = result.input_tokens, result.exact, result.method
    return out


def run(directory: Path, providers: Iterable[str] = PROVIDERS, ids: set[str] | None = None) -> list[Outcome]:
    return [run_case(p, c) for p, c in load_cases(directory, providers, ids)]


def _pct(n: int, total: int) -> str:
    return f"{100 * n / total:.1f}" if total else "–"


def row(label: list[str], group: list[Outcome]) -> list[str]:
    from tokcount.estimate_error import quantile  # nearest rank: the service's table reports the same way

    errs = [o.rel_error for o in group]
    n = len(group)
    exact = sum(o.exact for o in group)
    within = sum(e <= 0.10 for e in errs)
    labelled = sum(bool(o.exact_label) for o in group)
    wrongly = sum(bool(o.exact_label) and not o.exact for o in group)
    refused = sum(o.got is None for o in group)
    return [*label, str(n), f"{exact} ({_pct(exact, n)} %)", f"{_pct(within, n)} %",
            f"{100 * statistics.median(errs):.1f} %", f"{100 * quantile(errs, 0.9):.1f} %",
            f"{100 * max(errs):.1f} %", str(labelled), str(wrongly), str(refused)]


HEADER = ["provider", "model family", "slice", "n", "exact", "within 10 %", "median err", "p90 err", "max err",
          "labelled exact", "labelled exact, wrong", "refused"]


def table(outcomes: list[Outcome]) -> list[list[str]]:
    """Rows per provider × model family × slice, then one overall row per provider."""
    rows: list[list[str]] = []
    for provider in PROVIDERS:
        mine = [o for o in outcomes if o.provider == provider]
        if not mine:
            continue
        groups: dict[tuple[str, str], list[Outcome]] = {}
        for o in mine:
            groups.setdefault((o.family, o.scope), []).append(o)
        for (family, scope), group in sorted(groups.items()):
            rows.append(row([provider, family, scope], group))
        rows.append(row([f"**{provider}**", "**all**", "**all**"], mine))
    return rows


def split_table(outcomes: list[Outcome], fit: set[str]) -> list[list[str]]:
    """Per provider: the cases of the ``fit`` sources, then the held-out rest."""
    rows: list[list[str]] = []
    for provider in PROVIDERS:
        for label, inside in (("fit sources", True), ("held out", False)):
            group = [o for o in outcomes if o.provider == provider and (o.source in fit) == inside]
            if group:
                rows.append(row([provider, label, "all"], group))
    return rows


def markdown(rows: list[list[str]], header: list[str] = HEADER) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def misses(outcomes: list[Outcome]) -> str:
    header = ["id", "model", "scope", "expected", "got", "diff"]
    rows = [[o.id, o.model, o.scope, str(o.expected), "refused" if o.got is None else str(o.got),
             o.error[:120] if o.got is None else f"{o.diff:+d}"] for o in outcomes if not o.exact]
    return markdown(rows, header)


def document(outcomes: list[Outcome], directory: Path, cross_validated: str = "") -> str:
    providers = sorted({o.provider for o in outcomes}, key=PROVIDERS.index)
    counts = ", ".join(f"{p} {sum(o.provider == p for o in outcomes)}" for p in providers)
    return "\n".join([
        "# Closed models: measured accuracy",
        "",
        f"<!-- generated by `{COMMAND}`; do not edit by hand -->",
        "",
        f"Generated by `{COMMAND}` from the calibration set (`{directory.name}/`: {counts} requests with the "
        "input-token count each provider's API returned). Each request goes through the dialect it was sent in "
        "and `tokcount.count.count`. *exact* = same number as the API; errors are |tokcount − API| / API; "
        "*labelled exact* = cases tokcount itself marks `exact: true` (*wrong*: of those, the ones that differ); "
        "*refused* = tokcount raised an error "
        "(counted as 100 % off). Slices are the cases' `scope`.",
        "",
        markdown(table(outcomes)),
        "",
        *errata_lines(outcomes),
        *([] if not cross_validated else [
            "## Cross-validated by source",
            "",
            "Each source (a recording's `owner/repo`; the documentation examples are one source) counted with the "
            "rules' integer numbers refitted on the other sources only (`bench/xval.py`: per-case sensitivity to "
            "each number, coordinate search; OpenAI: most cases exact, the others: most within 10 %, then the least "
            "total error). First the shipped numbers on every case next to the held-out figures, then the held-out "
            "cases per model family (the rules family) and slice (`tokcount.slices.slice_of` of the parsed request, "
            "what the service's `x-tokcount-estimate-error` is keyed by), then each held-out source with the shipped "
            "and the refitted numbers, then each refitted number's range across the folds: a rule that generalises "
            "keeps its numbers.",
            "",
            cross_validated,
            "",
        ]),
    ])


def errata_lines(outcomes: list[Outcome]) -> list[str]:
    """The doc's note on cases counted as sent rather than as recorded (bench/calibration_errata.toml)."""
    fixed = [o.id for o in outcomes if o.id in errata()]
    if not fixed:
        return []
    return [f"Counted as sent, not as recorded (`bench/calibration_errata.toml` says why): {', '.join(fixed)}.", ""]


def write_pin(outcomes: list[Outcome], path: Path = PIN) -> list[str]:
    """The ids exact now, sorted, for tests/closed_models/test_calibration.py to keep exact."""
    ids = sorted(o.id for o in outcomes if o.exact)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(ids, indent=0) + "\n", encoding="utf-8")
    return ids


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.calibrate", description=__doc__.split("\n")[0])
    ap.add_argument("--provider", choices=PROVIDERS)
    ap.add_argument("--cases", help="comma-separated case ids")
    ap.add_argument("--dir", type=Path, default=SHARED / "calibration", help="calibration directory")
    ap.add_argument("--show-misses", action="store_true")
    ap.add_argument("--write", action="store_true", help=f"write {DOC.relative_to(REPO)}")
    ap.add_argument("--pin", action="store_true", help=f"write {PIN.relative_to(REPO)}")
    ap.add_argument("--fit-sources", help="comma-separated owner/repo: rows for them and for the held-out rest")
    ap.add_argument("--cross-validate", action="store_true", help="leave-one-source-out refit of the rules' numbers")
    args = ap.parse_args(argv)
    if not args.dir.is_dir():
        print(f"no calibration directory at {args.dir} (set TOKCOUNT_SHARED or --dir)", file=sys.stderr)
        return 2
    providers = [args.provider] if args.provider else list(PROVIDERS)
    ids = set(filter(None, args.cases.split(","))) if args.cases else None
    outcomes = run(args.dir, providers, ids)
    print(markdown(table(outcomes)))
    if args.fit_sources:
        print()
        print(markdown(split_table(outcomes, set(filter(None, args.fit_sources.split(","))))))
    if args.show_misses:
        print()
        print(misses(outcomes))
    whole = not (args.provider or ids)
    reports = None
    if args.cross_validate or (args.write and whole):
        from bench import xval

        reports = [xval.cross_validate(p, args.dir, ids) for p in providers]
        print()
        print(xval.markdown_report(reports))
        if args.show_misses:
            print("\nHeld out (each source counted with the numbers fitted without it):\n")
            print(misses([o for r in reports for o in r.held_out]))
    if args.write:
        if not whole:
            print("--write needs the whole set (no --provider / --cases); not written", file=sys.stderr)
        else:
            from bench import xval
            from tokcount import estimate_error

            assert reports is not None
            DOC.write_text(document(outcomes, args.dir, xval.markdown_report(reports)), encoding="utf-8")
            entries = estimate_error.groups(xval.error_rows(reports))
            ERROR_TABLE.write_text(estimate_error.toml_text(entries, COMMAND), encoding="utf-8")
            print(f"\nwrote {DOC.relative_to(REPO)} and {ERROR_TABLE.relative_to(REPO)}")
    if args.pin:
        if args.provider or ids:
            print("--pin needs the whole set (no --provider / --cases); not written", file=sys.stderr)
        else:
            print(f"pinned {len(write_pin(outcomes))} exact cases in {PIN.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
