"""The agents' ticket API: list and filter, read, reply, note, change; customer history.

Signed-in agents only (the session cookie of /ws/agent), and only for the sites they serve:
a ticket of another site answers 404 exactly like a missing one. Errors use protocol.error's
shape through api.ApiError.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chatserver import agents, auth, customers, protocol, sites
from chatserver.agents import Agent
from chatserver.api import ApiError, json_body
from chatserver.chat import messages
from chatserver.chat.actors import Staff
from chatserver.mail import inbound
from chatserver.protocol import ProtocolError
from chatserver.runtime import Runtime
from chatserver.tickets import commands, records, rules
from chatserver.tickets.rules import Status, Ticket

MAX_LIST = 200
# What an agent may set by hand; new is where a ticket starts, never where it is put back.
SETTABLE = tuple(s.value for s in Status if s is not Status.NEW)


async def _agent(request: Request) -> tuple[Runtime, Agent, list[str]]:
    rt: Runtime = request.app.state.runtime
    if request.method not in ("GET", "HEAD"):
        # The cookie is SameSite=Lax; refusing foreign origins as well keeps forms on other
        # sites from writing with an agent's session.
        origin = request.headers.get("origin")
        if origin and not sites.same_origin(origin, request.headers.get("host", ""), request.url.scheme):
            raise ApiError(403, "forbidden", "requests from other origins are refused")
    found = await agents.signed_in(rt.store, rt.signer, request.cookies.get(auth.SESSION_COOKIE))
    if found is None:
        raise ApiError(401, "unauthorized", "sign in first: no valid session cookie")
    return rt, found[0], await agents.site_ids(rt.store, found[0])


async def _ticket(rt: Runtime, ticket_id: str, site_ids: list[str]) -> Ticket:
    async with rt.store.read() as conn:
        ticket = await records.get(conn, ticket_id)
    if ticket is None or ticket.site_id not in site_ids:
        raise ApiError(404, "not_found", "no such ticket")
    return ticket


def _text(body: dict[str, Any], key: str = "text") -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, "invalid_message", f"'{key}' must be non-empty text")
    if len(value) > protocol.MAX_TEXT_CHARS:
        raise ApiError(413, "too_large", f"'{key}' is longer than {protocol.MAX_TEXT_CHARS} characters")
    return value


def _client_id(body: dict[str, Any]) -> str | None:
    value = body.get("client_id")
    if value is None:
        return None
    try:
        return str(protocol.check_id(value, "client_id"))
    except protocol.ProtocolError as bad:
        raise ApiError(400, "invalid_message", bad.message) from None


def _status(value: Any) -> Status:
    if value not in SETTABLE:
        raise ApiError(400, "invalid_message", f"'status' must be one of {', '.join(SETTABLE)}")
    return Status(value)


async def _run(rt: Runtime, command: Awaitable[commands.Done]) -> commands.Done:
    """Run a ticket command, deliver its effects, and turn a refusal into an HTTP error."""
    try:
        done = await command
    except ProtocolError as refused:
        status = {"not_found": 404, "forbidden": 403, "invalid_message": 400}.get(refused.code, 409)
        raise ApiError(status, refused.code, refused.message) from None
    await rt.hub.deliver(done.effects)
    return done


async def list_tickets(request: Request) -> Response:
    """GET /api/v1/tickets?status=new,open&assignee=me|none|ID&priority=&tag=&contact=&site="""
    rt, agent, site_ids = await _agent(request)
    query = request.query_params
    statuses = [s for s in query.get("status", "").split(",") if s]
    if any(s not in {x.value for x in Status} for s in statuses):
        raise ApiError(400, "invalid_parameter", "'status' takes new, open, pending, solved, closed")
    if query.get("site"):
        site = await sites.by_key(rt.store, query["site"]) or await sites.by_id(rt.store, query["site"])
        site_ids = [site.id] if site and site.id in site_ids else []
    assignee = query.get("assignee")
    try:
        limit = min(int(query.get("limit", "100")), MAX_LIST)
    except ValueError:
        raise ApiError(400, "invalid_parameter", "'limit' must be a number") from None
    found = await records.find(
        rt.store, site_ids, statuses=statuses, assignee=agent.id if assignee == "me" else assignee,
        priority=query.get("priority"), tag=query.get("tag"), contact_id=query.get("contact"),
        limit=max(limit, 1),
    )
    return JSONResponse({"tickets": [protocol.describe_ticket(t) for t in found]})


async def _detail(rt: Runtime, ticket: Ticket, site_ids: list[str]) -> dict[str, Any]:
    chat = (
        await messages.after(rt.store, ticket.conversation_id, 0, 1000)
        if ticket.conversation_id else []
    )
    return {
        "ticket": protocol.describe_ticket(ticket),
        "entries": [
            {"id": e.id, "kind": e.kind, "author": {"id": e.author_id, "name": e.author_name},
             "text": e.body, "message_id": e.message_id, "attachments": list(e.attachments),
             "created_at": e.created_at}
            for e in await records.entries(rt.store, ticket.id)
        ],
        "transcript": [
            {"seq": m.seq, "author": {"kind": m.author_kind, "id": m.author_id, "name": m.author_name},
             "text": m.body, "created_at": m.created_at}
            for m in chat
        ],
        "history": await customers.history(rt.store, ticket.contact_id, site_ids),
    }


async def read_ticket(request: Request) -> Response:
    rt, _, site_ids = await _agent(request)
    ticket = await _ticket(rt, request.path_params["id"], site_ids)
    return JSONResponse(await _detail(rt, ticket, site_ids))


async def change_ticket(request: Request) -> Response:
    """PATCH /api/v1/tickets/{id} with any of status, priority, assignee (id or null), tags."""
    rt, agent, site_ids = await _agent(request)
    staff = Staff(agent, site_ids)
    ticket = await _ticket(rt, request.path_params["id"], site_ids)
    body = await json_body(request)
    status = _status(body["status"]) if "status" in body else None
    priority = body.get("priority")
    if priority is not None and priority not in rules.PRIORITIES:
        raise ApiError(400, "invalid_message", f"'priority' must be one of {', '.join(rules.PRIORITIES)}")
    assignee: tuple[str | None] | None = None
    if "assignee" in body:
        target = await agents.by_id(rt.store, body["assignee"]) if isinstance(body["assignee"], str) else None
        if body["assignee"] is not None and (
            target is None or target.disabled or not await agents.serves(rt.store, target, ticket.site_id)
        ):
            raise ApiError(404, "not_found", "no such agent for this site")
        assignee = (target.id if target else None,)
    try:
        tags = rules.check_tags(body["tags"]) if "tags" in body else None
    except ValueError as bad:
        raise ApiError(400, "invalid_message", str(bad)) from None
    done = await _run(rt, commands.change(rt, staff, ticket.id, status=status, priority=priority,
                                          assignee=assignee, tags=tags))
    return JSONResponse({"ticket": protocol.describe_ticket(done.ticket)})


async def post_reply(request: Request) -> Response:
    """POST /api/v1/tickets/{id}/replies {text, client_id?, status?}: mail the customer."""
    rt, agent, site_ids = await _agent(request)
    staff = Staff(agent, site_ids)
    ticket = await _ticket(rt, request.path_params["id"], site_ids)
    body = await json_body(request)
    text, client_id = _text(body), _client_id(body)
    status = _status(body["status"]) if body.get("status") else None
    done = await _run(rt, commands.reply(rt, staff, ticket.id, text, client_id, status))
    assert done.entry is not None
    return JSONResponse(
        {"ticket": protocol.describe_ticket(done.ticket), "entry": {
            "id": done.entry.id, "kind": "agent", "message_id": done.entry.message_id,
            "created_at": done.entry.created_at}, "duplicate": not done.created},
        status_code=201 if done.created else 200,
    )


async def post_note(request: Request) -> Response:
    """POST /api/v1/tickets/{id}/notes {text, client_id?}: private, never mailed."""
    rt, agent, site_ids = await _agent(request)
    staff = Staff(agent, site_ids)
    ticket = await _ticket(rt, request.path_params["id"], site_ids)
    body = await json_body(request)
    done = await _run(rt, commands.note(rt, staff, ticket.id, _text(body), _client_id(body)))
    assert done.entry is not None
    return JSONResponse(
        {"ticket": protocol.describe_ticket(done.ticket), "entry": {
            "id": done.entry.id, "kind": "note", "created_at": done.entry.created_at},
         "duplicate": not done.created},
        status_code=201 if done.created else 200,
    )


async def download(request: Request) -> Response:
    """GET /api/v1/attachments/{id}: always a download, never rendered in the console's origin."""
    rt, _, site_ids = await _agent(request)
    found = await records.attachment(rt.store, request.path_params["id"])
    if found is None:
        raise ApiError(404, "not_found", "no such attachment")
    await _ticket(rt, found[0], site_ids)
    upload = found[1]
    safe = "".join(c if c.isalnum() or c in "._- " else "_" for c in upload.filename)[:200]
    return Response(upload.data, media_type="application/octet-stream", headers={
        "Content-Disposition": f'attachment; filename="{safe or "attachment"}"',
        "X-Content-Type-Options": "nosniff",
    })


async def contact_history(request: Request) -> Response:
    """GET /api/v1/contacts/{id}/history: chats and tickets of one customer, newest first."""
    rt, _, site_ids = await _agent(request)
    history = await customers.history(rt.store, request.path_params["id"], site_ids)
    return JSONResponse({"history": history})


async def list_quarantine(request: Request) -> Response:
    """GET /api/v1/quarantine: mail that was not appended, for admins."""
    rt, agent, _ = await _agent(request)
    if agent.role != "admin":
        raise ApiError(403, "forbidden", "only admins see quarantined mail")
    return JSONResponse({"quarantine": await inbound.held(rt, MAX_LIST)})


def routes() -> list[Route]:
    return [
        Route("/api/v1/tickets", list_tickets, methods=["GET"]),
        Route("/api/v1/tickets/{id}", read_ticket, methods=["GET"]),
        Route("/api/v1/tickets/{id}", change_ticket, methods=["PATCH"]),
        Route("/api/v1/tickets/{id}/replies", post_reply, methods=["POST"]),
        Route("/api/v1/tickets/{id}/notes", post_note, methods=["POST"]),
        Route("/api/v1/attachments/{id}", download, methods=["GET"]),
        Route("/api/v1/contacts/{id}/history", contact_history, methods=["GET"]),
        Route("/api/v1/quarantine", list_quarantine, methods=["GET"]),
        Route("/api/v1/inbound-mail", inbound.http_endpoint, methods=["POST"]),
    ]
