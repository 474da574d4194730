"""The events a webhook can carry: their names and the plain data each holds. Pure.

The core says what happened as Facts on its Effects (chat/commands.py, chat/queue.py,
tickets/handover.py); the hub hands them to the webhook outbox right after the write
(outbox.record). What a receiver gets is an envelope around the fact's data:

    {"id": "<event id>", "type": "conversation.closed", "created_at": <ms>, "site": "<key>",
     "data": {...}}

docs/webhooks.md shows every event; tests/test_webhooks.py fails when one is missing there.
"""

from __future__ import annotations

import json
from typing import Any

from chatserver import protocol
from chatserver.chat.effects import Fact
from chatserver.chat.model import ChatMessage, Conversation
from chatserver.tickets.rules import Ticket

CONVERSATION_CREATED = "conversation.created"
CONVERSATION_ASSIGNED = "conversation.assigned"
CONVERSATION_CLOSED = "conversation.closed"
MESSAGE_CREATED = "message.created"
TICKET_CREATED = "ticket.created"
TICKET_UPDATED = "ticket.updated"
RATING_GIVEN = "rating.given"
CONTACT_CREATED = "contact.created"
CONTACT_MERGED = "contact.merged"

NAMES = (
    CONVERSATION_CREATED, CONVERSATION_ASSIGNED, CONVERSATION_CLOSED, MESSAGE_CREATED,
    TICKET_CREATED, TICKET_UPDATED, RATING_GIVEN, CONTACT_CREATED, CONTACT_MERGED,
)
# A test delivery an admin sends by hand; never recorded from the core.
PING = "ping"


def _conversation(c: Conversation) -> dict[str, Any]:
    return {
        "id": c.id, "status": c.status.value,
        "agent": {"id": c.agent_id, "name": c.agent_name} if c.agent_id else None,
        "contact": {"id": c.contact_id, "name": c.contact_name},
        "created_at": c.created_at, "resolution": c.resolution, "rating": c.rating,
    }


def conversation(name: str, c: Conversation) -> Fact:
    """A conversation was created, assigned (taken, given or transferred) or closed."""
    return Fact(name, c.site_id, {"conversation": _conversation(c)})


def moved(c: Conversation) -> Fact | None:
    """Return the fact a move to c's status is, if webhooks tell it (queued is not told)."""
    name = {"assigned": CONVERSATION_ASSIGNED, "closed": CONVERSATION_CLOSED}.get(c.status.value)
    return conversation(name, c) if name else None


def message(m: ChatMessage, author_name: str | None, site_id: str | None = None) -> Fact:
    """A chat message was stored (a resend is not a new message)."""
    return Fact(MESSAGE_CREATED, site_id, {"message": {
        "id": m.id, "conversation": m.conversation_id, "seq": m.seq,
        "author": {"kind": m.author_kind, "id": m.author_id,
                   "name": author_name if author_name is not None else m.author_name},
        "text": m.body, "created_at": m.created_at,
    }})


def rating(c: Conversation, comment: str | None) -> Fact:
    """The visitor rated a conversation (again: a second rating replaces the first)."""
    return Fact(RATING_GIVEN, c.site_id, {
        "conversation": _conversation(c), "rating": {"score": c.rating, "comment": comment or None},
    })


def ticket(name: str, t: Ticket) -> Fact:
    """A ticket was opened, or changed (status, assignee, a reply, a note, the customer wrote)."""
    return Fact(name, t.site_id, {"ticket": protocol.describe_ticket(t)})


def contact(name: str, site_id: str, contact_id: str, merged_from: str | None = None) -> Fact:
    """A contact was created, or a visitor was recognised as a known contact (merged_from)."""
    data: dict[str, Any] = {"contact": {"id": contact_id}}
    if merged_from is not None:
        data["merged_from"] = {"id": merged_from}
    return Fact(name, site_id, data)


def envelope(event_id: str, name: str, created_at: int, site_key: str, data: Any) -> str:
    """Render what a receiver gets, once: a retry sends the same bytes."""
    return json.dumps(
        {"id": event_id, "type": name, "created_at": created_at, "site": site_key, "data": data},
        separators=(",", ":"), ensure_ascii=False,
    )
