"""Command line: ``tokcount count | models | pull | serve``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any, TextIO

from .errors import TokcountError


def _error_obj(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, TokcountError):
        return {"error": {"type": exc.kind, "message": exc.message, **({"param": exc.param} if exc.param else {})}}
    return {"error": {"type": "invalid_request", "message": f"{type(exc).__name__}: {exc}"}}


def _count_one(model: str, body: Any, dialect: str, tokens: bool) -> dict[str, Any]:
    from .count import count
    from .media.sources import default_policy

    if dialect != "openai-chat":
        raise TokcountError(f"unknown dialect {dialect!r}")
    if isinstance(body, dict) and model is None:
        model = body.get("model")
    # the CLI reads local image paths (and file:// URLs); a server never does
    policy = dataclasses.replace(default_policy(), allow_local=True)
    return count(model, body, return_tokens=tokens, media_policy=policy).to_dict()


def cmd_count(args: argparse.Namespace, stdin: TextIO, stdout: TextIO) -> int:
    source = stdin if args.file in (None, "-") else open(args.file, encoding="utf-8")  # noqa: SIM115
    with source:
        if args.jsonl:
            status = 0
            for line in source:
                if not line.strip():
                    continue
                try:
                    out = _count_one(args.model, json.loads(line), args.dialect, args.tokens)
                except (TokcountError, ValueError) as exc:
                    out, status = _error_obj(exc), 1
                stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
                stdout.flush()
            return status
        try:
            out = _count_one(args.model, json.loads(source.read()), args.dialect, args.tokens)
        except (TokcountError, ValueError) as exc:
            stdout.write(json.dumps(_error_obj(exc), ensure_ascii=False) + "\n")
            return 1
    stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
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
    else:
        for r in rows:
            stdout.write(f"{r['id']:<24} {r['family']:<12} {'yes' if r['available'] else 'no ':<4} {r['repo']}\n")
    return 0


def cmd_pull(args: argparse.Namespace, stdout: TextIO) -> int:
    from . import loader, renderers
    from .count import resolve

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tokcount", description="Exact input-token counts for LLM requests.")
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("count", help="count the tokens of a request (JSON from FILE or stdin)")
    c.add_argument("--model", "-m", default=None, help="model name, alias or Hub repo id (else the body's model)")
    c.add_argument("--dialect", default="openai-chat", help="request shape (default: openai-chat)")
    c.add_argument("--jsonl", action="store_true", help="one request per line in, one answer per line out")
    c.add_argument("--tokens", action="store_true", help="include token ids and strings")
    c.add_argument("file", nargs="?", default="-", help="request file, or - for stdin")
    m = sub.add_parser("models", help="list the catalog and whether each model's files are here")
    m.add_argument("--json", action="store_true")
    p = sub.add_parser("pull", help="download a model's tokenizer and template ahead of time")
    p.add_argument("models", nargs="+")
    s = sub.add_parser("serve", help="run the HTTP service")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument("--workers", type=int, default=1)
    s.add_argument("--config", default=None)
    s.add_argument("--preload", action="append", default=None, metavar="MODEL",
                   help="load MODEL at start-up (repeatable); /readyz answers 503 until done")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "count":
        return cmd_count(args, sys.stdin, sys.stdout)
    if args.command == "models":
        return cmd_models(args, sys.stdout)
    if args.command == "pull":
        return cmd_pull(args, sys.stdout)
    return cmd_serve(args)


if __name__ == "__main__":
    sys.exit(main())
