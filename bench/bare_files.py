"""The files baseline: a bare Starlette app that streams an upload to disk and a file back."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, StreamingResponse
from starlette.routing import Route

FOLDER = Path(tempfile.mkdtemp(prefix="bare-files-"))
CHUNK = 64 * 1024


async def up(request: Request) -> PlainTextResponse:
    with open(FOLDER / "file", "wb") as out:
        async for chunk in request.stream():
            out.write(chunk)
    return PlainTextResponse("ok", status_code=201)


async def down(request: Request) -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        with open(FOLDER / "file", "rb") as source:
            while chunk := source.read(CHUNK):
                yield chunk

    return StreamingResponse(chunks(), media_type="application/octet-stream")


if __name__ == "__main__":
    uvicorn.run(Starlette(routes=[Route("/up", up, methods=["POST"]), Route("/down", down)]),
                host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
