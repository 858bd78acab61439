"""The chat-template render alone, Jinja2 vs MiniJinja (issue 25): the same fresh requests rendered by each model's
template with ``render_minijinja`` off (Jinja2 only) and on (MiniJinja where the template is proven), in this
process, median time per render, one seed per timed call; both prompts compared byte for byte on every call."""

from __future__ import annotations

import gc
import statistics
import time
from typing import Any

from tokcount import loader
from tokcount.count import as_request
from tokcount.models.catalog import default_catalog
from tokcount.renderers.jinja import limits
from tokcount.renderers.jinja.render import engine as which_engine
from tokcount.renderers.jinja.renderer import render_prompt

from . import workloads

#: (label, rounds, seed → request)
SHAPES = (("10k as 10 msgs", 21, lambda seed: workloads.chat(10_000, 10, seed)),
          ("10k as 100 msgs", 21, lambda seed: workloads.chat(10_000, 100, seed)),
          ("10k as 1000 msgs", 11, lambda seed: workloads.chat(10_000, 1_000, seed)),
          ("100k as 100 msgs", 11, lambda seed: workloads.chat(100_000, 100, seed)),
          ("agent trace (20 tools, 300 turns)", 7, workloads.agent_trace))


def compare(models: list[str], quick: bool = False) -> list[dict[str, Any]]:
    rows = []
    jinja2_only = limits.Limits(native="off")
    for name in models:
        model = loader.load(default_catalog().resolve(name))
        chosen = which_engine(model.template())
        for label, rounds, make in SHAPES:
            try:
                render_prompt(model, as_request(make(999)))
            except Exception as exc:  # the template refuses the shape (Gemma 3 and tool turns)
                rows.append({"model": name, "shape": label, "engine": chosen, "error": str(exc)[:80]})
                continue
            times: dict[str, list[float]] = {"jinja2": [], "auto": []}
            same = True
            for r in range(1 if quick else rounds):
                requests = [as_request(make(2000 + 3 * r + i)) for i in range(3)]
                gc.collect()
                render_prompt(model, requests.pop())  # the collection's after-effects land on no timed call
                order = ("jinja2", "auto") if r % 2 else ("auto", "jinja2")
                for which, req in zip(order, requests, strict=True):
                    started = time.perf_counter()
                    if which == "jinja2":
                        with limits.active(jinja2_only):
                            render_prompt(model, req)
                    else:
                        render_prompt(model, req)
                    times[which].append((time.perf_counter() - started) * 1000)
                with limits.active(jinja2_only):  # both engines on one of the requests: the same bytes?
                    want = render_prompt(model, requests[0])
                same = same and render_prompt(model, requests[0]) == want
            rows.append({"model": name, "shape": label, "engine": chosen, "same": same,
                         **{f"{k}_ms": statistics.median(v) for k, v in times.items()}})
    return rows


def table(rows: list[dict[str, Any]]) -> list[str]:
    out = ["## Chat-template render: Jinja2 vs MiniJinja (issue 25)", "",
           "Median render time (`render_prompt`: message preparation and the template) of fresh requests in this "
           "process, with `render_minijinja` off (Jinja2 only, as before) and on (the default: MiniJinja where "
           "the template is proven to give Jinja2's bytes, renderers/jinja/equivalence.py). `same bytes` = both "
           "prompts compared on every round. `engine` = what renders the template here.", "",
           "| model | shape | Jinja2 (ms) | default (ms) | speed-up | engine | same bytes |",
           "|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            out.append(f"| {r['model']} | {r['shape']} | - | - | - | {r['engine']} | refused: {r['error']} |")
            continue
        out.append(f"| {r['model']} | {r['shape']} | {r['jinja2_ms']:.3f} | {r['auto_ms']:.3f} | "
                   f"{r['jinja2_ms'] / r['auto_ms']:.1f}× | {r['engine']} | {'yes' if r['same'] else 'NO'} |")
    return [*out, ""]

