"""No module mixes so much that it grows past 450 lines (issue 24: server.py, media/sources.py, loader.py and the
Claude framing were 725, 695, 559 and 481)."""

from __future__ import annotations

import pytest

from support.shared import REPO

pytestmark = pytest.mark.no_shared

PACKAGE = REPO / "src" / "tokcount"
MAX_LINES = 450


def test_no_module_is_over_450_lines() -> None:
    long = {str(p.relative_to(PACKAGE)): n for p in sorted(PACKAGE.rglob("*.py"))
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}
