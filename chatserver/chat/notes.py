"""Private notes in a chat, in the store: written by agents for agents, never sent to the visitor.

Notes live apart from the chat's messages (their own table, no sequence number), so the
visitor's transcript, receipts and resume stay exactly as they were. They travel on the
conversation's agents-only topic, which visitor sockets never follow.
"""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from chatserver.chat.model import ChatNote
from chatserver.store import Store, new_id, now_ms
from chatserver.store.schema import agents, chat_notes

# Notes sent when an agent syncs a chat: a handful per chat is normal; past this many, the
# newest are what matters.
SYNC_LIMIT = 200

_COLUMNS = (
    chat_notes.c.id, chat_notes.c.conversation_id, chat_notes.c.agent_id,
    agents.c.name.label("agent_name"), chat_notes.c.client_id, chat_notes.c.body,
    chat_notes.c.created_at,
)
_FROM = chat_notes.outerjoin(agents, agents.c.id == chat_notes.c.agent_id)


async def add(
    store: Store, conversation_id: str, agent_id: str, client_id: str, text: str
) -> tuple[ChatNote, bool]:
    """Store a note; a resend with the same client id returns the first. Tell if it is new."""
    try:
        async with store.write() as conn:
            await conn.execute(insert(chat_notes).values(
                id=new_id(), conversation_id=conversation_id, agent_id=agent_id,
                client_id=client_id, body=text, created_at=now_ms(),
            ))
        created = True
    except IntegrityError:
        created = False  # the unique key says it was stored before: answer with that one
    query = select(*_COLUMNS).select_from(_FROM).where(
        chat_notes.c.conversation_id == conversation_id, chat_notes.c.agent_id == agent_id,
        chat_notes.c.client_id == client_id,
    )
    async with store.read() as conn:
        row = (await conn.execute(query)).one()
    return ChatNote(**row._mapping), created


async def of(store: Store, conversation_id: str, limit: int = SYNC_LIMIT) -> list[ChatNote]:
    """Return a chat's notes, oldest first (the newest limit of them)."""
    query = (
        select(*_COLUMNS).select_from(_FROM)
        .where(chat_notes.c.conversation_id == conversation_id)
        .order_by(chat_notes.c.created_at.desc(), chat_notes.c.id).limit(limit)
    )
    async with store.read() as conn:
        rows = list(await conn.execute(query))
    return [ChatNote(**row._mapping) for row in reversed(rows)]
