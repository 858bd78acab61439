"""Leave-one-source-out cross-validation of the closed-model rules (``python -m bench.calibrate --cross-validate``).

The rules are code (the framings) plus numbers in data files (:data:`tokcount.rules_data.FILES`). For one provider:

1. every integer of the provider's rules files is a candidate (booleans are structural switches, floats are not
   refitted: both are listed as such; a media rule is a candidate only when a model of the provider's cases names
   it as its ``vision`` rule);
2. each case is recounted with the number + 1 (through :func:`tokcount.rules_data.overridden`): its sensitivity.
   A number no case moves is dropped; one whose +2 recount on a sample of the cases (moved and unmoved) is not
   twice the +1 move (or whose recount fails) is *non-linear* and stays as shipped;
3. for each source (a case's ``owner/repo``; every ``docs:`` case is one source ``docs``) the linear numbers are
   refitted by coordinate search on the other sources' cases (OpenAI: most cases exact; the others: most within
   10 %, then the least total relative error; ties keep the shipped value), and the held-out source's cases are
   recounted for real with the refitted numbers.

The held-out outcomes are what the docs' cross-validated table reports, per provider, model family and slice
(:func:`tokcount.slices.slice_of` on the parsed request, the key the service looks its error up with).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.calibrate import Outcome, load_cases, markdown, parse_case, row, table
from tokcount import rules_data
from tokcount.count import count, counted_as, resolve
from tokcount.estimate_error import family_of, key_of, slice_of

#: cases whose +2 recount checks a number's linearity
LINEARITY_SAMPLE = 8
#: coordinate-search sweeps over all numbers at most
SWEEPS = 6


@dataclass
class Number:
    """One integer of a rules file, and how each case's count moves per unit of it."""

    file: str
    key: str
    value: int
    #: per case (the provider's order): tokens more when the number is one more
    slope: np.ndarray | None = None
    #: why it is not refitted ("" = refitted)
    skipped: str = ""

    @property
    def name(self) -> str:
        return f"{self.file}:{self.key}"


@dataclass
class Case:
    """One recording, parsed once."""

    outcome: Outcome
    model: str = ""
    request: Any = None
    media: bool = False
    key: tuple[str, str, str] | None = None


@dataclass
class Fold:
    """One held-out source: the numbers fitted without it and its cases counted with them."""

    source: str
    fitted: dict[str, int]
    outcomes: list[Outcome] = field(default_factory=list)
    #: held-out cases whose real recount differs from the linear prediction (the linearity assumption's check)
    off_prediction: int = 0


@dataclass
class Report:
    provider: str
    in_sample: list[Outcome]
    held_out: list[Outcome]
    numbers: list[Number]
    folds: list[Fold]
    #: the numbers refitted on every source (a suggestion for the rules files, never applied by the runner)
    all_sources: dict[str, int]


def source_of(case: dict[str, Any]) -> str:
    """A case's source: ``owner/repo`` of its ``source`` (``docs`` for every documentation example)."""
    src = str(case.get("source", "")).split("@")[0]
    return "docs" if src.startswith("docs:") else src


def prepare(provider: str, raw: list[dict[str, Any]]) -> list[Case]:
    """Parse every case once, count it with the shipped rules, and key it as the service will."""
    out = []
    for case in raw:
        o = Outcome(id=case["id"], provider=provider, model=case["model"], family="?", scope="?",
                    expected=int(case["expected"]), got=None, source=source_of(case))
        c = Case(o)
        try:
            c.model, c.request = parse_case(case)
            spec = counted_as(case["model"], c.request)
            c.key = key_of(spec, c.request)
            o.family = family_of(spec)
            o.scope = slice_of(c.request)
            c.media = c.key is not None and c.key[2] in ("image", "document", "responses-image", "responses-document")
            result = count(c.model, c.request, breakdown=False)
            o.got, o.exact_label, o.method = result.input_tokens, result.exact, result.method
        except Exception as exc:  # a refusal is a finding: 100 % off, never refitted
            o.error = f"{type(exc).__name__}: {exc}"
        out.append(c)
    return out


def recount(case: Case) -> int | None:
    if case.request is None:
        return None
    return count(case.model, case.request, breakdown=False).input_tokens


def _walk(value: Any, path: tuple[str | int, ...]) -> Iterable[tuple[tuple[str | int, ...], Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, (*path, i))
    else:
        yield path, value


def discover(provider: str, cases: list[Case]) -> list[Number]:
    """Every number of the provider's rules files (integers as candidates, floats listed as not refitted)."""
    visions = {resolve(c.model).vision for c in cases if c.model}
    found = []
    for name, (_, providers) in rules_data.FILES.items():
        if provider not in providers:
            continue
        for path, value in _walk(rules_data.pristine(name), ()):
            if name == "rules.toml" and (len(path) < 2 or path[1] not in visions):
                continue  # another model's media rule: no case of this provider reads it
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            n = Number(name, rules_data.join_key(path), value if isinstance(value, int) else 0)
            if isinstance(value, float):
                n.skipped = f"not an integer ({value})"
            found.append(n)
    return found


def _stable_sample(ids: list[int], cases: list[Case], k: int) -> list[int]:
    return sorted(ids, key=lambda i: hashlib.sha256(cases[i].outcome.id.encode()).digest())[:k]


def measure(numbers: list[Number], cases: list[Case]) -> None:
    """Each integer's slope per case (+1 recount), its linearity checked with +2 on a sample."""
    base = [c.outcome.got for c in cases]
    for n in numbers:
        if n.skipped:
            continue
        idx = [i for i, c in enumerate(cases) if c.outcome.got is not None and (c.media or n.file != "rules.toml")]
        slope = np.zeros(len(cases), dtype=np.int64)
        try:
            with rules_data.overridden(n.file, n.key, n.value + 1):
                for i in idx:
                    slope[i] = int(recount(cases[i]) or 0) - int(base[i] or 0)
        except Exception as exc:
            n.skipped = f"non-linear: +1 fails ({type(exc).__name__})"
            continue
        moved = [i for i in idx if slope[i]]
        if not moved:
            n.skipped = "no case moves with it"
            continue
        try:
            # moved cases, and as many that +1 left alone (a rounding step +1 did not cross, +2 may)
            sample = (_stable_sample(moved, cases, LINEARITY_SAMPLE)
                      + _stable_sample([i for i in idx if not slope[i]], cases, LINEARITY_SAMPLE))
            with rules_data.overridden(n.file, n.key, n.value + 2):
                bent = [i for i in sample if int(recount(cases[i]) or 0) - int(base[i] or 0) != 2 * slope[i]]
        except Exception as exc:
            n.skipped = f"non-linear: +2 fails ({type(exc).__name__})"
            continue
        if bent:
            n.skipped = f"non-linear ({len(bent)} of {len(sample)} sampled cases)"
            continue
        n.slope = slope


def _score(got: np.ndarray, expected: np.ndarray, exact_goal: bool) -> tuple[float, float]:
    """(cases on target, total relative error) of counts ``got`` (rows: candidates)."""
    err = np.abs(got - expected) / np.maximum(expected, 1)
    hits = (got == expected).sum(axis=-1) if exact_goal else (err <= 0.10 + 1e-12).sum(axis=-1)
    return hits, err.sum(axis=-1)


def _objective(slopes: np.ndarray, got: np.ndarray, expected: np.ndarray, moves: np.ndarray,
               exact_goal: bool) -> tuple[float, float, int]:
    """Sort key of a set of moves: most cases on target, least total relative error, smallest moves."""
    hits, total = _score(got + slopes @ moves, expected, exact_goal)
    return -float(hits), round(float(total), 9), int(np.abs(moves).sum())


def _coordinate_search(slopes: np.ndarray, got: np.ndarray, expected: np.ndarray, exact_goal: bool,
                       start: np.ndarray, sweeps: int) -> np.ndarray:
    moves = start.copy()
    current = got + slopes @ moves
    for _ in range(sweeps):
        changed = False
        for k in range(slopes.shape[1]):
            s = slopes[:, k]
            rows = np.nonzero(s)[0]
            if not len(rows):
                continue
            r, sk, e = current[rows] - expected[rows], s[rows], expected[rows]
            marks = np.concatenate([-r / sk, (-0.1 * e - r) / sk, (0.1 * e - r) / sk])
            cand = np.unique(np.concatenate([np.floor(marks), np.ceil(marks), [0.0]])).astype(np.int64)
            trial = current[rows][None, :] + cand[:, None] * sk[None, :]
            hits, total = _score(trial, e[None, :], exact_goal)
            order = np.lexsort((np.abs(moves[k] + cand), np.round(total, 9), -hits))
            best = int(cand[order[0]])
            if best != 0:
                moves[k] += best
                current[rows] += best * sk
                changed = True
        if not changed:
            break
    return moves


def _least_relative_error(slopes: np.ndarray, got: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Real-valued moves minimising the total relative error (iteratively reweighted least squares, a little
    ridge toward the shipped values so that numbers the data cannot tell apart stay put), rounded."""
    used = np.nonzero(np.abs(slopes).sum(axis=0))[0]
    out = np.zeros(slopes.shape[1], dtype=np.int64)
    if not len(used):
        return out
    s = slopes[:, used].astype(float)
    a = (got - expected).astype(float)
    w = 1.0 / np.maximum(expected, 1).astype(float)
    d = np.zeros(len(used))
    for _ in range(40):
        res = np.abs(a + s @ d)
        u = w / np.maximum(res, 0.5)
        gram = s.T @ (s * u[:, None]) + 1e-6 * np.eye(len(used))
        d = np.linalg.solve(gram, -(s.T @ (u * a)))
    out[used] = np.round(d).astype(np.int64)
    return out


def refit(slopes: np.ndarray, got: np.ndarray, expected: np.ndarray, exact_goal: bool,
          sweeps: int = SWEEPS) -> np.ndarray:
    """Integer moves of the numbers (columns of ``slopes``) that best fit ``expected`` from ``got``: coordinate
    search, each step trying every move that puts a case exactly on target or on a 10 % boundary; the best is
    the most cases on target, then the least total relative error, then the smallest move (ties keep the shipped
    value). Started from the shipped values and from the rounded least-relative-error fit (coordinate steps alone
    stall where two numbers must move together); the better end wins."""
    slopes = slopes.astype(np.int64)
    got, expected = got.astype(np.int64), expected.astype(np.int64)
    starts = [np.zeros(slopes.shape[1], dtype=np.int64), _least_relative_error(slopes, got, expected)]
    ends = [_coordinate_search(slopes, got, expected, exact_goal, s, sweeps) for s in starts]
    return min(ends, key=lambda m: _objective(slopes, got, expected, m, exact_goal))


def cross_validate(provider: str, directory: Any, ids: set[str] | None = None) -> Report:
    """The whole run for one provider (see the module docstring)."""
    cases = prepare(provider, [c for _, c in load_cases(directory, [provider], ids)])
    numbers = discover(provider, cases)
    measure(numbers, cases)
    live = [n for n in numbers if n.slope is not None]
    columns = [n.slope for n in live if n.slope is not None]
    slopes = np.stack(columns, axis=1) if columns else np.zeros((len(cases), 0), dtype=np.int64)
    got = np.array([c.outcome.got if c.outcome.got is not None else 0 for c in cases], dtype=np.int64)
    expected = np.array([c.outcome.expected for c in cases], dtype=np.int64)
    counted = np.array([c.outcome.got is not None for c in cases])
    sources = np.array([c.outcome.source for c in cases])
    exact_goal = provider == "openai"

    def fit(train: np.ndarray) -> np.ndarray:
        return refit(slopes[train], got[train], expected[train], exact_goal)

    folds = []
    for source in sorted(set(sources.tolist())):
        moves = fit(counted & (sources != source))
        fitted = {n.name: n.value + int(m) for n, m in zip(live, moves, strict=True)}
        fold = Fold(source, fitted)
        overrides = {(n.file, n.key): n.value + int(m) for n, m in zip(live, moves, strict=True) if m}
        predicted = got + slopes @ moves
        with rules_data.all_overridden(overrides):
            for i in np.nonzero(sources == source)[0]:
                o = cases[i].outcome
                held = Outcome(**{**o.__dict__})
                if o.got is not None:
                    try:
                        held.got = recount(cases[i])
                    except Exception as exc:
                        held.got, held.error = None, f"{type(exc).__name__}: {exc}"
                    fold.off_prediction += held.got != int(predicted[i])
                fold.outcomes.append(held)
        folds.append(fold)
    everything = fit(counted)
    return Report(provider, [c.outcome for c in cases], [o for f in folds for o in f.outcomes], numbers, folds,
                  {n.name: n.value + int(m) for n, m in zip(live, everything, strict=True)})


def error_rows(reports: list[Report]) -> list[tuple[tuple[str, str, str], float]]:
    """(provider, family, slice) and held-out relative error of every case tokcount labels an estimate, for the
    generated estimate-error table: the error is sent with estimates only, so it is measured on them only (an
    OpenAI count labelled exact is exact, tests/test_calibration.py keeps it so)."""
    return [((o.provider, o.family, o.scope), o.rel_error) for r in reports for o in r.held_out
            if not o.exact_label]


SUMMARY_HEADER = ["provider", "rules", "cases", "n", "exact", "within 10 %", "median err", "p90 err", "max err",
                  "labelled exact", "labelled exact, wrong", "refused"]
FOLD_HEADER = ["provider", "held-out source", "n", "exact: shipped → refit", "within 10 %: shipped → refit",
               "numbers the refit moved (shipped → fitted without the source)"]
NUMBER_HEADER = ["provider", "number", "shipped", "across folds", "folds that moved it", "refit on every source"]


def summary_rows(reports: list[Report]) -> list[list[str]]:
    """Per provider: the shipped numbers on every case next to each source counted with numbers fitted without it."""
    out = []
    for r in reports:
        out.append(row([r.provider, "shipped numbers", "all (in sample)"], r.in_sample))
        out.append(row([r.provider, "refitted without the source", "all (held out)"], r.held_out))
    return out


def number_rows(reports: list[Report]) -> list[list[str]]:
    """Each refitted number: its shipped value, its range across folds (a rule that generalises is stable)."""
    out = []
    for r in reports:
        for n in r.numbers:
            if n.slope is None:
                continue
            values = [f.fitted[n.name] for f in r.folds]
            moved = sum(v != n.value for v in values)
            span = str(min(values)) if min(values) == max(values) else f"{min(values)} … {max(values)}"
            out.append([r.provider, f"`{n.name}`", str(n.value), span, f"{moved} of {len(values)}",
                        str(r.all_sources[n.name])])
    return out


def fold_rows(reports: list[Report]) -> list[list[str]]:
    """Per held-out source: its cases with the shipped numbers and with the numbers fitted without it, and what
    moved (a source that the shipped numbers fit only because they were fitted on it shows here)."""
    out = []
    for r in reports:
        shipped = {o.id: o for o in r.in_sample}
        values = {n.name: n.value for n in r.numbers if n.slope is not None}
        for f in r.folds:
            before = [shipped[o.id] for o in f.outcomes]
            moved = ", ".join(f"`{k.split(':', 1)[1]}` {values[k]} → {v}" for k, v in f.fitted.items()
                              if v != values[k])
            out.append([r.provider, f.source, str(len(f.outcomes)),
                        f"{sum(o.exact for o in before)} → {sum(o.exact for o in f.outcomes)}",
                        f"{sum(o.rel_error <= 0.10 for o in before)} → {sum(o.rel_error <= 0.10 for o in f.outcomes)}",
                        moved or "–"])
    return out


def skipped_lines(reports: list[Report]) -> list[str]:
    """The numbers not refitted, and why (numbers no recorded case moves are only counted)."""
    lines = []
    for r in reports:
        idle = [n for n in r.numbers if n.skipped == "no case moves with it"]
        other = [f"`{n.name}` ({n.skipped})" for n in r.numbers if n.skipped and n not in idle]
        checks = sum(f.off_prediction for f in r.folds)
        lines.append(f"- {r.provider}: {sum(n.slope is not None for n in r.numbers)} numbers refitted; "
                     f"{len(idle)} that no recorded case moves; not refitted: {', '.join(other) or 'none'}. "
                     f"Held-out recounts that differ from the linear prediction: {checks}.")
    return lines


def markdown_report(reports: list[Report]) -> str:
    """The cross-validation's tables, as the runner prints them and the docs carry them."""
    held = [o for r in reports for o in r.held_out]
    return "\n".join([
        markdown(summary_rows(reports), SUMMARY_HEADER), "",
        markdown(table(held)), "",
        markdown(fold_rows(reports), FOLD_HEADER), "",
        markdown(number_rows(reports), NUMBER_HEADER), "",
        *skipped_lines(reports),
    ])
