"""What rendering in a render process costs (docs/security.md): the same fresh requests rendered by the model's
chat template in this process and through a render process (``render_isolation``, the server's default), median
time per render, one seed per timed call."""

from __future__ import annotations

import statistics
import time
from typing import Any

from tokcount import loader
from tokcount.count import as_request, resolve
from tokcount.renderers.jinja import limits, render_pool
from tokcount.renderers.jinja.renderer import render_prompt

from . import workloads

MODELS = ("qwen3.5", "deepseek-v3.2")
#: (tokens, messages): a short chat, the 1k-token bodies of the server part, many short messages
SHAPES = ((1_000, 10), (10_000, 100), (10_000, 1_000))


def _median_ms(model: Any, shape: tuple[int, int], isolated: bool, rounds: int, seed0: int) -> float:
    bounds = limits.Limits(isolated=isolated)
    times = []
    with limits.active(bounds):
        for i in range(rounds):
            req = as_request(workloads.chat(shape[0], shape[1], seed0 + i))
            started = time.perf_counter()
            render_prompt(model, req)
            times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def overhead(quick: bool = False) -> list[dict[str, Any]]:
    rounds = 5 if quick else 40
    rows = []
    for name in MODELS:
        model = loader.load(resolve(name))
        for n, shape in enumerate(SHAPES):
            _median_ms(model, shape, True, 2, 10**6)  # the processes are up and know the template
            seed = 1000 * n
            local = _median_ms(model, shape, False, rounds, seed)
            isolated = _median_ms(model, shape, True, rounds, seed + 500)
            rows.append({"model": name, "tokens": shape[0], "messages": shape[1], "local_ms": local,
                         "isolated_ms": isolated})
    render_pool.shutdown()
    return rows


def table(rows: list[dict[str, Any]]) -> list[str]:
    out = ["## Render processes: the cost of isolation", "",
           "Median render time of fresh requests through the model's chat template, in this process and through a "
           "render process (the server's default, docs/security.md): the difference is pickling the values, one "
           "round trip on a socket pair and unpickling the prompt.", "",
           "| model | tokens | messages | in process (ms) | render process (ms) | added (ms) |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['model']} | {r['tokens']:,} | {r['messages']:,} | {r['local_ms']:.3f} | "
                   f"{r['isolated_ms']:.3f} | {r['isolated_ms'] - r['local_ms']:+.3f} |")
    return [*out, ""]
