"""Private notes in a chat: written by agents for agents, never sent to the visitor.

Notes live apart from the chat's messages (their own table, no sequence number), so the
visitor's transcript, receipts and resume stay exactly as they were. They travel on the
conversation's agents-only topic, which visitor sockets never follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from chatserver.runtime import Runtime
from chatserver.server.hub import Connection
from chatserver.store import Store, new_id, now_ms
from chatserver.store.schema import agents, chat_notes

# Notes sent when an agent syncs a chat: a handful per chat is normal; past this many, the
# newest are what matters.
SYNC_LIMIT = 200


@dataclass(frozen=True)
class Note:
    id: str
    conversation_id: str
    agent_id: str
    agent_name: str | None
    client_id: str
    body: str
    created_at: int


def agents_topic(conversation_id: str) -> str:
    """Return the topic only agent sockets of the conversation's site follow."""
    return f"conv:{conversation_id}:agents"


_COLUMNS = (
    chat_notes.c.id, chat_notes.c.conversation_id, chat_notes.c.agent_id,
    agents.c.name.label("agent_name"), chat_notes.c.client_id, chat_notes.c.body,
    chat_notes.c.created_at,
)
_FROM = chat_notes.outerjoin(agents, agents.c.id == chat_notes.c.agent_id)


async def add(
    store: Store, conversation_id: str, agent_id: str, client_id: str, text: str
) -> tuple[Note, bool]:
    """Store a note; a resend with the same client id returns the first. Tell if it is new."""
    note_id, created_at = new_id(), now_ms()
    try:
        async with store.write() as conn:
            await conn.execute(insert(chat_notes).values(
                id=note_id, conversation_id=conversation_id, agent_id=agent_id,
                client_id=client_id, body=text, created_at=created_at,
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
    return Note(**row._mapping), created


async def for_conversation(store: Store, conversation_id: str, limit: int = SYNC_LIMIT) -> list[Note]:
    """Return a chat's notes, oldest first (the newest limit of them)."""
    query = (
        select(*_COLUMNS).select_from(_FROM)
        .where(chat_notes.c.conversation_id == conversation_id)
        .order_by(chat_notes.c.created_at.desc(), chat_notes.c.id).limit(limit)
    )
    async with store.read() as conn:
        rows = list(await conn.execute(query))
    return [Note(**row._mapping) for row in reversed(rows)]


def event(note: Note) -> dict[str, Any]:
    """Describe a note to agents: the `note` server event."""
    return {
        "type": "note",
        "conversation": note.conversation_id,
        "id": note.id,
        "author": {"kind": "agent", "id": note.agent_id, "name": note.agent_name},
        "client_id": note.client_id,
        "text": note.body,
        "created_at": note.created_at,
    }


async def write(
    rt: Runtime, connection: Connection, conversation_id: str, agent_id: str, client_id: str,
    text: str,
) -> None:
    """Store a note, confirm it to the writing socket, then tell the site's other agents."""
    note, created = await add(rt.store, conversation_id, agent_id, client_id, text)
    # The writer gets it directly (it may not follow the chat yet); others through the topic.
    connection.send_event(event(note))
    if created:
        await rt.hub.publish(agents_topic(conversation_id), event(note))


async def follow(rt: Runtime, connection: Connection, conversation_id: str) -> None:
    """Follow a chat's notes from now on, then send the stored ones (follow first: none lost)."""
    await rt.hub.follow(connection, agents_topic(conversation_id))
    for note in await for_conversation(rt.store, conversation_id):
        connection.send_event(event(note))
