"""Schemathesis (property-based, from /openapi.json) against a real server on loopback: every generated request,
valid and invalid, gets no 5xx, a status the document declares, and a body that matches the declared schema.

Bounded so it stays well under two minutes on two cores: a few examples per operation, deterministic generation
(the same cases every run), no shrinking. The CLI is run as a user would run it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support.serverkit import running_server
from tokcount.settings import Settings

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def _cli() -> list[str] | None:
    exe = Path(sys.executable).with_name("schemathesis")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("schemathesis") or shutil.which("st")
    return [found] if found else None


def test_schemathesis_finds_no_server_error_and_no_schema_violation(tmp_path: Path) -> None:
    cli = _cli()
    if cli is None:
        pytest.fail("schemathesis is not installed (it is in the test extra)")
    with running_server(Settings(default_model="qwen3.5")) as url:
        run = subprocess.run(
            [*cli, "run", f"{url}/openapi.json", "--checks", CHECKS, "--max-examples", "5",
             "--generation-deterministic", "--no-shrink", "--request-timeout", "30", "--workers", "1"],
            capture_output=True, text=True, timeout=300, cwd=tmp_path,
            env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_TELEMETRY": "false"})
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-6000:]
    assert "generated" in out and " failed" not in out.split("SUMMARY")[-1], out[-3000:]
