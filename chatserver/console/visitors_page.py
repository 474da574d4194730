"""Who is on the site now, in the console: the live list, and an invitation to chat.

The page polls its JSON every few seconds rather than hearing each page view on the agent
socket: a shop's page views would otherwise fan out to every agent's socket of the site,
read by nobody but the few on this page. The list comes from the store, so a console on
one process sees visitors whose sockets are on another.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chatserver import agents, live_visitors, sites
from chatserver.api import ApiError, json_body
from chatserver.chat import invitations
from chatserver.chat.actors import Staff
from chatserver.console import pages
from chatserver.protocol import ProtocolError
from chatserver.store import now_ms
from chatserver.ticket_api import _agent

# How often the page asks again; also what "live" means to the agent reading it.
POLL_SECONDS = 3
_STATUS = {"not_found": 404, "conflict": 409, "too_large": 413, "channel_off": 409}


async def visitors_page(request: Request) -> Response:
    """GET /console/visitors: the page; visitors.js reads and invites over the JSON below."""
    who = await pages.viewer(request)
    if who is None:
        return pages.to_signin(request)
    rt = pages.runtime(request)
    serves = await agents.site_ids(rt.store, who.agent)
    mine = [s for s in await sites.all_sites(rt.store) if s.id in serves]
    return pages.render(request, "visitors.html", who, sites=mine, poll_ms=POLL_SECONDS * 1000)


def _site(site_id: object, site_ids: list[str]) -> str:
    if not isinstance(site_id, str) or site_id not in site_ids:
        raise ApiError(404, "not_found", "no site with this id among yours")
    return site_id


async def listing(request: Request) -> Response:
    """GET /console/api/visitors?site=ID: the visitors on the site now."""
    rt, _, site_ids = await _agent(request)
    site_id = _site(request.query_params.get("site"), site_ids)
    now = now_ms()
    found = await live_visitors.on_site(rt.store, site_id)
    return JSONResponse({"visitors": [v.as_json(now) for v in found]}, headers={"Cache-Control": "no-store"})


async def invite(request: Request) -> Response:
    """POST /console/api/visitors/{contact_id}/invite {site, text, client_id}: start a chat."""
    rt, agent, site_ids = await _agent(request)
    body = await json_body(request)
    site_id = _site(body.get("site"), site_ids)
    text, client_id = body.get("text"), body.get("client_id")
    if not isinstance(text, str) or not isinstance(client_id, str) or not 1 <= len(client_id) <= 64:
        raise ApiError(400, "invalid_message", "send 'text' and a 'client_id' of 1-64 characters")
    try:
        conversation, effects = await invitations.invite(
            rt, Staff(agent, site_ids), site_id, request.path_params["contact_id"], client_id, text)
    except ProtocolError as refused:
        raise ApiError(_STATUS.get(refused.code, 400), refused.code, refused.message) from None
    await rt.hub.deliver(effects)
    return JSONResponse({"conversation": {"id": conversation.id}}, status_code=201)


def routes() -> list[Route]:
    return [
        Route("/console/visitors", visitors_page, methods=["GET"]),
        Route("/console/api/visitors", listing, methods=["GET"]),
        Route("/console/api/visitors/{contact_id}/invite", invite, methods=["POST"]),
    ]
