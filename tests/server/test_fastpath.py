"""The count routes' fixed paths are answered past FastAPI's per-request layers, exactly as FastAPI answers them."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from tokcount.dialects import dialects
from tokcount.fastpath import CountRoutes
from tokcount.server import create_app
from tokcount.settings import Settings

#: needs none of ../shared (tests/conftest.py gives it an empty asset directory and cache)
pytestmark = pytest.mark.no_shared

BODIES = [
    b'{"model": "no-such-model-xyz", "messages": [{"role": "user", "content": "hi"}]}',
    b'{"model": "no-such-model-xyz", "prompt": "hi", "text": "hi", "input": "hi"}',
    b'{"messages": "not a list"}',
    b"{not json",
    b"",
]


def _direct(app: FastAPI) -> dict[str, Any]:
    return next(m for m in app.user_middleware if m.cls is CountRoutes).kwargs["routes"]


def _recorded(app: FastAPI) -> list[str]:
    """Wrap every direct handler to record the paths it served (the middleware stack is built on first use)."""
    seen: list[str] = []
    direct = _direct(app)
    for path, (route, handler) in list(direct.items()):
        async def wrapped(request: Any, handler: Any = handler, path: str = path) -> Any:
            seen.append(path)
            return await handler(request)
        direct[path] = (route, wrapped)
    return seen


def test_every_fixed_count_route_is_direct_and_answers_as_fastapi_does() -> None:
    settings = Settings(api_keys=("k",))
    app, plain = create_app(settings), create_app(settings)
    _direct(plain).clear()  # everything through FastAPI's router: the answers to match
    seen = _recorded(app)
    fixed = {r.path for d in dialects().values() for r in d.routes if r.path and "{" not in r.path}
    assert set(_direct(app)) == fixed and fixed
    with TestClient(app) as client, TestClient(plain) as routed:
        for path in sorted(fixed):
            for headers in ({"authorization": "Bearer k"}, {}):  # and a refused key
                for body in BODIES:
                    ours = client.post(path, content=body, headers=headers)
                    theirs = routed.post(path, content=body, headers=headers)
                    assert (ours.status_code, ours.content) == (theirs.status_code, theirs.content), (path, body)
                    assert ours.headers.get("x-request-id")  # still inside the request-id middleware
        assert sorted(set(seen)) == sorted(fixed)  # each was answered by the direct path
        served = len(seen)
        # other methods and unknown paths still go through FastAPI (its 405 / 404 in the route's shape)
        assert client.get(sorted(fixed)[0]).status_code == 405
        assert client.post("/v1/token/count/extra", content=b"{}").status_code == 404
        assert len(seen) == served


def test_a_mount_point_is_stripped_as_the_router_does() -> None:
    app = create_app(Settings())
    seen = _recorded(app)
    with TestClient(app, root_path="/tokcount") as client:
        ours = client.post("/tokcount/v1/token/count", content=b'{"model": "no-such-model-xyz", "messages": []}')
        assert ours.status_code in (400, 404) and ours.json()
    assert seen == ["/v1/token/count"]
