"""Upstream passthrough: ask the provider's own count endpoint for its models, fall back to the local count.

Off until a provider is configured (``[upstream.<provider>]`` in the server config, or the environment: see
:mod:`tokcount.passthrough.upstreams`). The engine asks it in one place, :func:`tokcount.jobs.execute`, so every
route and the CLI (``tokcount count --upstream``) get it and no dialect knows about it. For a model whose provider
is configured the count is forwarded (:mod:`~tokcount.passthrough.translate` builds the provider's body), with

- a deadline per call (the whole call, however slowly the provider sends), and the local count on any failure
  (timeout, connection error, 4xx, 5xx, an unreadable, implausible or hostile answer);
- a bounded number of calls in flight per provider: when all are taken the request is counted locally at once
  rather than queued, so a slow provider can never make tokcount slower than its own local count plus the timeout;
- a label: ``Count.method`` is ``upstream:<provider>`` when the provider answered, else the local method, with
  ``Count.upstream_error`` and a note saying why the provider's answer was not used.

Only the operator's key is sent; nothing of the caller's request headers (their own key included) is passed on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import TokcountError
from ..models.catalog import ModelSpec
from ..request import Request
from ..token_count import Count
from .translate import NotForwardable, Origin, build_call, forwards_as_sent, upstream_model
from .upstreams import PROVIDERS, Upstream, with_env

if TYPE_CHECKING:  # httpx is imported on the first forwarded call: `import tokcount` stays quick
    import httpx

log = logging.getLogger("tokcount.passthrough")

#: (provider, outcome) of one upstream call: ``ok``, ``error``, ``timeout``, ``busy``, an HTTP status class...
Record = Callable[[str, str], None]


def _unrecorded(provider: str, outcome: str) -> None:
    """No recorder: a library or CLI count keeps no metrics."""

#: providers that document their count endpoint's answer as an estimate (Anthropic: "estimated number of input
#: tokens"; Moonshot's endpoint is "estimate-token-count"), so a forwarded count from them is not labelled exact
ESTIMATING = frozenset({"anthropic", "moonshot"})
#: platforms (``Request.api``) whose counts a provider's endpoint does not give: Vertex AI frames a Gemini prompt
#: differently from the Developer API the ``gemini`` upstream is, so a Vertex request is counted locally
OTHER_PLATFORMS = {"gemini": frozenset({"vertex"})}


def provider_of(spec: ModelSpec) -> str | None:
    """Which provider serves a model, from its catalog family (``upstream_provider`` in the catalog wins)."""
    explicit = spec.extra.get("upstream_provider")
    if isinstance(explicit, str) and explicit in PROVIDERS:
        return explicit
    fam = spec.family
    if fam == "openai":
        return "openai"
    if fam == "claude":
        return "anthropic"
    if fam == "gemini":
        return "gemini"
    if fam.startswith(("kimi", "moonshot")):
        return "moonshot"
    if fam.startswith("step"):
        return "stepfun"
    return None


class Passthrough:
    """The configured upstreams with their concurrency gates and HTTP clients; one per process, thread-safe."""

    def __init__(self, upstreams: Iterable[Upstream], *, clients: Mapping[str, httpx.Client] | None = None,
                 on_call: Record | None = None) -> None:
        #: told each call's (provider, outcome): the server's metrics (:func:`tokcount.metrics.upstream`), passed
        #: down by the server; the library and CLI record nothing
        self._record: Record = on_call or _unrecorded
        self.upstreams = {u.provider: u for u in upstreams}
        self._gates = {p: threading.BoundedSemaphore(u.max_concurrency) for p, u in self.upstreams.items()}
        self._clients: dict[str, httpx.Client] = dict(clients or {})
        self._own = set(self.upstreams) - set(self._clients)
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self.upstreams)

    @property
    def max_in_flight(self) -> int:
        """How many calls may wait on providers at once (the server sizes its counting threads by it)."""
        return sum(u.max_concurrency for u in self.upstreams.values())

    def upstream_for(self, spec: ModelSpec) -> Upstream | None:
        provider = provider_of(spec)
        return self.upstreams.get(provider) if provider else None

    def count(self, spec: ModelSpec, req: Request, local: Callable[[], Count], *, requested: str | None = None,
              origin: Origin | None = None) -> Count:
        """The provider's count of ``req`` when it is configured, has a free slot and answers, else ``local()``."""
        up = self.upstream_for(spec)
        if up is None or req.api in OTHER_PLATFORMS.get(up.provider, ()):
            return local()
        from .client import UpstreamFailed, post, read_count

        gate = self._gates[up.provider]
        if not gate.acquire(blocking=False):
            return _fallback(up, spec, local, f"busy: {up.max_concurrency} calls already in flight", "busy",
                             self._record)
        try:
            model = upstream_model(spec, requested or spec.id)
            url, headers, body = build_call(up, model, req, origin)
            try:
                data = post(self._client(up), up, url, headers, body)
                n, modalities = read_count(up.provider, data)
            except (UpstreamFailed, NotForwardable, ValueError):
                raise
            except Exception:  # whatever the upstream's answer did to the reading of it: never the caller's error
                log.exception("reading upstream %s's answer failed", up.provider)
                raise UpstreamFailed("unreadable answer") from None
        except UpstreamFailed as exc:
            reason, outcome = str(exc), "timeout" if "timed out" in str(exc) or "timeout" in str(exc) else "error"
        except NotForwardable as exc:
            reason, outcome = f"not forwarded: the request names {exc}", "not_forwarded"
        except ValueError as exc:
            reason, outcome = f"unreadable answer: {exc}", "unreadable"
        else:  # a translated body lacks what the dialect left out of the request: the count says so
            return _forwarded(up, spec, n, modalities, self._record).estimated(
                [] if forwards_as_sent(up.provider, origin) else req.notes)
        finally:
            gate.release()
        return _fallback(up, spec, local, reason, outcome, self._record)

    def _client(self, up: Upstream) -> httpx.Client:
        with self._lock:
            client = self._clients.get(up.provider)
            if client is None:
                from .client import new_client

                client = self._clients[up.provider] = new_client(up)
            return client

    def close(self) -> None:
        with self._lock:
            for p in self._own:
                client = self._clients.pop(p, None)
                if client is not None:
                    client.close()


def _forwarded(up: Upstream, spec: ModelSpec, n: int, modalities: dict[str, int] | None, record: Record) -> Count:
    record(up.provider, "ok")
    notes = [f"counted by {up.provider}'s own count endpoint"]
    exact = up.provider not in ESTIMATING
    if not exact:
        notes.append(f"{up.provider} documents its count endpoint's answer as an estimate")
    # Gemini's promptTokensDetails, kept when they add up (Count.modalities: lower-case names summing to the total)
    split = {k.lower(): v for k, v in (modalities or {}).items()}
    return Count(model=spec.id, input_tokens=n, exact=exact, method=f"upstream:{up.provider}",
                 context_window=spec.context_window, notes=notes,
                 modalities=split if sum(split.values()) == n else {})


def _fallback(up: Upstream, spec: ModelSpec, local: Callable[[], Count], reason: str, outcome: str,
              record: Record) -> Count:
    record(up.provider, outcome)
    log.info("upstream %s not used for %s (%s); counting locally", up.provider, spec.id, reason)
    try:
        result = local()
    except TokcountError as exc:  # neither answered: say both reasons, keep the local error's type and status
        exc.message += f" Upstream {up.provider} was tried first and failed: {reason}."
        exc.args = (exc.message,)
        raise
    result.upstream_error = f"{up.provider}: {reason}"
    result.notes.append(f"upstream {up.provider} not used ({reason}); local count returned")
    return result


def upstreams_from_env(env: Mapping[str, str] | None = None) -> dict[str, Upstream]:
    """The upstreams the environment configures (``TOKCOUNT_UPSTREAM_*``), for library use."""
    import os

    return with_env({}, os.environ if env is None else env)


def count(model: str | ModelSpec, request: Any, *, upstreams: Mapping[str, Upstream] | None = None,
          client: httpx.Client | None = None, on_call: Record | None = None) -> Count:
    """Library entry: the provider's own count when configured (``upstreams``, default: the environment) and
    answering, else :func:`tokcount.count.count`; ``on_call`` is told the call's outcome (see :class:`Passthrough`)."""
    from ..count import as_request, resolve
    from ..count import count as local_count

    spec = resolve(model)
    req = as_request(request)
    ups = upstreams_from_env() if upstreams is None else upstreams
    up = Passthrough(ups.values(), clients={p: client for p in ups} if client is not None else None, on_call=on_call)
    try:
        return up.count(spec, req, lambda: local_count(spec, req),
                        requested=model if isinstance(model, str) else spec.id)
    finally:
        up.close()


__all__ = ["Origin", "Passthrough", "Upstream", "build_call", "count", "provider_of", "upstreams_from_env"]
