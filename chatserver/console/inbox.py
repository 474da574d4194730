"""The inbox page and the small JSON reads its script makes: agents, canned replies, customer."""

from __future__ import annotations

from sqlalchemy import update
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from chatserver import agents, i18n, protocol
from chatserver.console import canned, customer, pages
from chatserver.console.pages import FormRefused
from chatserver.store.schema import agents as agents_table


async def inbox(request: Request) -> Response:
    who = await pages.viewer(request)
    if who is None:
        return pages.to_signin(request)
    return pages.render(request, "inbox.html", who)


def _error(status: int, code: str, message: str) -> Response:
    return JSONResponse(protocol.error(code, message), status_code=status,
                        headers={"Cache-Control": "no-store"})


async def _viewer_sites(request: Request) -> tuple[pages.Viewer, list[str]] | Response:
    who = await pages.viewer(request)
    if who is None:
        return _error(401, "unauthorized", "sign in first")
    return who, await agents.site_ids(pages.runtime(request).store, who.agent)


async def site_agents(request: Request) -> Response:
    """List the enabled agents of a site the viewer serves, for the transfer picker."""
    found = await _viewer_sites(request)
    if isinstance(found, Response):
        return found
    _, site_ids = found
    site_id = request.query_params.get("site", "")
    if site_id not in site_ids:
        return _error(404, "not_found", "no such site")
    store = pages.runtime(request).store
    listed = []
    for agent in await agents.all_agents(store):
        if agent.disabled or not await agents.serves(store, agent, site_id):
            continue
        connected = await agents.is_connected(store, agent.id)
        listed.append({"id": agent.id, "name": agent.name,
                       "status": agent.availability if connected else "offline"})
    return JSONResponse({"agents": listed}, headers={"Cache-Control": "no-store"})


async def site_canned(request: Request) -> Response:
    found = await _viewer_sites(request)
    if isinstance(found, Response):
        return found
    _, site_ids = found
    site_id = request.query_params.get("site", "")
    if site_id not in site_ids:
        return _error(404, "not_found", "no such site")
    replies = await canned.for_sites(pages.runtime(request).store, [site_id])
    return JSONResponse({"canned": [{"shortcut": r.shortcut, "body": r.body} for r in replies]},
                        headers={"Cache-Control": "no-store"})


async def contact(request: Request) -> Response:
    """Return the customer sidebar of a contact of one of the viewer's sites."""
    found = await _viewer_sites(request)
    if isinstance(found, Response):
        return found
    who, site_ids = found
    data = await customer.profile(
        pages.runtime(request).store, request.path_params["contact_id"], site_ids, who.locale
    )
    if data is None:
        return _error(404, "not_found", "no such contact")
    return JSONResponse(data, headers={"Cache-Control": "no-store"})


async def preferences(request: Request) -> Response:
    """Save the viewer's console language."""
    who = await pages.viewer(request)
    if who is None:
        return pages.to_signin(request)
    try:
        fields = await pages.form(request, who)
    except FormRefused as refused:
        return pages.refused(request, who, refused)
    locale = fields.get("locale")
    if locale in i18n.LOCALES:
        async with pages.runtime(request).store.write() as conn:
            await conn.execute(
                update(agents_table).where(agents_table.c.id == who.agent.id).values(locale=locale)
            )
    target = fields.get("next", "")
    if not target.startswith("/console") or target.startswith("//"):
        target = "/console"
    return RedirectResponse(target, status_code=303)
