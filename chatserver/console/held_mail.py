"""Held mail: inbound mail that could not be threaded safely, for admins to open or delete.

Nothing quarantined is ever appended on its own (mail/inbound.py); here a person who has
read it decides: it becomes a new ticket of its sender, or it goes.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from chatserver.console import pages
from chatserver.console.admin import admins_only
from chatserver.console.pages import FormRefused, Viewer
from chatserver.i18n import translator
from chatserver.mail import inbound

SHOWN = 200


async def _page(request: Request, who: Viewer, *, status: int = 200, error: str | None = None) -> Response:
    held = [
        {**mail, "received": datetime.fromtimestamp(mail["received_at"] / 1000, UTC)
         .strftime("%Y-%m-%d %H:%M UTC")}
        for mail in await inbound.held(pages.runtime(request), SHOWN)
    ]
    return pages.render(request, "admin_held.html", who, status=status, held=held, error=error)


@admins_only
async def held_list(request: Request, who: Viewer) -> Response:
    return await _page(request, who)


@admins_only
async def held_release(request: Request, who: Viewer) -> Response:
    try:
        await pages.form(request, who)
    except FormRefused as refused:
        return pages.refused(request, who, refused)
    try:
        ticket_id = await inbound.release(pages.runtime(request), request.path_params["held_id"])
    except inbound.Unreleasable as why:
        t = translator(who.locale)
        cannot = t("held_cannot")
        return await _page(request, who, status=409, error=f"{cannot}: {why}")
    # Gone already (released or deleted in another tab): the list shows what is left.
    target = f"/console/tickets#{ticket_id}" if ticket_id else "/console/admin/held"
    return RedirectResponse(target, status_code=303)


@admins_only
async def held_delete(request: Request, who: Viewer) -> Response:
    try:
        await pages.form(request, who)
    except FormRefused as refused:
        return pages.refused(request, who, refused)
    await inbound.discard(pages.runtime(request), request.path_params["held_id"])
    return RedirectResponse("/console/admin/held", status_code=303)
