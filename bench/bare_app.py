"""The start baseline: a bare Starlette app with one /healthz route under uvicorn."""

from __future__ import annotations

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


if __name__ == "__main__":
    uvicorn.run(Starlette(routes=[Route("/healthz", healthz)]), host="127.0.0.1",
                port=int(sys.argv[1]), log_level="warning")
