"""The HTTP floor the server is compared with: FastAPI + uvicorn answering a POST after parsing its JSON body,
and nothing else (the "bare HTTP stack" of shared/notes/server-anchors.md)."""

from __future__ import annotations

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

app = FastAPI()


@app.post("/v1/token/count")
async def count(request: Request) -> Response:
    body = orjson.loads(await request.body())
    return Response(orjson.dumps({"data": {"total_tokens": len(body.get("messages", []))}}),
                    media_type="application/json")


@app.get("/healthz")
async def healthz() -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")
