"""Conversations in the store: find them, open them, move them, receipts and ratings.

Every move of model.py's table is one conditional write, so two agents or two processes
acting on the same conversation at once cannot both succeed. Messages are in messages.py.
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import Select, and_, case, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver.chat import model
from chatserver.chat.model import Conversation, IllegalTransition, Move, Status
from chatserver.store import Store, new_id, now_ms
from chatserver.store.schema import agents, contacts, conversations, messages, ratings

# The expected wait shown to queued visitors is the median of this many recent waits: enough
# to smooth one slow chat, few enough to follow a busy afternoon.
WAIT_SAMPLE = 20
# A visitor's list of their conversations: enough for anyone's months of questions on one
# site, few enough that a list frame stays a few kilobytes.
RECENT_LIMIT = 20


_CONVERSATION_COLUMNS = (
    conversations.c.id, conversations.c.site_id, conversations.c.contact_id,
    conversations.c.status, conversations.c.agent_id, agents.c.name.label("agent_name"),
    contacts.c.name.label("contact_name"), conversations.c.last_seq,
    conversations.c.visitor_read_seq, conversations.c.agent_read_seq,
    conversations.c.created_at, conversations.c.queued_at, conversations.c.resolution,
    ratings.c.score.label("rating"), conversations.c.channel,
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


def listing() -> Select[Any]:
    """Select conversations with their agent, contact and rating, to filter, order and page."""
    return select(*_CONVERSATION_COLUMNS).select_from(_CONVERSATION_FROM)


def from_row(row: Any) -> Conversation:
    return _conversation(row)


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
    return [_conversation(row) for row in await store.rows(query)]


async def recent(
    store: Store, site_id: str, contact_id: str, limit: int = RECENT_LIMIT
) -> list[tuple[Conversation, model.LastLine | None]]:
    """List one contact's conversations on a site, open ones first, then the most recently
    active; each with its last message."""
    last = messages.alias("last")
    active = func.coalesce(last.c.created_at, conversations.c.created_at)
    query = (
        select(*_CONVERSATION_COLUMNS, last.c.body, last.c.author_kind, last.c.created_at.label("said_at"))
        .select_from(_CONVERSATION_FROM.outerjoin(
            last, and_(last.c.conversation_id == conversations.c.id, last.c.seq == conversations.c.last_seq)
        ))
        .where(conversations.c.contact_id == contact_id, conversations.c.site_id == site_id)
        .order_by(case((conversations.c.status == Status.CLOSED.value, 1), else_=0), active.desc(),
                  conversations.c.id)
        .limit(limit)
    )
    async with store.read() as conn:
        rows = (await conn.execute(query)).all()
    found = []
    for row in rows:
        values = dict(row._mapping)
        text, author, at = values.pop("body"), values.pop("author_kind"), values.pop("said_at")
        values["status"] = Status(values["status"])
        found.append((Conversation(**values), model.LastLine(text, author, at) if at is not None else None))
    return found


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


async def open(
    store: Store, site_id: str, contact_id: str, client_id: str, channel: str = "chat"
) -> tuple[Conversation, bool]:
    """Open a new conversation of the visitor; True unless a resent start found the first one.

    The unique key on (contact, client id) settles what a resend is; the first message is
    appended through messages.py like every other.
    """
    now = now_ms()
    try:
        async with store.write() as conn:
            await conn.execute(
                insert(conversations).values(
                    id=new_id(), site_id=site_id, contact_id=contact_id,
                    status=Status.NEW.value, agent_id=None, client_id=client_id, last_seq=0,
                    visitor_delivered_seq=0, visitor_read_seq=0, agent_delivered_seq=0,
                    agent_read_seq=0, created_at=now, updated_at=now, channel=channel,
                )
            )
        created = True
    except IntegrityError:
        created = False
    query = select(*_CONVERSATION_COLUMNS).select_from(_CONVERSATION_FROM).where(
        conversations.c.contact_id == contact_id, conversations.c.client_id == client_id
    )
    async with store.read() as conn:
        return _conversation((await conn.execute(query)).one()), created


async def queue(store: Store, conversation_id: str) -> Conversation:
    """Put a new conversation in the queue for a person."""
    return await _move(store, conversation_id, model.QUEUE, queued_at=now_ms())


async def accept(store: Store, conversation_id: str, agent_id: str) -> Conversation:
    """Give a new or queued conversation to the agent who took it by hand (no cap: their call)."""
    now = now_ms()
    return await _move(store, conversation_id, model.ACCEPT, agent_id=agent_id, assigned_at=now,
                       queued_at=func.coalesce(conversations.c.queued_at, now))


async def assign(store: Store, conversation_id: str, agent_id: str, cap: int) -> Conversation:
    """Give a queued conversation to an agent while they have fewer than cap open chats.

    Two agents (or processes) assigning the same conversation race on one conditional
    write: the status is still queued for exactly one of them.
    """
    return await _move(store, conversation_id, model.ASSIGN, cap_for=agent_id, cap=cap,
                       agent_id=agent_id, assigned_at=now_ms())


async def transfer(store: Store, conversation_id: str, holder: str, to: str) -> Conversation:
    """Hand a conversation from the agent holding it to another agent, keeping the thread."""
    if holder == to:
        raise IllegalTransition(Status.ASSIGNED, model.TRANSFER)
    return await _move(store, conversation_id, model.TRANSFER, holder=holder, agent_id=to,
                       assigned_at=now_ms())


async def requeue(store: Store, conversation_id: str, holder: str) -> Conversation:
    """Put a conversation back in the queue while holder still has it (their account ended)."""
    return await _move(store, conversation_id, model.REQUEUE, holder=holder, queued_at=now_ms(),
                       agent_id=None)


async def close(store: Store, conversation_id: str, holder: str | None = None) -> Conversation:
    """Close a conversation; with holder, only while that agent holds it."""
    return await _move(store, conversation_id, model.CLOSE, holder=holder, closed_at=now_ms())


async def resolve(store: Store, conversation_id: str) -> Conversation:
    """Close a conversation that a help article answered: self-service, no agent needed."""
    return await _move(store, conversation_id, model.RESOLVE, closed_at=now_ms(),
                       resolution="self_served")


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
    move: Move,
    *,
    holder: str | None = None,
    cap_for: str | None = None,
    cap: int | None = None,
    **values: Any,
) -> Conversation:
    """Make one move in one conditional write; raise IllegalTransition if the row did not match."""
    statement = (
        update(conversations)
        .where(conversations.c.id == conversation_id)
        .where(conversations.c.status.in_([s.value for s in move.sources]))
        .values(status=move.target.value, updated_at=now_ms(), **values)
    )
    if holder is not None:
        statement = statement.where(conversations.c.agent_id == holder)
    if cap_for is not None and cap is not None:
        open_chats = (
            select(func.count())
            .select_from(conversations)
            .where(conversations.c.agent_id == cap_for)
            .where(conversations.c.status == Status.ASSIGNED.value)
            .scalar_subquery()
        )
        statement = statement.where(open_chats < cap)
    async with store.write() as conn:
        if cap_for is not None:
            # Two processes assigning two different chats to one agent must count each other:
            # lock the agent's row (PostgreSQL). FOR NO KEY UPDATE, because the foreign key
            # check of an accept setting agent_id takes KEY SHARE on the same row while holding
            # the conversation's: FOR UPDATE would wait on it, and it on us (a deadlock).
            await conn.execute(
                select(agents.c.id).where(agents.c.id == cap_for).with_for_update(key_share=True)
            )
        changed = (await conn.execute(statement)).rowcount
        current = await get(conn, conversation_id)
    if current is None:
        raise LookupError(conversation_id)
    if not changed:
        raise IllegalTransition(current.status, move)
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
