"""The server's API keys, and the tenant each one names.

A tenant is whoever holds one key. What the server remembers of a request (the answer memo, :mod:`tokcount.memo`)
is kept apart per tenant, so a key holder can never learn whether another client sent a body: a memo shared across
keys answered a body some other key had sent ~7x faster, with Bifrost's ``latency`` 0 and a hit on ``/metrics``.
The memo is keyed by the key's *tag*, an HMAC-SHA256 of the key under a secret drawn at start-up, never by the key
itself: the key is not kept in one more structure, and a tag seen anywhere (a heap dump, a debugger) reveals
nothing of it. Tags are per process, as the memo is.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Iterable

#: the tenant of every request when auth is off: anyone may call, so there is no one to keep apart
ANONYMOUS = b""


class Keys:
    """The configured keys, each with its tenant tag; looked up in constant time per key, as before."""

    def __init__(self, keys: Iterable[str]) -> None:
        secret = os.urandom(32)
        self._keys = tuple((k.encode("utf-8"), hmac.new(secret, k.encode("utf-8"), hashlib.sha256).digest()[:16])
                           for k in keys)

    def __bool__(self) -> bool:
        return bool(self._keys)

    def tenant(self, presented: Iterable[str]) -> bytes | None:
        """The tag of the key among ``presented`` (the first that is one), else None. Every value is compared
        with every key (``hmac.compare_digest``), so the time taken says nothing of which key matched, or how
        much of one."""
        found: bytes | None = None
        for value in presented:
            p = value.encode("utf-8")
            for key, tag in self._keys:
                if hmac.compare_digest(p, key) and found is None:
                    found = tag
        return found

    def tenant_proved(self, proves: Callable[[bytes], bool]) -> bytes | None:
        """The tag of the key ``proves`` accepts (a request signed with it as the secret: AWS Signature V4), else
        None. Every key is tried whatever matched, so the time taken says nothing of which key it was."""
        found: bytes | None = None
        for key, tag in self._keys:
            if proves(key) and found is None:
                found = tag
        return found
