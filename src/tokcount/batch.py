"""Count a whole dataset: JSONL, a JSON array, Parquet or a Hugging Face ``datasets`` directory, on every core.

Sizing and pricing a dataset before training or batch inference needs the same exact count as one request, for
millions of rows. Rows go to a process pool (one process per core by default; each loads the model's tokenizer
and template once, in its initializer, and counts chunks of rows), results are appended to a JSONL output as they
come, so an interrupted run resumes where it stopped (rows already in the output are skipped), and a row that
cannot be counted gets an ``error`` instead of stopping the run. The summary gives rows, tokens, p50/p95 and how
many rows are over the model's context window.

Each output line: ``{"row": i, "input_tokens": N, "exact": bool, "over_context": bool, "error": null}`` (or
``"input_tokens": null`` and the error message). ``row`` is the row's position in the input.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .errors import InvalidRequest, TokcountError

#: rows per task handed to a worker process: large enough that pickling and scheduling are small next to the
#: counting, small enough that the progress bar moves and a crash loses little
CHUNK = 64
#: request keys that mark a row as being a request body itself (no ``--field`` needed)
BODY_KEYS = ("messages", "input", "contents", "prompt", "generateContentRequest")


# ---------------------------------------------------------------------------- reading
def read_rows(path: str, *, split: str | None = None) -> Iterator[tuple[int, Any]]:
    """(position, row) for every row of ``path``: ``.jsonl``/``.ndjson`` (a bad line is a row that fails with
    its parse error), ``.json`` (an array), ``.parquet``, or a directory written by ``datasets``'
    ``save_to_disk`` (a DatasetDict needs ``split`` unless it has one split)."""
    p = Path(path)
    if p.is_dir():
        yield from enumerate(_hf_rows(p, split))
    elif p.suffix == ".parquet":
        import pyarrow.parquet as pq

        i = 0
        for batch in pq.ParquetFile(p).iter_batches(batch_size=1024):
            for row in batch.to_pylist():
                yield i, row
                i += 1
    elif p.suffix == ".json":
        with p.open(encoding="utf-8") as f:
            data = json.load(f)
        if not isinstance(data, list):
            raise InvalidRequest(f"{path}: a .json input must hold an array of rows.", param="input")
        yield from enumerate(data)
    else:
        with p.open(encoding="utf-8") as f:
            i = 0
            for line in f:
                if not line.strip():
                    continue
                try:
                    yield i, json.loads(line)
                except ValueError as exc:
                    yield i, _BadRow(f"line is not valid JSON: {exc}")
                i += 1


def _hf_rows(path: Path, split: str | None) -> Iterable[Any]:
    from datasets import Dataset, DatasetDict, load_from_disk

    ds = load_from_disk(str(path))
    if isinstance(ds, DatasetDict):
        if split is None:
            if len(ds) != 1:
                raise InvalidRequest(f"{path} holds splits {', '.join(ds)}: choose one with --split.",
                                     param="split")
            split = next(iter(ds))
        if split not in ds:
            raise InvalidRequest(f"{path} has no split {split!r} (it has {', '.join(ds)}).", param="split")
        ds = ds[split]
    assert isinstance(ds, Dataset)
    return iter(ds)


@dataclass(frozen=True)
class _BadRow:
    """A row that could not even be read (a JSONL line that is not JSON): counted as an error row."""

    error: str


# ---------------------------------------------------------------------------- counting one row
def request_of(row: Any, field: str | None) -> Any:
    """What to count in ``row``: its ``field`` (the request or messages column), else the row itself (a body,
    a list of messages, or a text)."""
    if isinstance(row, _BadRow):
        raise InvalidRequest(row.error, param="row")
    if field is not None:
        if not isinstance(row, dict) or field not in row:
            raise InvalidRequest(f"the row has no field {field!r}.", param=field)
        return row[field]
    return row


class RowCounter:
    """Counts one row as ``tokcount count --dialect D --model M`` counts a body (same parse, same engine)."""

    def __init__(self, model: str | None, dialect: str = "openai-chat", field: str | None = None) -> None:
        from .dialects import dialects
        from .settings import Settings

        self.model = model
        self.field = field
        self.dialect = dialects()[dialect]
        self.route = self.dialect.routes[0]
        self.settings = Settings.load()

    def request_of(self, row: Any) -> Any:
        return request_of(row, self.field)

    def __call__(self, row: Any) -> dict[str, Any]:
        from .count import count_text
        from .jobs import execute, parse_job

        try:
            value = self.request_of(row)
            if isinstance(value, str):  # a raw prompt
                result_count = count_text(self.model or self.settings.default_model, value)
            else:
                params: dict[str, str] = {}
                if self.route.path_params:
                    params = {"model": self.model or "default"}
                elif self.model is not None:
                    value = {**value, "model": self.model} if isinstance(value, dict) else {"messages": value,
                                                                                              "model": self.model}
                job = parse_job(self.route, value, self.settings, params)
                job.breakdown = False
                result = execute(job)
                assert result.count is not None
                result_count = result.count
        except TokcountError as exc:
            return {"input_tokens": None, "exact": None, "over_context": None, "error": exc.message}
        except RecursionError:
            return {"input_tokens": None, "exact": None, "over_context": None, "error": "nested too deeply"}
        n = result_count.input_tokens
        window = result_count.context_window
        return {"input_tokens": n, "exact": result_count.exact,
                "over_context": window is not None and n > window, "error": None}


_WORKER: RowCounter | None = None


def _init_worker(model: str | None, dialect: str, field: str | None) -> None:
    """Per process, once: build the counter and load the model's files (a tiny warm-up count)."""
    global _WORKER
    _WORKER = RowCounter(model, dialect, field)
    _WORKER([{"role": "user", "content": "warm-up"}] if dialect == "openai-chat" else "warm-up")


def _count_chunk(chunk: list[tuple[int, Any]]) -> list[dict[str, Any]]:
    assert _WORKER is not None
    return [{"row": i, **_WORKER(row)} for i, row in chunk]


# ---------------------------------------------------------------------------- output, resumption, summary
def done_rows(output: Path) -> dict[int, int | None]:
    """Rows already in ``output`` (row → tokens); a torn last line (the run was killed mid-write) is cut off."""
    seen: dict[int, int | None] = {}
    if not output.exists():
        return seen
    good = 0
    with output.open("rb") as f:
        for line in f:
            try:
                rec = json.loads(line)
                seen[int(rec["row"])] = rec.get("input_tokens")
            except (ValueError, KeyError, TypeError):
                break
            if not line.endswith(b"\n"):
                seen.pop(int(rec["row"]))
                break
            good += len(line)
    if good != output.stat().st_size:
        with output.open("r+b") as f:
            f.truncate(good)
    return seen


@dataclass
class Summary:
    rows: int = 0
    counted: int = 0
    errors: int = 0
    #: rows found already done in the output (a resumed run)
    resumed: int = 0
    tokens: int = 0
    p50: int | None = None
    p95: int | None = None
    max: int | None = None
    over_context: int = 0
    seconds: float = 0.0
    rows_per_second: float = 0.0
    tokens_per_second: float = 0.0
    first_errors: list[dict[str, Any]] = field(default_factory=list)


def _percentile(sorted_values: list[int], q: float) -> int | None:
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


def _chunks(rows: Iterable[tuple[int, Any]], skip: dict[int, Any], size: int) -> Iterator[list[tuple[int, Any]]]:
    chunk: list[tuple[int, Any]] = []
    for i, row in rows:
        if i in skip:
            continue
        chunk.append((i, row))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run(input_path: str, *, model: str | None, dialect: str = "openai-chat", output: str | None = None,
        field: str | None = None, workers: int | None = None, split: str | None = None, progress: bool = True,
        out_stream: TextIO | None = None, counter: Callable[..., Iterator[list[dict[str, Any]]]] | None = None
        ) -> Summary:
    """Count every row of ``input_path``; rows go to ``output`` (JSONL, appended; rows already there skipped)
    or ``out_stream``. ``workers`` processes (default: every core; 1 counts in this process). ``counter``
    replaces the local pool (the Ray runner passes its own)."""
    from .dialects import dialects

    if dialect not in dialects():
        raise InvalidRequest(f"dialect must be one of {', '.join(dialects())}.", param="dialect")
    started = time.perf_counter()
    out_path = Path(output) if output else None
    previous = done_rows(out_path) if out_path else {}
    summary = Summary(resumed=len(previous))
    tokens = [t for t in previous.values() if t is not None]
    chunks = _chunks(read_rows(input_path, split=split), previous, CHUNK)
    workers = workers or _cores()
    results = (counter or _local)(chunks, model=model, dialect=dialect, field=field, workers=workers)
    bar = _bar(progress)
    sink = out_path.open("a", encoding="utf-8") if out_path else out_stream
    new_tokens = 0
    try:
        for batch in results:
            for rec in batch:
                if sink is not None:
                    sink.write(json.dumps(rec, ensure_ascii=False) + "\n")
                if rec["error"] is None:
                    summary.counted += 1
                    tokens.append(rec["input_tokens"])
                    new_tokens += rec["input_tokens"]
                    summary.over_context += bool(rec["over_context"])
                else:
                    summary.errors += 1
                    if len(summary.first_errors) < 5:
                        summary.first_errors.append({"row": rec["row"], "error": rec["error"]})
            if sink is not None:
                sink.flush()
            if bar is not None:
                bar.update(len(batch))
                bar.set_postfix_str(f"{new_tokens / max(time.perf_counter() - started, 1e-9):,.0f} tokens/s")
    finally:
        if bar is not None:
            bar.close()
        if out_path and sink is not None:
            sink.close()
    if out_path:  # over the whole output, resumed rows included
        summary.over_context = _over_context(out_path)
    tokens.sort()
    summary.rows = summary.resumed + summary.counted + summary.errors
    summary.tokens = sum(tokens)
    summary.p50, summary.p95 = _percentile(tokens, 0.5), _percentile(tokens, 0.95)
    summary.max = tokens[-1] if tokens else None
    summary.seconds = round(time.perf_counter() - started, 3)
    new_rows = summary.counted + summary.errors
    summary.rows_per_second = round(new_rows / summary.seconds, 1) if summary.seconds else 0.0
    summary.tokens_per_second = round(new_tokens / summary.seconds, 1) if summary.seconds else 0.0
    return summary


def _cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _over_context(path: Path) -> int:
    n = 0
    with path.open(encoding="utf-8") as f:
        for line in f:
            n += bool(json.loads(line).get("over_context"))
    return n


def _bar(enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(unit=" rows", dynamic_ncols=True, smoothing=0.1)


def _local(chunks: Iterator[list[tuple[int, Any]]], *, model: str | None, dialect: str, field: str | None,
           workers: int) -> Iterator[list[dict[str, Any]]]:
    """Results chunk by chunk, in completion order, from ``workers`` processes (or this one when 1), keeping at
    most a few chunks per worker in flight so memory stays flat on any dataset size."""
    if workers <= 1:
        _init_worker(model, dialect, field)
        for chunk in chunks:
            yield _count_chunk(chunk)
        return
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")  # no forked copies of a parent's threads or locks
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(model, dialect, field)) as pool:
        pending: set[Future[list[dict[str, Any]]]] = set()
        for chunk in chunks:
            pending.add(pool.submit(_count_chunk, chunk))
            if len(pending) >= workers * 4:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    yield fut.result()
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                yield fut.result()
