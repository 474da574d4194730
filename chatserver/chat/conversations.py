"""Conversations: the status state machine, messages with sequence numbers, receipts, resume.

Every change is one conditional write, so two agents or two processes acting on the same
conversation at once cannot both succeed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import and_, case, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver.store import Store, new_id, now_ms
from chatserver.store.schema import agents, contacts, conversations, messages, ratings

# A reconnecting client gets at most this many missed messages per sync frame; it asks
# again from the last one to page through a long history without one huge burst.
SYNC_PAGE = 200

# The expected wait shown to queued visitors is the median of this many recent waits: enough
# to smooth one slow chat, few enough to follow a busy afternoon.
WAIT_SAMPLE = 20

AuthorKind = Literal["visitor", "agent", "system"]


class Status(enum.StrEnum):
    NEW = "new"  # started, self-service suggestions shown, nobody asked for yet
    QUEUED = "queued"  # waiting for an agent
    ASSIGNED = "assigned"  # an agent has it
    CLOSED = "closed"  # final; a visitor who writes again starts a new conversation


TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.NEW: frozenset({Status.QUEUED, Status.CLOSED}),
    Status.QUEUED: frozenset({Status.ASSIGNED, Status.CLOSED}),
    # assigned -> assigned is a transfer; assigned -> queued puts it back for someone else
    Status.ASSIGNED: frozenset({Status.ASSIGNED, Status.QUEUED, Status.CLOSED}),
    Status.CLOSED: frozenset(),
}


class IllegalTransition(Exception):
    """A status change the state machine does not allow from the current status."""

    def __init__(self, current: Status, target: Status) -> None:
        super().__init__(f"the conversation is {current.value} and cannot become {target.value}")
        self.current = current
        self.target = target


class ConversationClosed(Exception):
    """A message for a conversation that is closed (or gone)."""


def sources(target: Status) -> frozenset[Status]:
    """Return the statuses from which a conversation may move to target."""
    return frozenset(s for s, allowed in TRANSITIONS.items() if target in allowed)


@dataclass(frozen=True)
class Conversation:
    id: str
    site_id: str
    contact_id: str
    status: Status
    agent_id: str | None
    agent_name: str | None
    contact_name: str | None
    last_seq: int
    visitor_read_seq: int
    agent_read_seq: int
    created_at: int
    queued_at: int | None
    resolution: str | None
    rating: str | None


@dataclass(frozen=True)
class ChatMessage:
    id: str
    conversation_id: str
    seq: int
    author_kind: AuthorKind
    author_id: str
    author_name: str | None
    client_id: str
    body: str
    created_at: int


_CONVERSATION_COLUMNS = (
    conversations.c.id, conversations.c.site_id, conversations.c.contact_id,
    conversations.c.status, conversations.c.agent_id, agents.c.name.label("agent_name"),
    contacts.c.name.label("contact_name"), conversations.c.last_seq,
    conversations.c.visitor_read_seq, conversations.c.agent_read_seq,
    conversations.c.created_at, conversations.c.queued_at, conversations.c.resolution,
    ratings.c.score.label("rating"),
)
_CONVERSATION_FROM = (
    conversations.outerjoin(agents, agents.c.id == conversations.c.agent_id)
    .join(contacts, contacts.c.id == conversations.c.contact_id)
    .outerjoin(ratings, ratings.c.conversation_id == conversations.c.id)
)


def _conversation(row: Any) -> Conversation:
    values = dict(row._mapping)
    values["status"] = Status(values["status"])
    return Conversation(**values)


async def get(conn: AsyncConnection, conversation_id: str) -> Conversation | None:
    """Return one conversation, or None."""
    query = select(*_CONVERSATION_COLUMNS).select_from(_CONVERSATION_FROM).where(
        conversations.c.id == conversation_id
    )
    row = (await conn.execute(query)).first()
    return _conversation(row) if row else None


async def find(
    store: Store,
    *,
    site_ids: list[str] | None = None,
    contact_id: str | None = None,
    agent_id: str | None = None,
    statuses: tuple[Status, ...] = (Status.NEW, Status.QUEUED, Status.ASSIGNED),
    limit: int = 200,
) -> list[Conversation]:
    """List conversations by site, contact or agent and status, oldest first."""
    query = select(*_CONVERSATION_COLUMNS).select_from(_CONVERSATION_FROM).where(
        conversations.c.status.in_([s.value for s in statuses])
    )
    if site_ids is not None:
        query = query.where(conversations.c.site_id.in_(site_ids))
    if contact_id is not None:
        query = query.where(conversations.c.contact_id == contact_id)
    if agent_id is not None:
        query = query.where(conversations.c.agent_id == agent_id)
    query = query.order_by(conversations.c.created_at, conversations.c.id).limit(limit)
    async with store.read() as conn:
        return [_conversation(row) for row in await conn.execute(query)]


async def typical_wait_ms(store: Store, site_id: str) -> int | None:
    """Return the median wait from queued to assigned over the site's last chats, or None."""
    query = (
        select(conversations.c.assigned_at - conversations.c.queued_at)
        .where(conversations.c.site_id == site_id, conversations.c.assigned_at.is_not(None),
               conversations.c.queued_at.is_not(None))
        .order_by(conversations.c.assigned_at.desc())
        .limit(WAIT_SAMPLE)
    )
    async with store.read() as conn:
        waits = sorted(int(w) for w in (await conn.execute(query)).scalars() if w is not None)
    return waits[len(waits) // 2] if waits else None


async def start(
    store: Store, site_id: str, contact_id: str, client_id: str, text: str
) -> tuple[Conversation, ChatMessage, bool]:
    """Open a conversation with the visitor's first message; True unless it is a resend.

    The unique key on (contact, client id) makes a resent start find the first one.
    """
    now = now_ms()
    conversation_id = new_id()
    try:
        async with store.write() as conn:
            await conn.execute(
                insert(conversations).values(
                    id=conversation_id, site_id=site_id, contact_id=contact_id,
                    status=Status.NEW.value, agent_id=None, client_id=client_id, last_seq=0,
                    visitor_delivered_seq=0, visitor_read_seq=0, agent_delivered_seq=0,
                    agent_read_seq=0, created_at=now, updated_at=now,
                )
            )
            await _append(conn, conversation_id, "visitor", contact_id, client_id, text, now)
    except IntegrityError:
        created = False
        async with store.read() as conn:
            conversation_id = (
                await conn.execute(
                    select(conversations.c.id).where(
                        conversations.c.contact_id == contact_id,
                        conversations.c.client_id == client_id,
                    )
                )
            ).scalar_one()
    else:
        created = True
    async with store.read() as conn:
        conversation = await get(conn, conversation_id)
        first = await _by_client_id(conn, conversation_id, "visitor", contact_id, client_id)
    assert conversation is not None and first is not None
    return conversation, first, created


async def append(
    store: Store,
    conversation_id: str,
    author_kind: AuthorKind,
    author_id: str,
    client_id: str,
    text: str,
) -> tuple[ChatMessage, bool]:
    """Store a message and return it with True, or the earlier copy of a resend with False.

    The unique key on (conversation, author, client id) decides what a resend is, so two
    copies arriving at once on two connections still store one message.
    """
    try:
        async with store.write() as conn:
            message = await _append(
                conn, conversation_id, author_kind, author_id, client_id, text, now_ms()
            )
    except IntegrityError:
        async with store.read() as conn:
            earlier = await _by_client_id(conn, conversation_id, author_kind, author_id, client_id)
        if earlier is None:
            raise
        return earlier, False
    if message is None:
        raise ConversationClosed(conversation_id)
    return message, True


async def _append(
    conn: AsyncConnection,
    conversation_id: str,
    author_kind: AuthorKind,
    author_id: str,
    client_id: str,
    text: str,
    now: int,
) -> ChatMessage | None:
    seq = (
        await conn.execute(
            update(conversations)
            .where(conversations.c.id == conversation_id)
            .where(conversations.c.status != Status.CLOSED.value)
            .values(last_seq=conversations.c.last_seq + 1, updated_at=now)
            .returning(conversations.c.last_seq)
        )
    ).scalar()
    if seq is None:
        return None
    message_id = new_id()
    await conn.execute(
        insert(messages).values(
            id=message_id, conversation_id=conversation_id, seq=seq, author_kind=author_kind,
            author_id=author_id, client_id=client_id, body=text, created_at=now,
        )
    )
    return ChatMessage(
        message_id, conversation_id, seq, author_kind, author_id, None, client_id, text, now
    )


_MESSAGE_COLUMNS = (
    messages.c.id, messages.c.conversation_id, messages.c.seq, messages.c.author_kind,
    messages.c.author_id,
    case(
        (messages.c.author_kind == "agent", agents.c.name),
        (messages.c.author_kind == "visitor", contacts.c.name),
        else_=None,
    ).label("author_name"),
    messages.c.client_id, messages.c.body, messages.c.created_at,
)
_MESSAGE_FROM = messages.outerjoin(
    agents, and_(messages.c.author_kind == "agent", agents.c.id == messages.c.author_id)
).outerjoin(
    contacts, and_(messages.c.author_kind == "visitor", contacts.c.id == messages.c.author_id)
)


async def _by_client_id(
    conn: AsyncConnection, conversation_id: str, author_kind: str, author_id: str, client_id: str
) -> ChatMessage | None:
    query = select(*_MESSAGE_COLUMNS).select_from(_MESSAGE_FROM).where(
        messages.c.conversation_id == conversation_id,
        messages.c.author_kind == author_kind,
        messages.c.author_id == author_id,
        messages.c.client_id == client_id,
    )
    row = (await conn.execute(query)).first()
    return ChatMessage(**row._mapping) if row else None


async def messages_after(
    store: Store, conversation_id: str, after: int, limit: int = SYNC_PAGE
) -> list[ChatMessage]:
    """Return the messages with a sequence number above after, in order."""
    query = (
        select(*_MESSAGE_COLUMNS)
        .select_from(_MESSAGE_FROM)
        .where(messages.c.conversation_id == conversation_id, messages.c.seq > after)
        .order_by(messages.c.seq)
        .limit(limit)
    )
    async with store.read() as conn:
        return [ChatMessage(**row._mapping) for row in await conn.execute(query)]


async def queue(store: Store, conversation_id: str) -> Conversation:
    """Put a new conversation in the queue for a person."""
    return await _move(store, conversation_id, Status.QUEUED, {Status.NEW}, queued_at=now_ms())


async def assign(
    store: Store, conversation_id: str, agent_id: str, cap: int | None = None
) -> Conversation:
    """Give a queued conversation to an agent; with cap, only while they have fewer open chats.

    Two agents (or processes) assigning the same conversation race on one conditional
    write: the status is still queued for exactly one of them.
    """
    return await _move(
        store, conversation_id, Status.ASSIGNED, {Status.QUEUED}, cap_for=agent_id if cap else None,
        cap=cap, agent_id=agent_id, assigned_at=now_ms(),
    )


async def transfer(store: Store, conversation_id: str, holder: str, to: str) -> Conversation:
    """Hand a conversation from the agent holding it to another agent, keeping the thread."""
    if holder == to:
        raise IllegalTransition(Status.ASSIGNED, Status.ASSIGNED)
    return await _move(
        store, conversation_id, Status.ASSIGNED, {Status.ASSIGNED}, holder=holder,
        agent_id=to, assigned_at=now_ms(),
    )


async def requeue(store: Store, conversation_id: str, holder: str) -> Conversation:
    """Put a conversation back in the queue while holder still has it (their account ended)."""
    return await _move(
        store, conversation_id, Status.QUEUED, {Status.ASSIGNED}, holder=holder,
        queued_at=now_ms(), agent_id=None,
    )


async def close(store: Store, conversation_id: str, holder: str | None = None) -> Conversation:
    """Close a conversation; with holder, only while that agent holds it."""
    return await _move(
        store, conversation_id, Status.CLOSED, sources(Status.CLOSED), holder=holder,
        closed_at=now_ms(),
    )


async def resolve(store: Store, conversation_id: str) -> Conversation:
    """Close a conversation that a help article answered: self-service, no agent needed."""
    return await _move(
        store, conversation_id, Status.CLOSED, {Status.NEW, Status.QUEUED}, closed_at=now_ms(),
        resolution="self_served",
    )


async def rate(store: Store, conversation_id: str, score: str, comment: str | None) -> Conversation:
    """Record the visitor's rating of a conversation; a second rating replaces the first."""
    async with store.write() as conn:
        await conn.execute(delete(ratings).where(ratings.c.conversation_id == conversation_id))
        await conn.execute(insert(ratings).values(
            conversation_id=conversation_id, score=score, comment=comment or None,
            created_at=now_ms(),
        ))
        rated = await get(conn, conversation_id)
    if rated is None:
        raise LookupError(conversation_id)
    return rated


async def _move(
    store: Store,
    conversation_id: str,
    target: Status,
    allowed_from: set[Status] | frozenset[Status],
    *,
    holder: str | None = None,
    cap_for: str | None = None,
    cap: int | None = None,
    **values: Any,
) -> Conversation:
    """Change status in one conditional write; raise IllegalTransition if the row did not match."""
    assert allowed_from <= sources(target), "a move the state machine does not allow"
    now = now_ms()
    statement = (
        update(conversations)
        .where(conversations.c.id == conversation_id)
        .where(conversations.c.status.in_([s.value for s in allowed_from]))
        .values(status=target.value, updated_at=now, **values)
    )
    if holder is not None:
        statement = statement.where(conversations.c.agent_id == holder)
    async with store.write() as conn:
        if cap_for is not None and cap is not None:
            # Lock the agent's row (PostgreSQL) so two processes assigning two different chats
            # to one agent count each other; SQLite's write lock already serialises them.
            await conn.execute(select(agents.c.id).where(agents.c.id == cap_for).with_for_update())
            open_chats = (
                select(func.count())
                .select_from(conversations)
                .where(conversations.c.agent_id == cap_for)
                .where(conversations.c.status == Status.ASSIGNED.value)
                .scalar_subquery()
            )
            statement = statement.where(open_chats < cap)
        changed = (await conn.execute(statement)).rowcount
        current = await get(conn, conversation_id)
    if current is None:
        raise LookupError(conversation_id)
    if not changed:
        raise IllegalTransition(current.status, target)
    return current


async def record_receipt(
    store: Store, conversation_id: str, side: Literal["visitor", "agent"], status: str, seq: int
) -> int | None:
    """Raise the side's delivered or read mark to seq; return the new mark, or None if stale.

    Reading implies delivery, so a read receipt raises both marks.
    """
    read = conversations.c[f"{side}_read_seq"]
    delivered = conversations.c[f"{side}_delivered_seq"]
    mark = read if status == "read" else delivered
    values: dict[str, Any] = {mark.key: seq}
    if status == "read":
        values[delivered.key] = case((delivered < seq, seq), else_=delivered)
    async with store.write() as conn:
        changed = (
            await conn.execute(
                update(conversations)
                .where(conversations.c.id == conversation_id)
                .where(mark < seq, conversations.c.last_seq >= seq)
                .values(**values)
            )
        ).rowcount
    return seq if changed else None
