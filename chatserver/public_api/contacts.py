"""Contacts: find by email or external id, read with their history, create, merge two into one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from chatserver import agents, customers
from chatserver.api import ApiError
from chatserver.chat.effects import Effects
from chatserver.public_api import pagination
from chatserver.public_api.operations import Call, Operation, Param, check_id, ident
from chatserver.public_api.shapes import nullable, obj, page, string
from chatserver.store.schema import contacts
from chatserver.webhooks import events

TAG = "contacts"
_COLUMNS = (contacts.c.id, contacts.c.name, contacts.c.email, contacts.c.external_id,
            contacts.c.created_at, contacts.c.last_seen_at)

CONTACT = obj({
    "id": string(64), "name": nullable(string(200)), "email": nullable(string(320)),
    "external_id": nullable(string(200, description="the site's own user id")),
    "created_at": {"type": "integer", "description": "milliseconds since the epoch"},
    "last_seen_at": nullable({"type": "integer"}),
}, ("id", "name", "email", "external_id", "created_at"), closed=False)
HISTORY_ENTRY = obj({
    "channel": string(64, description="chat, email, form or api:<integration>"), "id": string(64),
    "status": string(16), "created_at": {"type": "integer"}, "summary": nullable(string(10_000)),
    "rating": nullable(string(8)), "conversation": nullable(string(64)),
}, closed=False)


def describe(row: Any) -> dict[str, Any]:
    return {key: getattr(row, key) for key in ("id", "name", "email", "external_id", "created_at",
                                                "last_seen_at")}


async def _one(call: Call, contact_id: str) -> Any:
    async with call.rt.store.read() as conn:
        row = (await conn.execute(select(*_COLUMNS).where(
            contacts.c.id == contact_id, contacts.c.site_id == call.site.id
        ))).first()
    if row is None:
        raise ApiError(404, "not_found", "no such contact")
    return row


async def list_contacts(call: Call) -> dict[str, Any]:
    query = select(*_COLUMNS).where(contacts.c.site_id == call.site.id)
    if call.query.get("email"):
        query = query.where(func.lower(contacts.c.email) == call.query["email"].lower())
    if call.query.get("external_id"):
        query = query.where(contacts.c.external_id == call.query["external_id"])
    limit = call.query["limit"]
    query = pagination.keyset(query, (contacts.c.created_at, contacts.c.id), call.query.get("cursor"), limit)
    async with call.rt.store.read() as conn:
        rows = list(await conn.execute(query))
    return pagination.page(rows, limit, lambda r: (r.created_at, r.id), describe)


async def read_contact(call: Call) -> dict[str, Any]:
    row = await _one(call, ident(call, "id"))
    history = await customers.history(call.rt.store, row.id, [call.site.id])
    return {**describe(row), "history": history}


async def create_contact(call: Call) -> dict[str, Any]:
    body = call.body
    email = body.get("email")
    if email is not None:
        try:
            email = agents.check_email(email)
        except ValueError as bad:
            raise ApiError(400, "invalid_message", str(bad)) from None
    try:
        contact_id = await customers.add(call.rt.store, call.site.id, name=body.get("name"), email=email,
                                         external_id=body.get("external_id"))
    except customers.ContactError as taken:
        raise ApiError(409, "conflict", str(taken)) from None
    await call.rt.hub.deliver(Effects().happened(
        events.contact(events.CONTACT_CREATED, call.site.id, contact_id)))
    return describe(await _one(call, contact_id))


async def merge_contacts(call: Call) -> dict[str, Any]:
    keep = ident(call, "id")
    gone = check_id(call.body["from"], "from")
    try:
        await customers.merge(call.rt.store, call.site.id, keep, gone)
    except LookupError:
        raise ApiError(404, "not_found", "no such contact") from None
    except customers.ContactError as refused:
        raise ApiError(409, "conflict", str(refused)) from None
    await call.rt.hub.deliver(Effects().happened(
        events.contact(events.CONTACT_MERGED, call.site.id, keep, merged_from=gone)))
    return await read_contact(call)


_NEW = obj({"name": string(200), "email": string(320),
            "external_id": string(200, description="the site's own user id; unique per site")})
OPERATIONS = [
    Operation("GET", "/contacts", "List contacts, or find them by email or external id", TAG, "read",
              list_contacts, page(CONTACT), query=(
                  Param("email", string(320), "only contacts with this address (any case)"),
                  Param("external_id", string(200), "only the contact with the site's own user id"),
                  Param("cursor", pagination.CURSOR, "the next page"),
                  Param("limit", pagination.LIMIT, "items per page"))),
    Operation("POST", "/contacts", "Create a contact", TAG, "write", create_contact, CONTACT,
              body=_NEW, create=True, errors=(400, 409, 422)),
    Operation("GET", "/contacts/{id}", "Read a contact with their history of chats and tickets", TAG,
              "read", read_contact, obj({**CONTACT["properties"], "history": {
                  "type": "array", "items": HISTORY_ENTRY}}, closed=False)),
    Operation("POST", "/contacts/{id}/merge", "Merge another contact into this one", TAG, "admin",
              merge_contacts, obj({**CONTACT["properties"], "history": {
                  "type": "array", "items": HISTORY_ENTRY}}, closed=False),
              body=obj({"from": string(64, description="the contact that is folded in and deleted")},
                       ("from",)),
              description="Chats, tickets, articles read and searches of `from` become this "
              "contact's; what this one does not know (an email, an external id) is taken over; "
              "`from` is deleted. Two contacts with different external ids are refused (409).",
              errors=(400, 404, 409)),
]
