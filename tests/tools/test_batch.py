"""tokcount batch: every input format counts each row as a single ``count`` does; resumption; error rows; the
summary; the process pool and the Ray runner give the local in-process answer.
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from typing import Any

import pytest

import tokcount
from tokcount import batch
from tokcount.cli import main

MODEL = "qwen3.5"
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]


def _rows(n: int = 30, seed: int = 7) -> list[dict]:
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        msgs: list[dict] = [{"role": "system", "content": "Be brief."}] if rnd.random() < 0.5 else []
        for t in range(rnd.randint(1, 3)):
            msgs.append({"role": "user", "content": " ".join(rnd.choice(["héllo", "world", "日本", "42", "tokens"])
                                                             for _ in range(rnd.randint(1, 60)))})
            if rnd.random() < 0.4:
                msgs.append({"role": "assistant", "content": "", "tool_calls": [
                    {"id": f"c{i}{t}", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]})
                msgs.append({"role": "tool", "tool_call_id": f"c{i}{t}", "content": "found it"})
            msgs.append({"role": "assistant", "content": "ok " * rnd.randint(1, 20)})
        rows.append({"id": i, "messages": msgs, "tools": TOOLS})
    return rows


def _expected(rows: list[dict]) -> dict[int, int]:
    return {i: tokcount.count(MODEL, {"messages": r["messages"], "tools": r["tools"]}).input_tokens
            for i, r in enumerate(rows)}


def _read(path: Path) -> dict[int, dict]:
    return {rec["row"]: rec for rec in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return _rows()


@pytest.fixture(scope="module")
def expected(rows: list[dict]) -> dict[int, int]:
    return _expected(rows)


def _write_inputs(tmp: Path, rows: list[dict]) -> dict[str, Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import Dataset

    jsonl = tmp / "rows.jsonl"
    jsonl.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    arr = tmp / "rows.json"
    arr.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    parquet = tmp / "rows.parquet"
    pq.write_table(pa.Table.from_pylist([{"id": r["id"], "messages": r["messages"]} for r in rows]), parquet)
    hf = tmp / "hf"
    Dataset.from_list([{"id": r["id"], "messages": r["messages"]} for r in rows]).save_to_disk(str(hf))
    return {"jsonl": jsonl, "json": arr, "parquet": parquet, "hf": hf}


def test_every_format_equals_single_counts(tmp_path: Path, rows: list[dict], expected: dict[int, int]) -> None:
    inputs = _write_inputs(tmp_path, rows)
    for name in ("jsonl", "json"):
        out = tmp_path / f"{name}.out.jsonl"
        s = batch.run(str(inputs[name]), model=MODEL, output=str(out), workers=1, progress=False)
        got = _read(out)
        assert {i: r["input_tokens"] for i, r in got.items()} == expected, name
        assert s.rows == len(rows) and s.errors == 0 and s.tokens == sum(expected.values())
    # Parquet and datasets on disk, messages column (no tools): Arrow gives every message every key (None where
    # it had none), which the chat parser reads as absent: the counts are the original messages' counts
    no_tools = {i: tokcount.count(MODEL, r["messages"]).input_tokens for i, r in enumerate(rows)}
    for name in ("parquet", "hf"):
        out = tmp_path / f"{name}.out.jsonl"
        batch.run(str(inputs[name]), model=MODEL, output=str(out), field="messages", workers=1, progress=False)
        got = _read(out)
        assert all(r["error"] is None for r in got.values()), [r["error"] for r in got.values()][:3]
        assert {i: r["input_tokens"] for i, r in got.items()} == no_tools, name


def test_bad_rows_are_reported_and_the_rest_counted(tmp_path: Path, rows: list[dict],
                                                   expected: dict[int, int]) -> None:
    src = tmp_path / "mixed.jsonl"
    lines = [json.dumps(r) for r in rows[:5]] + ["{not json", json.dumps({"messages": 3}),
                                                  json.dumps({"messages": [{"role": "wizard", "content": "x"}]})]
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "mixed.out.jsonl"
    s = batch.run(str(src), model=MODEL, output=str(out), workers=1, progress=False)
    got = _read(out)
    assert [got[i]["input_tokens"] for i in range(5)] == [expected[i] for i in range(5)]
    assert "not valid JSON" in got[5]["error"] and "messages" in got[6]["error"] and "role" in got[7]["error"]
    assert got[5]["input_tokens"] is None and s.errors == 3 and s.counted == 5
    assert [e["row"] for e in s.first_errors] == [5, 6, 7]


def test_resume_skips_done_rows_and_mends_a_torn_line(tmp_path: Path, rows: list[dict],
                                                      expected: dict[int, int]) -> None:
    src = tmp_path / "rows.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    done = {"row": 3, "input_tokens": 999_999, "exact": True, "over_context": False, "error": None}
    out.write_text(json.dumps(done) + "\n" + '{"row": 4, "input_tok', encoding="utf-8")  # killed mid-line
    s = batch.run(str(src), model=MODEL, output=str(out), workers=1, progress=False)
    got = _read(out)  # parses: the torn line was cut off
    assert s.resumed == 1 and s.counted == len(rows) - 1
    assert got[3]["input_tokens"] == 999_999  # not recounted
    assert {i: r["input_tokens"] for i, r in got.items() if i != 3} == {i: n for i, n in expected.items() if i != 3}
    again = batch.run(str(src), model=MODEL, output=str(out), workers=1, progress=False)
    assert again.resumed == len(rows) and again.counted == 0 and again.rows == len(rows)
    assert out.read_text().count("\n") == len(rows)


def test_summary_percentiles_and_rows_over_the_window(tmp_path: Path, rows: list[dict], expected: dict[int, int],
                                                      use_settings: Any) -> None:
    window = sorted(expected.values())[len(expected) // 2]
    cat = tmp_path / "tiny.toml"
    cat.write_text(f'[[model]]\nid = "tiny-qwen"\nfamily = "qwen3.5"\nrepo = "Qwen/Qwen3.5-9B"\n'
                   f"context_window = {window}\n", encoding="utf-8")
    use_settings(catalog=(str(cat),))  # the library reads its settings once; the catalog cache follows them
    src = tmp_path / "rows.json"
    src.write_text(json.dumps(rows), encoding="utf-8")
    out = tmp_path / "o.jsonl"
    s = batch.run(str(src), model="tiny-qwen", output=str(out), workers=1, progress=False)
    values = sorted(expected.values())
    assert s.over_context == sum(v > window for v in values) > 0
    assert s.p50 == values[round(0.5 * (len(values) - 1))] and s.p95 == values[round(0.95 * (len(values) - 1))]
    assert s.max == values[-1] and s.tokens == sum(values)
    assert all(r["over_context"] == (r["input_tokens"] > window) for r in _read(out).values())


def test_cli_process_pool_equals_in_process(tmp_path: Path, rows: list[dict], expected: dict[int, int],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "rows.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "pool.jsonl"
    assert main(["batch", "--model", MODEL, "--workers", "2", "-o", str(out), str(src)]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert summary["rows"] == len(rows) and summary["tokens"] == sum(expected.values())
    assert {i: r["input_tokens"] for i, r in _read(out).items()} == expected


def test_cli_to_stdout_and_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "one.jsonl"
    src.write_text(json.dumps([{"role": "user", "content": "Hi"}]) + "\n", encoding="utf-8")
    assert main(["batch", "--model", MODEL, "--workers", "1", "--no-progress", str(src)]) == 0
    cap = capsys.readouterr()
    hi = tokcount.count(MODEL, [{"role": "user", "content": "Hi"}]).input_tokens
    assert json.loads(cap.out)["input_tokens"] == hi
    assert json.loads(cap.err.strip().splitlines()[-1])["summary"]["rows"] == 1
    assert main(["batch", "--model", MODEL, str(tmp_path / "missing.jsonl")]) == 1
    bad = tmp_path / "obj.json"
    bad.write_text('{"a": 1}', encoding="utf-8")
    assert main(["batch", "--model", MODEL, "--no-progress", str(bad)]) == 1
    assert "array" in capsys.readouterr().err


def test_ray_run_equals_local_run(tmp_path: Path, rows: list[dict], expected: dict[int, int]) -> None:
    ray = pytest.importorskip("ray")
    from tokcount import ray as tokcount_ray

    small = rows[:12]
    src = tmp_path / "rows.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in small) + '{"messages": 3}\n', encoding="utf-8")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        out = tmp_path / "ray.jsonl"
        s = batch.run(str(src), model=MODEL, output=str(out), workers=2, progress=False,
                      counter=tokcount_ray.run_chunks)
        local = tmp_path / "local.jsonl"
        batch.run(str(src), model=MODEL, output=str(local), workers=1, progress=False)
        assert _read(out) == _read(local)
        assert s.counted == 12 and s.errors == 1
        assert {i: _read(out)[i]["input_tokens"] for i in range(12)} == {i: expected[i] for i in range(12)}
        import pandas as pd

        df = pd.DataFrame({"messages": [r["messages"] for r in small[:3]]})
        got = tokcount_ray.CountBatch(model=MODEL, field="messages")(df)
        assert list(got["input_tokens"]) == [tokcount.count(MODEL, r["messages"]).input_tokens for r in small[:3]]
    finally:
        ray.shutdown()


def test_unknown_dialect_is_refused() -> None:
    with pytest.raises(tokcount.InvalidRequest):
        batch.run("x.jsonl", model=MODEL, dialect="nope", out_stream=io.StringIO(), progress=False)


@pytest.mark.parametrize(("dialect", "row", "answer_key"), [
    ("anthropic", {"system": "Be brief.", "messages": [{"role": "user", "content": "Hi there"}]}, "input_tokens"),
    ("gemini", {"contents": [{"role": "user", "parts": [{"text": "Hi there"}]}]}, "totalTokens"),
])
def test_rows_in_another_dialect_equal_its_route(tmp_path: Path, dialect: str, row: dict, answer_key: str) -> None:
    from tokcount.dialects import dialects
    from tokcount.jobs import answer
    from tokcount.settings import Settings

    model = "claude-sonnet-4-5" if dialect == "anthropic" else "gemini-2.5-flash"
    src = tmp_path / "rows.jsonl"
    src.write_text(json.dumps(row) + "\n", encoding="utf-8")
    out = io.StringIO()
    batch.run(str(src), model=model, dialect=dialect, workers=1, progress=False, out_stream=out)
    d = dialects()[dialect]
    params = {"model": model} if d.routes[0].path_params else None
    body = row if params else {**row, "model": model}
    want = answer(d, d.routes[0], body, Settings(), path_params=params).body[answer_key]
    assert json.loads(out.getvalue())["input_tokens"] == want
