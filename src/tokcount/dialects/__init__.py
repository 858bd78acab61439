"""Provider API shapes ("dialects"): each module here that defines ``DIALECT`` (a
:class:`~tokcount.dialects._api.Dialect`) is one, found by :func:`dialects` — adding a dialect is adding a module.
The server mounts their routes and the CLI offers them by name from this one list.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._api import Dialect


@cache
def dialects() -> dict[str, Dialect]:
    """Every dialect by its name (``openai-chat``, ``stepfun``, ...), in module-name order."""
    found: dict[str, Dialect] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        dialect = getattr(importlib.import_module(f"{__name__}.{info.name}"), "DIALECT", None)
        if dialect is not None:
            if dialect.name in found:
                raise RuntimeError(f"two dialects are named {dialect.name!r}")
            found[dialect.name] = dialect
    return found
