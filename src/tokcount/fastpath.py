"""The count routes' POSTs straight to their handlers, past FastAPI's per-request machinery.

A count route's handler takes the raw request and returns a ready response: it reads the body itself, declares no
parameters or dependencies, and never raises (every failure is already the dialect's own error answer). FastAPI
still runs its router, exception middleware, exit stack, dependency solver and endpoint wrapper around it for every
request, which py-spy put at ~20 % of a worker's CPU on a ~1k-token body (distinct bodies, one worker). This ASGI
middleware sits inside the request-id/metrics middleware (``observe.Observe``) and answers a POST whose path is
exactly one of those routes' fixed paths by calling the same handler; everything else (other methods, paths with
parameters such as Gemini's ``{model}``, the docs, the tools) goes through FastAPI as before. It sets
``scope["route"]`` to the route FastAPI would have matched, so metrics and the access log name the same route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

Handler = Callable[[Request], Awaitable[Response]]


class CountRoutes:
    """ASGI middleware; ``routes`` maps a fixed path to (the app's route object, its handler), filled as the app
    mounts its routes (the first route mounted on a path wins, as in FastAPI's router)."""

    def __init__(self, app: Any, *, routes: dict[str, tuple[Any, Handler]]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path = scope["path"]
            root = scope.get("root_path", "")
            if root and path.startswith(root):  # as Starlette's router matches: below the mount point
                path = path[len(root):]
            found = self.routes.get(path)
            if found is not None:
                route, handler = found
                scope["route"] = route
                response = await handler(Request(scope, receive))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def fixed(path: str) -> bool:
    """A path with no ``{parameter}`` in it (only those are matched here, by equality)."""
    return "{" not in path
