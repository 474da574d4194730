"""Every WebSocket message of protocol v1, both ways: types, parsing, validation, the
server's events as typed builders, errors. No I/O.

docs/protocol.md is the contract; tests/test_protocol.py fails when a type here (either
way) is missing there.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal, NotRequired, TypedDict, get_args, get_type_hints

from chatserver import channels, json_input
from chatserver.chat.model import ChatMessage, ChatNote, Conversation, LastLine
from chatserver.mail.addresses import AddressError, check_address, check_line, check_name
from chatserver.tickets.rules import Ticket

VERSION = 1
# A person types a few hundred characters at most; 5,000 leaves room for a pasted log
# while keeping every transcript page and email readable.
MAX_TEXT_CHARS = 5000

Role = Literal["visitor", "agent"]
Availability = Literal["online", "away", "offline"]
AVAILABILITIES: tuple[Availability, ...] = ("online", "away", "offline")

# Close codes in the private range (4000-4999); clients reconnect after all but 4401/4403.
CLOSE_UNAUTHORIZED = 4401  # no valid hello in time, or a wrong or expired token
CLOSE_REVOKED = 4403  # the agent was disabled or signed out everywhere
CLOSE_HELLO_TIMEOUT = 4408  # no hello within HELLO_TIMEOUT_SECONDS
CLOSE_TOO_SLOW = 4429  # the send queue overflowed; reconnect and resume with sync


# Client -> server ------------------------------------------------------------------------


class Hello(TypedDict):
    type: Literal["hello"]
    token: NotRequired[str]


class Start(TypedDict):
    type: Literal["start"]
    client_id: str
    text: str
    locale: NotRequired[str]


class Message(TypedDict):
    type: Literal["message"]
    conversation: str
    client_id: str
    text: str


class Typing(TypedDict):
    type: Literal["typing"]
    conversation: str
    active: bool


class Receipt(TypedDict):
    type: Literal["receipt"]
    conversation: str
    seq: int
    status: Literal["delivered", "read"]


class Sync(TypedDict):
    type: Literal["sync"]
    conversation: str
    after: int


class Escalate(TypedDict):
    type: Literal["escalate"]
    conversation: str


class Accept(TypedDict):
    type: Literal["accept"]
    conversation: str


class Transfer(TypedDict):
    type: Literal["transfer"]
    conversation: str
    agent: str


class Close(TypedDict):
    type: Literal["close"]
    conversation: str


class Presence(TypedDict):
    type: Literal["presence"]
    status: Availability


class Ping(TypedDict):
    type: Literal["ping"]


class Search(TypedDict):
    type: Literal["search"]
    text: str
    locale: NotRequired[str]


class Resolve(TypedDict):
    type: Literal["resolve"]
    conversation: str


class Article(TypedDict):
    type: Literal["article"]
    slug: str
    locale: str
    conversation: NotRequired[str]


class Rate(TypedDict):
    type: Literal["rate"]
    conversation: str
    score: Literal["good", "bad"]
    comment: NotRequired[str]


class Convert(TypedDict):
    type: Literal["convert"]
    conversation: str
    subject: NotRequired[str]


class Note(TypedDict):
    type: Literal["note"]
    conversation: str
    client_id: str
    text: str


class LeaveEmail(TypedDict):
    type: Literal["leave_email"]
    email: str
    conversation: NotRequired[str]
    name: NotRequired[str]
    text: NotRequired[str]
    client_id: NotRequired[str]


class Transcript(TypedDict):
    type: Literal["transcript"]
    conversation: str
    email: str
    locale: NotRequired[str]
    client_id: NotRequired[str]


class VerifyEmail(TypedDict):
    type: Literal["verify_email"]
    email: str
    locale: NotRequired[str]
    client_id: NotRequired[str]


class ConfirmEmail(TypedDict):
    type: Literal["confirm_email"]
    email: str
    code: str
    client_id: NotRequired[str]


class Conversations(TypedDict):
    type: Literal["conversations"]


ClientMessage = (
    Hello | Start | Message | Typing | Receipt | Sync | Escalate | Accept | Transfer | Close
    | Presence | Ping | Search | Resolve | Article | Rate | Convert | LeaveEmail | Note
    | Transcript | VerifyEmail | ConfirmEmail | Conversations
)

# Which client messages each side may send.
VISITOR_TYPES = frozenset({"hello", "start", "message", "typing", "receipt", "sync", "escalate",
                           "close", "ping", "search", "resolve", "article", "rate",
                           "leave_email", "transcript", "verify_email", "confirm_email",
                           "conversations"})
# What this server's visitors can do beyond protocol v1's core; the widget shows only these.
FEATURES = ("suggestions", "articles", "rating", "transcript")
# Questions longer than this are cut before they are searched; no question needs more.
MAX_QUERY_CHARS = 500
MAX_COMMENT_CHARS = 2000
AGENT_TYPES = frozenset({"hello", "message", "typing", "receipt", "sync", "accept", "transfer",
                         "close", "presence", "ping", "convert", "note"})


class ProtocolError(Exception):
    """A frame the server refuses; becomes one error frame and changes nothing stored."""

    def __init__(self, code: str, message: str, ref: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref


_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def check_id(value: Any, key: str) -> str:
    """Return value if it is an id clients may send; raise ProtocolError naming key if not."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise ProtocolError("invalid_message", f"'{key}' must be an id of 1-64 letters, digits, - or _")
    return value


# Embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) reorder what an agent
# reads ("gnp.exe" shown as "exe.png"); a chat never needs them, so they are dropped.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def plain(value: str) -> str:
    """Return text without bidi control characters."""
    return _BIDI_CONTROLS.sub("", value)


def _text(value: Any, key: str) -> str:
    if not isinstance(value, str) or not plain(value).strip():
        raise ProtocolError("invalid_message", f"'{key}' must be non-empty text")
    if len(value) > MAX_TEXT_CHARS:
        raise ProtocolError("too_large", f"'{key}' is longer than {MAX_TEXT_CHARS} characters")
    return plain(value)


def _query(value: Any, key: str) -> str:
    if not isinstance(value, str) or not plain(value).strip():
        raise ProtocolError("invalid_message", f"'{key}' must be non-empty text")
    return plain(value)[:MAX_QUERY_CHARS]


def _comment(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise ProtocolError("invalid_message", f"'{key}' must be text")
    if len(value) > MAX_COMMENT_CHARS:
        raise ProtocolError("too_large", f"'{key}' is longer than {MAX_COMMENT_CHARS} characters")
    return plain(value)


_LOCALE = re.compile(r"[a-z]{2}")


def _locale(value: Any, key: str) -> str:
    if not isinstance(value, str) or not _LOCALE.fullmatch(value):
        raise ProtocolError("invalid_message", f"'{key}' must be a two-letter language code")
    return value


def _seq(value: Any, key: str) -> int:
    if type(value) is not int or value < 0:
        raise ProtocolError("invalid_message", f"'{key}' must be a whole number >= 0")
    return value


def _bool(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise ProtocolError("invalid_message", f"'{key}' must be true or false")
    return value


def _token(value: Any, key: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 1024:
        raise ProtocolError("invalid_message", f"'{key}' must be a token string")
    return value


def _choice(*allowed: str) -> Any:
    def check(value: Any, key: str) -> str:
        if value not in allowed:
            raise ProtocolError("invalid_message", f"'{key}' must be one of {', '.join(allowed)}")
        return str(value)

    return check


# Names and addresses end up in mail headers: CR/LF and other header tricks are refused here,
# with the reason, and encoded again when the header is written (mail/compose.py).
def _email(value: Any, key: str) -> str:
    try:
        return check_address(value).lower()
    except AddressError as bad:
        raise ProtocolError("invalid_message", f"'{key}': {bad}") from None


_CODE = re.compile(r"[0-9]{6}")


def _code(value: Any, key: str) -> str:
    if not isinstance(value, str) or not _CODE.fullmatch(value):
        raise ProtocolError("invalid_message", f"'{key}' must be the six digits of the mailed code")
    return value


def _name(value: Any, key: str) -> str:
    try:
        return plain(check_name(value))
    except AddressError as bad:
        raise ProtocolError("invalid_message", f"'{key}': {bad}") from None


def _subject(value: Any, key: str) -> str:
    try:
        return check_line(value)
    except AddressError as bad:
        raise ProtocolError("invalid_message", f"'{key}': {bad}") from None


_FIELDS: dict[str, dict[str, Any]] = {
    "hello": {},
    "start": {"client_id": check_id, "text": _text},
    "message": {"conversation": check_id, "client_id": check_id, "text": _text},
    "typing": {"conversation": check_id, "active": _bool},
    "receipt": {"conversation": check_id, "seq": _seq, "status": _choice("delivered", "read")},
    "sync": {"conversation": check_id, "after": _seq},
    "escalate": {"conversation": check_id},
    "accept": {"conversation": check_id},
    "transfer": {"conversation": check_id, "agent": check_id},
    "close": {"conversation": check_id},
    "presence": {"status": _choice(*AVAILABILITIES)},
    "ping": {},
    "search": {"text": _query},
    "resolve": {"conversation": check_id},
    "article": {"slug": check_id, "locale": _locale},
    "rate": {"conversation": check_id, "score": _choice("good", "bad")},
    "convert": {"conversation": check_id},
    "leave_email": {"email": _email},
    "note": {"conversation": check_id, "client_id": check_id, "text": _text},
    "transcript": {"conversation": check_id, "email": _email},
    "verify_email": {"email": _email},
    "confirm_email": {"email": _email, "code": _code},
    "conversations": {},
}
_OPTIONAL: dict[str, dict[str, Any]] = {
    "hello": {"token": _token},
    "start": {"locale": _locale},
    "search": {"locale": _locale},
    "article": {"conversation": check_id},
    "rate": {"comment": _comment},
    "convert": {"subject": _subject},
    "leave_email": {"conversation": check_id, "name": _name, "text": _text, "client_id": check_id},
    "transcript": {"locale": _locale, "client_id": check_id},
    "verify_email": {"locale": _locale, "client_id": check_id},
    "confirm_email": {"client_id": check_id},
}

CLIENT_TYPES = frozenset(_FIELDS)


def parse(frame: str | bytes | None, max_bytes: int) -> ClientMessage:
    """Parse and validate one client frame; raise ProtocolError naming what is wrong."""
    if not isinstance(frame, str):
        raise ProtocolError("invalid_json", "frames must be JSON text, not binary")
    if len(frame) > max_bytes or len(frame.encode()) > max_bytes:
        raise ProtocolError("too_large", f"frame is larger than {max_bytes} bytes")
    try:
        # Depth, 64-bit integers, lone surrogates: the same checks as every HTTP body.
        data = json_input.loads(frame) if frame.strip() else None
    except json_input.BadJson as bad:
        raise ProtocolError("invalid_json", str(bad).replace("request body", "frame")) from None
    if not isinstance(data, dict):
        raise ProtocolError("invalid_json", "frame must be a JSON object")
    kind = data.get("type")
    ref = data.get("client_id") if isinstance(data.get("client_id"), str) else None
    if not isinstance(kind, str) or kind not in _FIELDS:
        raise ProtocolError("unknown_type", f"unknown message type {str(kind)[:40]!r}", ref)
    message: dict[str, Any] = {"type": kind}
    try:
        for key, check in _FIELDS[kind].items():
            if key not in data:
                raise ProtocolError("invalid_message", f"'{kind}' needs '{key}'")
            message[key] = check(data[key], key)
        for key, check in _OPTIONAL.get(kind, {}).items():
            if key in data:
                message[key] = check(data[key], key)
    except ProtocolError as error:
        error.ref = ref
        raise
    return message  # type: ignore[return-value]


def dump(event: Any) -> str:
    """Serialise one server event as compact JSON text."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


# Server -> client ------------------------------------------------------------------------
# One TypedDict per event, built only by the function under it; SERVER_TYPES is read off
# the TypedDicts, so an event cannot be sent without being listed (and documented).


class Limits(TypedDict):
    max_frame_bytes: int
    max_text_chars: int


class VisitorWelcome(TypedDict):
    type: Literal["welcome"]
    protocol: int
    role: Literal["visitor"]
    you: dict[str, Any]
    conversations: list[dict[str, Any]]
    agents_online: bool
    open_now: bool
    next_change_in: int | None
    features: list[str]
    heartbeat: float
    limits: Limits


class AgentWelcome(TypedDict):
    type: Literal["welcome"]
    protocol: int
    role: Literal["agent"]
    you: dict[str, Any]
    sites: list[str]
    conversations: list[dict[str, Any]]
    heartbeat: float
    limits: Limits


def visitor_welcome(
    contact_id: str, mine: list[Conversation], availability: dict[str, Any], heartbeat: float,
    limits: Limits,
) -> VisitorWelcome:
    return {
        "type": "welcome", "protocol": VERSION, "role": "visitor", "you": {"id": contact_id},
        "conversations": [conversation_for_visitor(c)["conversation"] for c in mine],
        "agents_online": availability["agents_online"], "open_now": availability["open_now"],
        "next_change_in": availability["next_change_in"], "features": list(FEATURES),
        "heartbeat": heartbeat, "limits": limits,
    }


def agent_welcome(
    you: dict[str, Any], site_ids: list[str], open_ones: list[Conversation], heartbeat: float,
    limits: Limits,
) -> AgentWelcome:
    return {
        "type": "welcome", "protocol": VERSION, "role": "agent", "you": you, "sites": site_ids,
        "conversations": [conversation_for_agents(c)["conversation"] for c in open_ones],
        "heartbeat": heartbeat, "limits": limits,
    }


class Ack(TypedDict):
    type: Literal["ack"]
    ref: str
    conversation: str
    seq: int
    id: str
    created_at: int
    duplicate: bool


def ack(m: ChatMessage, duplicate: bool) -> Ack:
    return {"type": "ack", "ref": m.client_id, "conversation": m.conversation_id, "seq": m.seq,
            "id": m.id, "created_at": m.created_at, "duplicate": duplicate}


class Author(TypedDict):
    kind: Literal["visitor", "agent", "system", "integration"]
    id: str
    name: str | None


class MessageEvent(TypedDict):
    type: Literal["message"]
    conversation: str
    seq: int
    id: str
    author: Author
    client_id: str
    text: str
    created_at: int
    files: NotRequired[list[dict[str, Any]]]  # only when the message carries files


def message(m: ChatMessage, author_name: str | None = None) -> MessageEvent:
    """Describe a stored message; author_name, when given, is the name its sender goes by now."""
    event: MessageEvent = {
        "type": "message", "conversation": m.conversation_id, "seq": m.seq, "id": m.id,
        "author": {"kind": m.author_kind, "id": m.author_id,
                   "name": author_name if author_name is not None else m.author_name},
        "client_id": m.client_id, "text": m.body, "created_at": m.created_at,
    }
    if m.files:
        event["files"] = [dict(f) for f in m.files]
    return event


class ConversationEvent(TypedDict):
    type: Literal["conversation"]
    conversation: dict[str, Any]


def conversation_for_agents(c: Conversation) -> ConversationEvent:
    """Describe a conversation to the agents of its site."""
    return {
        "type": "conversation",
        "conversation": {
            "id": c.id, "site": c.site_id, "status": c.status.value,
            "agent": {"id": c.agent_id, "name": c.agent_name} if c.agent_id else None,
            "contact": {"id": c.contact_id, "name": c.contact_name},
            "last_seq": c.last_seq, "visitor_read_seq": c.visitor_read_seq,
            "created_at": c.created_at, "queued_at": c.queued_at, "resolution": c.resolution,
            "rating": c.rating, "channel": c.channel,
            "channel_name": channels.display_name(c.channel),
        },
    }


def conversation_for_visitor(
    c: Conversation, queue: dict[str, int | None] | None = None
) -> ConversationEvent:
    """Describe a conversation to its visitor: nothing about other people but the agent's name.

    queue, for a queued conversation, is its place in line and the expected wait.
    """
    body: dict[str, Any] = {
        "id": c.id, "status": c.status.value,
        "agent": {"name": c.agent_name} if c.agent_id else None,
        "last_seq": c.last_seq, "agent_read_seq": c.agent_read_seq, "created_at": c.created_at,
        "resolution": c.resolution, "rating": c.rating,
    }
    if queue is not None:
        body["queue"] = queue
    return {"type": "conversation", "conversation": body}


class ConversationList(TypedDict):
    type: Literal["conversations"]
    conversations: list[dict[str, Any]]


# A list shows one line of each conversation; the whole message is a sync away.
PREVIEW_CHARS = 120


def conversation_list(found: list[tuple[Conversation, LastLine | None]]) -> ConversationList:
    """Describe a visitor's own conversations to them, each with its last line and when."""
    listed = []
    for c, last in found:
        body = conversation_for_visitor(c)["conversation"]
        body["updated_at"] = last.at if last else c.created_at
        body["last"] = None if last is None else {
            "text": " ".join(last.text.split())[:PREVIEW_CHARS], "author": last.author_kind,
        }
        listed.append(body)
    return {"type": "conversations", "conversations": listed}


class TypingEvent(TypedDict):
    type: Literal["typing"]
    conversation: str
    author: Author
    active: bool


def typing(conversation_id: str, author: Author, active: bool) -> TypingEvent:
    return {"type": "typing", "conversation": conversation_id, "author": author, "active": active}


class ReceiptEvent(TypedDict):
    type: Literal["receipt"]
    conversation: str
    side: Role
    status: Literal["delivered", "read"]
    seq: int


def receipt(conversation_id: str, side: Role, status: Literal["delivered", "read"],
            seq: int) -> ReceiptEvent:
    return {"type": "receipt", "conversation": conversation_id, "side": side, "status": status,
            "seq": seq}


class Synced(TypedDict):
    type: Literal["synced"]
    conversation: str
    last_seq: int
    more: bool


def synced(conversation_id: str, last_seq: int, more: bool) -> Synced:
    return {"type": "synced", "conversation": conversation_id, "last_seq": last_seq, "more": more}


class PresenceEvent(TypedDict):
    type: Literal["presence"]
    agent: dict[str, str]


def presence(agent_id: str, name: str, status: str) -> PresenceEvent:
    return {"type": "presence", "agent": {"id": agent_id, "name": name, "status": status}}


class Error(TypedDict):
    type: Literal["error"]
    code: str
    message: str
    ref: NotRequired[str]
    retry_after: NotRequired[float]


def error(code: str, message: str, ref: str | None = None, retry_after: float | None = None) -> Error:
    """Build the one error shape, shared by WebSocket frames and HTTP bodies."""
    event: Error = {"type": "error", "code": code, "message": message}
    if ref is not None:
        event["ref"] = ref
    if retry_after is not None:
        event["retry_after"] = retry_after
    return event


class Pong(TypedDict):
    type: Literal["pong"]


def pong() -> Pong:
    return {"type": "pong"}


class Suggestions(TypedDict):
    type: Literal["suggestions"]
    conversation: str | None
    query: str
    articles: list[dict[str, Any]]
    seq: NotRequired[int]


def suggestions(conversation_id: str | None, query: str, articles: list[dict[str, Any]],
                seq: int | None = None) -> Suggestions:
    """Suggest articles; seq is the message they answer, where a client shows them."""
    event: Suggestions = {"type": "suggestions", "conversation": conversation_id, "query": query,
                          "articles": articles}
    if seq is not None:
        event["seq"] = seq
    return event


class AvailabilityEvent(TypedDict):
    type: Literal["availability"]
    agents_online: bool
    open_now: bool
    next_change_in: int | None


def availability(status: dict[str, Any]) -> AvailabilityEvent:
    return {"type": "availability", "agents_online": status["agents_online"],
            "open_now": status["open_now"], "next_change_in": status["next_change_in"]}


class Resync(TypedDict):
    type: Literal["resync"]
    conversations: list[str]


def resync(conversation_ids: list[str]) -> Resync:
    return {"type": "resync", "conversations": conversation_ids}


class TicketEvent(TypedDict):
    type: Literal["ticket"]
    ticket: dict[str, Any]


def describe_ticket(ticket: Ticket) -> dict[str, Any]:
    """Describe a ticket to agents (the `ticket` event's body, and the ticket API's)."""
    return {
        "id": ticket.id, "site": ticket.site_id, "subject": ticket.subject,
        "status": ticket.status.value, "priority": ticket.priority, "source": ticket.source,
        "channel": ticket.channel,
        "assignee": {"id": ticket.assignee_id, "name": ticket.assignee_name}
        if ticket.assignee_id else None,
        "contact": {"id": ticket.contact_id, "name": ticket.contact_name,
                    "email": ticket.contact_email},
        "conversation": ticket.conversation_id, "follow_up_of": ticket.follow_up_of,
        "tags": list(ticket.tags), "created_at": ticket.created_at,
        "updated_at": ticket.updated_at,
    }


def ticket_for_agents(ticket: Ticket) -> TicketEvent:
    return {"type": "ticket", "ticket": describe_ticket(ticket)}


def ticket_for_visitor(ticket: Ticket) -> TicketEvent:
    """Describe a ticket to its visitor: enough to say "we will answer by email"."""
    return {
        "type": "ticket",
        "ticket": {
            "id": ticket.id, "subject": ticket.subject, "status": ticket.status.value,
            "conversation": ticket.conversation_id, "email": ticket.contact_email,
            "created_at": ticket.created_at,
        },
    }


class TranscriptEvent(TypedDict):
    type: Literal["transcript"]
    conversation: str
    email: str
    duplicate: bool


def transcript(conversation_id: str, email: str, duplicate: bool) -> TranscriptEvent:
    return {"type": "transcript", "conversation": conversation_id, "email": email,
            "duplicate": duplicate}


class EmailProof(TypedDict):
    type: Literal["email_proof"]
    email: str
    proven: bool
    token: NotRequired[str]


def email_proof(email: str, proven: bool, token: str | None = None) -> EmailProof:
    """Answer verify_email (a code is on its way: proven false) and confirm_email (true);
    token: the visitor joined the address's owner and reconnects as them."""
    proof: EmailProof = {"type": "email_proof", "email": email, "proven": proven}
    if token is not None:
        proof["token"] = token
    return proof


class NoteEvent(TypedDict):
    type: Literal["note"]
    conversation: str
    id: str
    author: Author
    client_id: str
    text: str
    created_at: int


def note(n: ChatNote) -> NoteEvent:
    return {
        "type": "note", "conversation": n.conversation_id, "id": n.id,
        "author": {"kind": "agent", "id": n.agent_id, "name": n.agent_name},
        "client_id": n.client_id, "text": n.body, "created_at": n.created_at,
    }


class Sla(TypedDict):
    type: Literal["sla"]
    site: str
    now: int
    items: list[dict[str, Any]]


def sla(site_id: str, now: int, items: list[dict[str, Any]]) -> Sla:
    return {"type": "sla", "site": site_id, "now": now, "items": items}


class CannedEvent(TypedDict):
    type: Literal["canned"]
    site: str
    canned: list[dict[str, Any]]


def canned(site_id: str, replies: list[dict[str, Any]]) -> CannedEvent:
    """Give a site's agents its canned replies as they are after a change."""
    return {"type": "canned", "site": site_id, "canned": replies}


SERVER_EVENTS: tuple[type, ...] = (
    VisitorWelcome, AgentWelcome, Ack, MessageEvent, ConversationEvent, TypingEvent, ReceiptEvent,
    Synced, PresenceEvent, Error, Pong, Suggestions, AvailabilityEvent, Resync, TicketEvent,
    TranscriptEvent, NoteEvent, Sla, EmailProof, CannedEvent, ConversationList,
)
SERVER_TYPES: tuple[str, ...] = tuple(dict.fromkeys(
    get_args(get_type_hints(event)["type"])[0] for event in SERVER_EVENTS
))
