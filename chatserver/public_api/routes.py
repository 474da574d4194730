"""The public API's route table: every operation of every object, plus its OpenAPI document."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from chatserver.public_api import (
    articles,
    channel_messages,
    contacts,
    conversations,
    openapi,
    reports,
    tickets,
)
from chatserver.public_api.operations import Operation, Page, route

OPERATIONS: list[Operation] = [
    *contacts.OPERATIONS, *conversations.OPERATIONS, *tickets.OPERATIONS, *articles.OPERATIONS,
    *reports.OPERATIONS, *channel_messages.OPERATIONS,
]


async def openapi_json(request: Request) -> Response:
    return JSONResponse(DOCUMENT, headers={"Access-Control-Allow-Origin": "*"})


async def docs_page(request: Request) -> Response:
    policy = "default-src 'none'; style-src 'unsafe-inline'"
    return HTMLResponse(PAGE, headers={"Content-Security-Policy": policy})


PAGES = [
    Page("/openapi.json", "This document (OpenAPI 3.1)", "application/json", openapi_json),
    Page("/docs", "This document as a readable page", "text/html", docs_page),
]
# Made once: the operations do not change while the process runs.
DOCUMENT = openapi.document(OPERATIONS, PAGES)
PAGE = openapi.page(DOCUMENT)


def routes() -> list[Route]:
    return [*(route(op) for op in OPERATIONS),
            *(Route(p.full_path, p.handler, methods=["GET"]) for p in PAGES)]
