"""Tickets as plain data: the status machine, when a chat becomes a ticket, the records. Pure."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from chatserver.mail.addresses import header_text

PRIORITIES = ("low", "normal", "high", "urgent")
ENTRY_KINDS = ("customer", "agent", "note")
MAX_TAGS = 20


class Status(enum.StrEnum):
    NEW = "new"  # nobody has answered yet
    OPEN = "open"  # an agent is on it
    PENDING = "pending"  # waiting for the customer
    SOLVED = "solved"  # answered; the customer's next reply reopens it
    CLOSED = "closed"  # final; a reply starts a follow-up ticket


TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.NEW: frozenset({Status.OPEN, Status.PENDING, Status.SOLVED, Status.CLOSED}),
    Status.OPEN: frozenset({Status.PENDING, Status.SOLVED, Status.CLOSED}),
    Status.PENDING: frozenset({Status.OPEN, Status.SOLVED, Status.CLOSED}),
    Status.SOLVED: frozenset({Status.OPEN, Status.CLOSED}),
    Status.CLOSED: frozenset(),
}


class Source(enum.StrEnum):
    OFFLINE_FORM = "offline_form"  # nobody online, or outside business hours
    WAITED = "waited"  # waited in the queue and asked to be answered by email
    AGENT = "agent"  # an agent converted the chat
    LEFT = "left_unanswered"  # went away with a question unanswered and an address known
    EMAIL = "email"  # a mail from a new sender, where the site allows it
    API = "api"  # the site's own systems, through the public API (docs/api.md)
    FORM = "form"  # the web contact form (contact_form.py)


class IllegalTransition(Exception):
    def __init__(self, current: Status, target: Status) -> None:
        super().__init__(f"the ticket is {current.value} and cannot become {target.value}")
        self.current, self.target = current, target


class TicketError(Exception):
    """A request about a ticket that cannot be carried out; code is a protocol error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def sources(target: Status) -> frozenset[Status]:
    """Return the statuses from which a ticket may move to target."""
    return frozenset(s for s, allowed in TRANSITIONS.items() if target in allowed)


def source_for_leave_email(chat_status: str | None, agents_online: bool) -> Source:
    """Tell why a visitor's address became a ticket: offline form, or tired of waiting."""
    if chat_status == "queued" and agents_online:
        return Source.WAITED
    return Source.OFFLINE_FORM


def chat_closes_on_leave_email(chat_status: str) -> bool:
    """Tell whether leaving an address ends the chat: yes unless an agent is in it."""
    return chat_status in ("new", "queued")


def left_unanswered(
    *, now: int, grace_ms: int, chat_status: str, last_author: str | None, last_at: int,
    email: str | None, has_ticket: bool,
) -> bool:
    """Tell whether a chat whose visitor fell silent after a question should become a ticket."""
    return (
        chat_status != "closed" and last_author == "visitor" and bool(email)
        and not has_ticket and now - last_at >= grace_ms
    )


def subject_from(text: str) -> str:
    """Return a subject from the first line of a question: no controls, at most 80 characters."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    subject = header_text(first, 200)
    return subject if len(subject) <= 80 else subject[:77].rstrip() + "..."


def after_customer_reply(status: Status) -> Status | None:
    """Return the status a customer's reply leads to; None for a closed ticket (follow-up)."""
    if status is Status.CLOSED:
        return None
    return Status.NEW if status is Status.NEW else Status.OPEN


def after_agent_reply(status: Status, requested: Status | None) -> Status:
    """Return the status an agent's reply leads to: as asked, else open."""
    target = requested or Status.OPEN
    return status if target == status else target


def check_tags(tags: Any) -> list[str]:
    """Return tags lower-cased and unique; raise ValueError unless each is a short word."""
    if not isinstance(tags, list) or len(tags) > MAX_TAGS:
        raise ValueError(f"'tags' must be a list of at most {MAX_TAGS} tags")
    clean: list[str] = []
    for tag in tags:
        if not isinstance(tag, str) or not 0 < len(tag.strip()) <= 40 or not all(
            c.isalnum() or c in "-_" for c in tag.strip()
        ):
            raise ValueError("each tag is 1-40 letters, digits, - or _")
        clean.append(tag.strip().lower())
    return list(dict.fromkeys(clean))


@dataclass(frozen=True)
class Ticket:
    id: str
    site_id: str
    contact_id: str
    conversation_id: str | None
    subject: str
    status: Status
    priority: str
    assignee_id: str | None
    assignee_name: str | None
    source: str
    channel: str  # where the customer came from: chatserver/channels.py
    follow_up_of: str | None
    thread_id: str
    created_at: int
    updated_at: int
    solved_at: int | None
    contact_name: str | None
    contact_email: str | None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Entry:
    id: str
    ticket_id: str
    kind: str
    author_id: str | None
    author_name: str | None
    body: str
    message_id: str | None
    created_at: int
    attachments: tuple[dict[str, Any], ...] = field(default=())
