"""Blocking abusers from the console: the session API the conversation view calls, and the
admin page of every block with the traffic it refused. The rules are in limits/blocks.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from chatserver import sites
from chatserver.api import ApiError, json_body
from chatserver.console import pages
from chatserver.console.admin import admins_only
from chatserver.console.pages import FormRefused, Viewer
from chatserver.limits import blocks
from chatserver.runtime import Runtime
from chatserver.store.schema import contacts
from chatserver.ticket_api import _agent


async def _site(request: Request) -> tuple[Runtime, str, sites.Site]:
    """Return the runtime, the agent's id and the site of the path, if the agent serves it."""
    rt, agent, site_ids = await _agent(request)
    # The console knows its chats' site by id, the widget's world by key: either will do.
    key = request.path_params["key"]
    site = await sites.by_key(rt.store, key) or await sites.by_id(rt.store, key)
    if site is None or site.id not in site_ids:
        raise ApiError(404, "not_found", "no site with this key")
    return rt, agent.id, site


async def _target(rt: Runtime, site: sites.Site, body: dict[str, Any]) -> tuple[str, str]:
    """Read what to block: {kind, value}, or {kind: ip|network|contact, contact} for a visitor."""
    kind, value, contact_id = body.get("kind"), body.get("value"), body.get("contact")
    if kind == "token":
        found = rt.signer.visitor(value) if isinstance(value, str) else None
        if found is None or found.site_id != site.id:
            raise ApiError(400, "invalid_message", "'value' is not a visitor token of this site")
        return "contact", found.contact_id
    if isinstance(contact_id, str) and value is None:
        async with rt.store.read() as conn:
            row = (await conn.execute(select(contacts.c.id, contacts.c.last_address).where(
                contacts.c.id == contact_id, contacts.c.site_id == site.id))).first()
        if row is None:
            raise ApiError(404, "not_found", "no such visitor")
        if kind == "contact":
            return "contact", row.id
        if not row.last_address:
            raise ApiError(409, "conflict", "this visitor's address is not known")
        value = row.last_address
    if not isinstance(kind, str) or not isinstance(value, str):
        raise ApiError(400, "invalid_message", "send 'kind' and 'value' (or 'contact')")
    return kind, value


async def add(request: Request) -> Response:
    rt, agent_id, site = await _site(request)
    body = await json_body(request)
    kind, value = await _target(rt, site, body)
    note = body.get("note") if isinstance(body.get("note"), str) else None
    try:
        block, created = await blocks.add(rt.store, site.id, kind, value, note, f"agent:{agent_id}")
    except blocks.BlockError as bad:
        raise ApiError(400, "invalid_message", str(bad)) from None
    await rt.gate.blocks.refresh()  # this process at once; the others within seconds
    return JSONResponse({"block": block.describe()}, status_code=201 if created else 200)


async def listing(request: Request) -> Response:
    rt, _, site = await _site(request)
    return JSONResponse({"blocks": [b.describe() for b in await blocks.listing(rt.store, site.id)]})


async def remove(request: Request) -> Response:
    rt, _, site = await _site(request)
    if not await blocks.remove(rt.store, site.id, request.path_params["id"]):
        raise ApiError(404, "not_found", "no such block")
    await rt.gate.blocks.refresh()
    return Response(status_code=204)


def _when(ms: int | None) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC") if ms else ""


@admins_only
async def blocks_page(request: Request, who: Viewer) -> Response:
    """Every site's blocks with what they refused: the report of blocked traffic."""
    rt = pages.runtime(request)
    shown = []
    for site in await sites.all_sites(rt.store):
        for block in await blocks.listing(rt.store, site.id):
            shown.append({**block.describe(), "site": site.name, "site_key": site.public_key,
                          "created": _when(block.created_at), "last_hit": _when(block.last_hit_at)})
    return pages.render(request, "admin_blocks.html", who, blocks=shown)


@admins_only
async def unblock(request: Request, who: Viewer) -> Response:
    try:
        await pages.form(request, who)
    except FormRefused as refused:
        return pages.refused(request, who, refused)
    rt = pages.runtime(request)
    site = await sites.by_key(rt.store, request.path_params["key"])
    if site is not None:
        await blocks.remove(rt.store, site.id, request.path_params["id"])
        await rt.gate.blocks.refresh()
    return RedirectResponse("/console/admin/blocks", status_code=303)


def routes() -> list[Route]:
    return [
        Route("/api/v1/sites/{key}/blocks", listing, methods=["GET"]),
        Route("/api/v1/sites/{key}/blocks", add, methods=["POST"]),
        Route("/api/v1/sites/{key}/blocks/{id}", remove, methods=["DELETE"]),
        Route("/console/admin/blocks", blocks_page, methods=["GET"]),
        Route("/console/admin/blocks/{key}/{id}/delete", unblock, methods=["POST"]),
    ]
