"""Command line: ``tokcount count | fit | batch | models | pull | serve``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import TYPE_CHECKING, Any, TextIO

from .errors import InvalidRequest, MalformedJson, TokcountError

if TYPE_CHECKING:
    from .dialects._api import Dialect
    from .passthrough import Passthrough
    from .settings import Settings


def _dialect_names() -> list[str]:
    from .dialects import dialects

    return list(dialects())


def _count_one(model: str | None, raw: str, dialect: Dialect, settings: Settings, tokens: bool,
               upstream: Passthrough | None = None, label: TextIO | None = None) -> tuple[int, dict[str, Any]]:
    """(status, body) of the dialect's first route for one request: the same answer its server route gives
    (``openai-chat``, the library's own shape, answers with the library's Count). With ``label``, the
    ``x-tokcount-*`` headers the server would send are written there (a route's body may not say the method)."""
    from .jobs import Policy, answer, error_answer
    from .media.sources import policy_from

    route = dialect.routes[0]
    try:
        try:
            body: Any = json.loads(raw)
        except ValueError as exc:
            raise MalformedJson(f"The request is not valid JSON: {exc}.", param="body") from None
        params: dict[str, str] = {}
        if route.path_params:  # e.g. Gemini, whose model is in the URL: here it is --model
            if model is None:
                raise InvalidRequest(f"--model is needed: the {dialect.name} route takes the model from its URL.",
                                     param="model")
            params = {"model": model}
        elif model is not None:  # --model wins over the body's model
            body = {**body, "model": model} if isinstance(body, dict) else {"messages": body, "model": model}
    except TokcountError as exc:
        out = error_answer(dialect, exc)
        return out.status, out.body
    # the CLI reads local image paths (and file:// URLs); a server never does
    policy = dataclasses.replace(policy_from(settings), allow_local=True)
    out = answer(dialect, route, body, settings, path_params=params, return_tokens=tokens,
                 policy=Policy(media=policy, upstream=upstream))
    if label is not None:
        label.write("".join(f"{k}: {v}\n" for k, v in out.headers.items() if k.startswith("x-tokcount-")))
    return out.status, out.body


def cmd_count(args: argparse.Namespace, stdin: TextIO, stdout: TextIO) -> int:
    from . import settings_in_force
    from .dialects import dialects
    from .jobs import error_answer
    from .settings import Settings

    dialect = dialects()[args.dialect]
    try:
        # once: the default model is what the server would use (and the library's process-wide settings)
        settings = settings_in_force.configure(Settings.load(args.config))
        if args.upstream and not settings.upstreams:
            raise ValueError("--upstream: no upstream is configured ([upstream.<provider>] in the config file, "
                             "or TOKCOUNT_UPSTREAM_<PROVIDER>_URL and _KEY)")
    except (ValueError, OSError) as exc:  # a bad TOKCOUNT_CONFIG file or environment value
        bad = InvalidRequest(f"settings: {exc}")
        stdout.write(json.dumps(error_answer(dialect, bad).body, ensure_ascii=False) + "\n")
        return 1
    upstream = None
    if args.upstream:  # off unless asked: a local count never touches the network by surprise
        from .passthrough import Passthrough

        upstream = Passthrough(settings.upstreams)
    source = stdin if args.file in (None, "-") else open(args.file, encoding="utf-8")  # noqa: SIM115
    with source:
        lines = (line for line in source if line.strip()) if args.jsonl else iter([source.read()])
        status = 0
        for line in lines:  # streamed: each answer is written as soon as it is counted
            code, out = _count_one(args.model, line, dialect, settings, args.tokens, upstream,
                                   sys.stderr if upstream is not None else None)
            if code != 200:
                status = 1
            stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
            stdout.flush()
    if upstream is not None:
        upstream.close()
    return status


def cmd_fit(args: argparse.Namespace, stdin: TextIO, stdout: TextIO) -> int:
    """The ``POST /v1/fit`` answer for one body of ``--dialect``'s shape (errors in that dialect's shape)."""
    from .dialects import dialects
    from .fit import fit_answer
    from .jobs import Policy, error_answer
    from .media.sources import default_policy
    from .settings import Settings

    dialect = dialects()[args.dialect]
    source = stdin if args.file in (None, "-") else open(args.file, encoding="utf-8")  # noqa: SIM115
    with source:
        raw = source.read()
    try:
        settings = Settings.load()
        body = json.loads(raw)
    except (ValueError, OSError) as exc:  # not JSON, or a bad TOKCOUNT_CONFIG
        err = MalformedJson(f"The request is not valid JSON: {exc}.", param="body") \
            if isinstance(exc, json.JSONDecodeError) else InvalidRequest(f"settings: {exc}")
        stdout.write(json.dumps(error_answer(dialect, err).body, ensure_ascii=False) + "\n")
        return 1
    policy = dataclasses.replace(default_policy(), allow_local=True)
    out = fit_answer(args.dialect, body, settings, model=args.model, budget=args.budget, reserve=args.reserve or 0,
                     truncate=args.truncate, policy=Policy(media=policy))
    stdout.write(json.dumps(out.body, ensure_ascii=False) + "\n")
    return 0 if out.status == 200 else 1


def cmd_batch(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """Count every row of a dataset; rows to ``-o`` (or stdout), the summary to stdout (or stderr)."""
    from . import batch

    counter = None
    if args.ray:
        from . import ray as tokcount_ray

        tokcount_ray.connect(args.ray, num_cpus=args.workers)
        counter = tokcount_ray.run_chunks
    try:
        summary = batch.run(args.input, model=args.model, dialect=args.dialect, output=args.output, field=args.field,
                            workers=args.workers, split=args.split, progress=not args.no_progress,
                            out_stream=None if args.output else stdout, counter=counter)
    except (TokcountError, OSError) as exc:
        stderr.write(f"tokcount batch: {getattr(exc, 'message', exc)}\n")
        return 1
    report = stdout if args.output else stderr
    report.write(json.dumps({"summary": dataclasses.asdict(summary)}, ensure_ascii=False) + "\n")
    return 0


def cmd_models(args: argparse.Namespace, stdout: TextIO) -> int:
    from .availability import availability
    from .models.catalog import default_catalog

    rows = []
    for spec in default_catalog().models.values():
        rows.append({"id": spec.id, "family": spec.family, "repo": spec.repo, "aliases": list(spec.aliases),
                     "context_window": spec.context_window, "available": availability(spec)})
    if args.json:
        stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
        return 0
    # a header row, and columns as wide as their longest value (a long id no longer pushes its row out of line)
    table: list[tuple[str, str, str, str]] = [("model", "family", "available", "repo")] + [
        (str(r["id"]), str(r["family"]), "yes" if r["available"] else "no", str(r["repo"])) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    for row in table:
        stdout.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + f"  {row[3]}\n")
    if not all(r["available"] for r in rows):
        stdout.write("\n'no': the model's files are not here; `tokcount pull MODEL` downloads them (or see "
                     "TOKCOUNT_ASSET_DIRS in docs/server.md).\n")
    return 0


def cmd_pull(args: argparse.Namespace, stdout: TextIO) -> int:
    from . import assets, loader, renderers
    from .count import resolve

    assets.pulling.set(True)  # ask the Hub even for files an asset dir's partial copy of the repo lacks
    status = 0
    for name in args.models:
        try:
            spec = resolve(name)
            needs = renderers.for_spec(spec).capabilities
            if not needs.needs_files:
                stdout.write(f"{spec.id}: built-in framing ({spec.renderer}), bundled vocabulary: nothing to pull\n")
                continue
            model = loader.load(spec)
            if not needs.needs_template:  # mistral-common, Gemini: a tokenizer file and no chat template
                stdout.write(f"{spec.id}: tokenizer {model.tokenizer_path}\n")
                continue
            model.template()
            stdout.write(f"{model.spec.id}: tokenizer {model.tokenizer_path}; template {model.template_source}\n")
        except TokcountError as exc:
            stdout.write(f"{name}: {exc.message}\n")
            status = 1
    return status


def cmd_serve(args: argparse.Namespace) -> int:
    from .server import serve

    serve(host=args.host, port=args.port, workers=args.workers, config=args.config, preload=args.preload)
    return 0


def _settings_epilog() -> str:
    """Every setting, generated from the Settings fields: section and TOML key, environment variable, default."""
    from .settings import setting_rows

    lines = ["settings (defaults < --config TOML < environment; TOML: key in its [section], or the flat",
             "field name at the top level):"]
    for section, key, env, default, text in setting_rows():
        lines.append(f"  [{section}] {key:<22} {env:<32} {default or '-':<10} {text}")
    lines.append("  upstreams are [upstream.<provider>] tables (base_url, api_key or api_key_env, timeout, "
                 "max_concurrency), or TOKCOUNT_UPSTREAM_<PROVIDER>_URL and _KEY with TOKCOUNT_UPSTREAM_TIMEOUT")
    lines.append("  PROMETHEUS_MULTIPROC_DIR: with --workers N, where the workers' metric files go (emptied at start;"
                 " default: a temporary directory)")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tokcount", description="Exact input-token counts for LLM requests.")
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("count", help="count the tokens of a request (JSON from FILE or stdin)")
    c.add_argument("--model", "-m", default=None, help="model name, alias or Hub repo id (else the body's model)")
    c.add_argument("--dialect", default="openai-chat", choices=_dialect_names(),
                   help="request shape; the answer is that route's answer (default: openai-chat, the library's)")
    c.add_argument("--jsonl", action="store_true", help="one request per line in, one answer per line out")
    c.add_argument("--tokens", action="store_true", help="include token ids and strings")
    c.add_argument("--config", default=None, help="settings file (default: TOKCOUNT_CONFIG)")
    c.add_argument("--upstream", action="store_true",
                   help="ask the providers configured in the settings ([upstream.*], TOKCOUNT_UPSTREAM_*) for "
                        "their own count first; x-tokcount-* labels go to stderr")
    c.add_argument("file", nargs="?", default="-", help="request file, or - for stdin")
    f = sub.add_parser("fit", help="trim a request to a token budget (oldest turns first), exactly")
    f.add_argument("--model", "-m", default=None, help="model name (else the body's model)")
    size = f.add_mutually_exclusive_group()
    size.add_argument("--budget", type=int, default=None, help="token budget (default: the model's context window)")
    size.add_argument("--reserve", type=int, default=None, help="tokens to leave free in the context window")
    f.add_argument("--dialect", default="openai-chat", choices=_dialect_names(), help="the body's request shape")
    f.add_argument("--truncate", action="store_true",
                   help="cut the oldest kept message's text short instead of dropping its whole turn")
    f.add_argument("file", nargs="?", default="-", help="request file, or - for stdin")
    b = sub.add_parser("batch", help="count every row of a JSONL / JSON / Parquet file or a datasets directory")
    b.add_argument("--model", "-m", default=None, help="model name (else each row's model, or the default)")
    b.add_argument("--dialect", default="openai-chat", choices=_dialect_names(), help="each row's request shape")
    b.add_argument("--field", default=None, help="the column holding the request or messages (default: the row)")
    b.add_argument("--split", default=None, help="split of a DatasetDict directory")
    b.add_argument("--workers", type=int, default=None, help="processes (default: every core)")
    b.add_argument("--ray", default=None, metavar="ADDRESS", help="count on a Ray cluster (or 'local')")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    b.add_argument("-o", "--output", default=None, help="JSONL output (resumed when it exists); default stdout")
    b.add_argument("input")
    m = sub.add_parser("models", help="list the catalog and whether each model's files are here")
    m.add_argument("--json", action="store_true")
    p = sub.add_parser("pull", help="download a model's tokenizer and template ahead of time")
    p.add_argument("models", nargs="+")
    s = sub.add_parser("serve", help="run the HTTP service", epilog=_settings_epilog(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument("--workers", type=int, default=1)
    s.add_argument("--config", default=None, metavar="TOML",
                   help="settings file (also TOKCOUNT_CONFIG); the environment overrides it")
    s.add_argument("--preload", action="append", default=None, metavar="MODEL",
                   help="load MODEL at start-up (repeatable); /readyz answers 503 until done")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "count":
        return cmd_count(args, sys.stdin, sys.stdout)
    if args.command == "fit":
        return cmd_fit(args, sys.stdin, sys.stdout)
    if args.command == "batch":
        return cmd_batch(args, sys.stdout, sys.stderr)
    if args.command == "models":
        return cmd_models(args, sys.stdout)
    if args.command == "pull":
        return cmd_pull(args, sys.stdout)
    return cmd_serve(args)


if __name__ == "__main__":
    sys.exit(main())
