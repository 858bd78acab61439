"""Ray Data integration: count a dataset on a cluster, one actor per CPU, each loading the tokenizer once.

As a library, on any Ray Dataset whose rows hold a request (a column with a body, a list of messages or a text)::

    import ray, tokcount.ray
    ds = ray.data.read_parquet("s3://bucket/chats/")
    counted = ds.map_batches(tokcount.ray.CountBatch, fn_constructor_kwargs={"model": "qwen3.5", "field": "messages"},
                             batch_format="pandas", concurrency=8)
    counted.write_parquet("s3://bucket/chats-counted/")

``tokcount batch --ray ADDRESS`` does the same for the inputs ``tokcount batch`` reads (the rows are read where
the command runs, shipped to the cluster as JSON text and the results written to the same JSONL output, resumable
alike); ``--ray local`` starts a local runtime instead of joining one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from .batch import RowCounter, request_of
from .errors import TokcountError

RESULT_COLUMNS = ("input_tokens", "exact", "over_context", "error")


class CountBatch:
    """A ``map_batches`` callable class: adds ``input_tokens``, ``exact``, ``over_context`` and ``error`` columns.

    Rows are read from ``field`` (default: the row itself is the body, its columns its fields). A column of
    JSON text (what :func:`run_chunks` ships) is decoded when ``json_field`` is true."""

    def __init__(self, model: str | None = None, dialect: str = "openai-chat", field: str | None = None,
                 json_field: bool = False) -> None:
        self.counter = RowCounter(model, dialect, None)
        self.field = field
        self.json_field = json_field

    def __call__(self, batch: Any) -> Any:
        import pandas as pd

        df = batch if isinstance(batch, pd.DataFrame) else pd.DataFrame(batch)
        results = [self.counter(self._value(row)) for row in df.to_dict("records")]
        out = df.copy()
        for col in RESULT_COLUMNS:
            out[col] = [r[col] for r in results]
        return out

    def _value(self, row: dict[str, Any]) -> Any:
        if self.field is None:
            return _plain(row)
        value = row.get(self.field)
        if self.json_field and isinstance(value, str):
            return json.loads(value)
        return _plain(value)


def _plain(value: Any) -> Any:
    """numpy arrays (how Arrow hands list columns to pandas) back to lists, recursively."""
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):
        value = value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def connect(address: str, num_cpus: int | None = None) -> None:
    """Join the cluster at ``address`` (``auto``, ``ray://host:10001``), or ``local``: a runtime on this machine
    with ``num_cpus`` CPUs (default: all)."""
    import ray

    if ray.is_initialized():
        return
    if address == "local":
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    else:
        ray.init(address=address, log_to_driver=False)


def run_chunks(chunks: Iterator[list[tuple[int, Any]]], *, model: str | None, dialect: str, field: str | None,
               workers: int) -> Iterator[list[dict[str, Any]]]:
    """The ``counter`` of :func:`tokcount.batch.run` on Ray: rows as JSON text, counted by ``workers`` actors."""
    import ray.data

    items = []
    for chunk in chunks:
        for i, row in chunk:
            try:
                request = request_of(row, field)
                items.append({"row": i, "request": json.dumps(request, ensure_ascii=False, default=str), "bad": None})
            except TokcountError as exc:  # a row that cannot be read is an error row, as in a local run
                items.append({"row": i, "request": "null", "bad": exc.message})
    if not items:
        return
    ds = ray.data.from_items(items)
    counted = ds.map_batches(CountBatch, fn_constructor_kwargs={"model": model, "dialect": dialect,
                                                                "field": "request", "json_field": True},
                             batch_format="pandas", batch_size=64, concurrency=max(1, workers))
    for batch in counted.iter_batches(batch_format="pandas", batch_size=256):
        out = []
        frame: Any = batch  # a pandas DataFrame (batch_format="pandas"); Ray's annotation is a union of formats
        for rec in frame.to_dict("records"):
            if rec["bad"] is not None:
                out.append({"row": int(rec["row"]), "input_tokens": None, "exact": None, "over_context": None,
                            "error": rec["bad"]})
                continue
            ok = rec["error"] is None or rec["error"] != rec["error"]  # NaN: no error
            out.append({"row": int(rec["row"]),
                        "input_tokens": int(rec["input_tokens"]) if ok else None,
                        "exact": bool(rec["exact"]) if ok else None,
                        "over_context": bool(rec["over_context"]) if ok else None,
                        "error": None if ok else rec["error"]})
        yield out
