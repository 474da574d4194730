"""Tickets: list, read, create for a contact, reply as an agent, change status, priority or tags.

Writes are ticket commands (tickets/commands.py): the customer's mails go through the outbox
and the site's agents see the change live.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from chatserver import agents, channels, customers, protocol
from chatserver.api import ApiError
from chatserver.chat.actors import Integration
from chatserver.public_api import idempotency, pagination
from chatserver.public_api.conversations import acting_agent
from chatserver.public_api.operations import Call, Operation, Param, check_id, ident
from chatserver.public_api.shapes import nullable, obj, page, string
from chatserver.store.schema import tickets as table
from chatserver.tickets import commands, records, rules
from chatserver.tickets.records import contact_by_email
from chatserver.tickets.rules import Status, Ticket

TAG = "tickets"
SETTABLE = [s.value for s in Status if s is not Status.NEW]
_PERSON = nullable(obj({"id": string(64), "name": nullable(string(200))}, closed=False))
TICKET = obj({
    "id": string(64), "site": string(64), "subject": string(200),
    "status": {"type": "string", "enum": [s.value for s in Status]},
    "priority": {"type": "string", "enum": list(rules.PRIORITIES)}, "source": string(32),
    "assignee": _PERSON, "contact": obj({"id": string(64), "name": nullable(string(200)),
                                         "email": nullable(string(320))}, closed=False),
    "conversation": nullable(string(64)), "follow_up_of": nullable(string(64)),
    "tags": {"type": "array", "items": string(40)}, "created_at": {"type": "integer"},
    "updated_at": {"type": "integer"},
}, ("id", "subject", "status", "priority", "contact", "created_at"), closed=False)
ENTRY = obj({"id": string(64), "kind": {"type": "string", "enum": list(rules.ENTRY_KINDS)},
             "author": nullable(string(64)), "text": string(100_000), "created_at": {"type": "integer"}},
            closed=False)
DETAIL = obj({"ticket": TICKET, "entries": {"type": "array", "items": ENTRY}}, ("ticket", "entries"))


async def _ticket(call: Call) -> Ticket:
    async with call.rt.store.read() as conn:
        found = await records.get(conn, ident(call, "id"))
    if found is None or found.site_id != call.site.id:
        raise ApiError(404, "not_found", "no such ticket")
    return found


async def _detail(call: Call, ticket: Ticket) -> dict[str, Any]:
    return {"ticket": protocol.describe_ticket(ticket), "entries": [
        {"id": e.id, "kind": e.kind, "author": e.author_id, "text": e.body, "created_at": e.created_at}
        for e in await records.entries(call.rt.store, ticket.id)
    ]}


async def list_tickets(call: Call) -> dict[str, Any]:
    query = select(table.c.id, table.c.created_at).where(table.c.site_id == call.site.id)
    if call.query.get("status"):
        query = query.where(table.c.status == call.query["status"])
    if call.query.get("contact"):
        query = query.where(table.c.contact_id == call.query["contact"])
    limit = call.query["limit"]
    query = pagination.keyset(query, (table.c.created_at, table.c.id), call.query.get("cursor"), limit)
    async with call.rt.store.read() as conn:
        found = [await records.get(conn, row.id) for row in list(await conn.execute(query))]
    return pagination.page([t for t in found if t], limit, lambda t: (t.created_at, t.id),
                           protocol.describe_ticket)


async def read_ticket(call: Call) -> dict[str, Any]:
    return await _detail(call, await _ticket(call))


async def create_ticket(call: Call) -> dict[str, Any]:
    body = call.body
    if ("contact_id" in body) == ("email" in body):
        raise ApiError(400, "invalid_message", "give either body.contact_id or body.email")
    if "contact_id" in body:
        contact_id = check_id(body["contact_id"], "contact_id")
        if not await customers.belongs(call.rt.store, contact_id, call.site.id):
            raise ApiError(404, "not_found", "no such contact")
    else:
        try:
            email = agents.check_email(body["email"])
        except ValueError as bad:
            raise ApiError(400, "invalid_message", str(bad)) from None
        contact_id = await contact_by_email(call.rt.store, call.site.id, email)
    if not body["text"].strip():
        raise ApiError(400, "invalid_message", "body.text must not be blank")
    key = call.idempotency_key
    done = await commands.open_from_api(
        call.rt, call.site, contact_id=contact_id, subject=body.get("subject"), text=body["text"],
        client_id=idempotency.client_id(key) if key else None,
        channel=channels.of_integration(call.token.name),
    )
    await call.rt.hub.deliver(done.effects)
    return await _detail(call, done.ticket)


async def reply(call: Call) -> dict[str, Any]:
    ticket = await _ticket(call)
    staff = await acting_agent(call, call.body["agent_id"])
    if not call.body["text"].strip():
        raise ApiError(400, "invalid_message", "body.text must not be blank")
    status = Status(call.body["status"]) if "status" in call.body else None
    key = call.idempotency_key
    done = await commands.reply(call.rt, staff, ticket.id, call.body["text"],
                                idempotency.client_id(key) if key else None,
                                status)
    await call.rt.hub.deliver(done.effects)
    return await _detail(call, done.ticket)


async def change(call: Call) -> dict[str, Any]:
    ticket = await _ticket(call)
    body = call.body
    try:
        tags = rules.check_tags(body["tags"]) if "tags" in body else None
    except ValueError as bad:
        raise ApiError(400, "invalid_message", str(bad)) from None
    done = await commands.change(
        call.rt, Integration(call.token.id, call.token.name, call.site.id), ticket.id,
        status=Status(body["status"]) if "status" in body else None, priority=body.get("priority"),
        tags=tags,
    )
    await call.rt.hub.deliver(done.effects)
    return await _detail(call, done.ticket)


OPERATIONS = [
    Operation("GET", "/tickets", "List the site's tickets, oldest first", TAG, "read", list_tickets,
              page(TICKET), query=(
                  Param("status", {"type": "string", "enum": [s.value for s in Status]}, "only this status"),
                  Param("contact", string(64), "only this contact's"),
                  Param("cursor", pagination.CURSOR, "the next page"),
                  Param("limit", pagination.LIMIT, "items per page"))),
    Operation("GET", "/tickets/{id}", "Read a ticket and what was said on it", TAG, "read", read_ticket,
              DETAIL),
    Operation(
        "POST", "/tickets", "Open a ticket for a contact (by id) or an email address", TAG, "write",
        create_ticket, DETAIL, create=True,
        body=obj({"contact_id": string(64), "email": string(320), "subject": string(200),
                  "text": string(protocol.MAX_TEXT_CHARS)}, ("text",)),
        description="The customer gets the confirmation mail when their address is known.",
        errors=(400, 404, 409, 422)),
    Operation(
        "POST", "/tickets/{id}/replies", "Answer the customer by mail, as an agent", TAG, "write", reply,
        DETAIL, create=True,
        body=obj({"text": string(protocol.MAX_TEXT_CHARS), "agent_id": string(64),
                  "status": {"type": "string", "enum": SETTABLE}}, ("text", "agent_id")),
        errors=(400, 404, 409, 422)),
    Operation(
        "PATCH", "/tickets/{id}", "Change a ticket's status, priority or tags", TAG, "write", change,
        DETAIL, body=obj({"status": {"type": "string", "enum": SETTABLE},
                          "priority": {"type": "string", "enum": list(rules.PRIORITIES)},
                          "tags": {"type": "array", "items": string(40), "maxItems": rules.MAX_TAGS}}),
        errors=(400, 404, 409)),
]
