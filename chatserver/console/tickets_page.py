"""The tickets page: list with filters, the thread, reply and note; over the ticket JSON API."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from chatserver.console import pages


async def tickets(request: Request) -> Response:
    """GET /console/tickets: the page; tickets.js reads and writes /api/v1/tickets."""
    who = await pages.viewer(request)
    if who is None:
        return pages.to_signin(request)
    return pages.render(request, "tickets.html", who)
