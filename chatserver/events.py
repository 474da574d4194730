"""Server events built from stored records: the JSON each side receives. No I/O."""

from __future__ import annotations

from typing import Any

from chatserver.chat.conversations import ChatMessage, Conversation


def message(m: ChatMessage) -> dict[str, Any]:
    return {
        "type": "message",
        "conversation": m.conversation_id,
        "seq": m.seq,
        "id": m.id,
        "author": {"kind": m.author_kind, "id": m.author_id, "name": m.author_name},
        "client_id": m.client_id,
        "text": m.body,
        "created_at": m.created_at,
    }


def ack(m: ChatMessage, duplicate: bool) -> dict[str, Any]:
    return {
        "type": "ack",
        "ref": m.client_id,
        "conversation": m.conversation_id,
        "seq": m.seq,
        "id": m.id,
        "created_at": m.created_at,
        "duplicate": duplicate,
    }


def conversation_for_agents(c: Conversation) -> dict[str, Any]:
    """Describe a conversation to the agents of its site."""
    return {
        "type": "conversation",
        "conversation": {
            "id": c.id,
            "site": c.site_id,
            "status": c.status.value,
            "agent": {"id": c.agent_id, "name": c.agent_name} if c.agent_id else None,
            "contact": {"id": c.contact_id, "name": c.contact_name},
            "last_seq": c.last_seq,
            "visitor_read_seq": c.visitor_read_seq,
            "created_at": c.created_at,
            "queued_at": c.queued_at,
            "resolution": c.resolution,
            "rating": c.rating,
        },
    }


def conversation_for_visitor(
    c: Conversation, queue: dict[str, int | None] | None = None
) -> dict[str, Any]:
    """Describe a conversation to its visitor: nothing about other people but the agent's name.

    queue, for a queued conversation, is its place in line and the expected wait.
    """
    event: dict[str, Any] = {
        "type": "conversation",
        "conversation": {
            "id": c.id,
            "status": c.status.value,
            "agent": {"name": c.agent_name} if c.agent_id else None,
            "last_seq": c.last_seq,
            "agent_read_seq": c.agent_read_seq,
            "created_at": c.created_at,
            "resolution": c.resolution,
            "rating": c.rating,
        },
    }
    if queue is not None:
        event["conversation"]["queue"] = queue
    return event


def presence(agent_id: str, name: str, status: str) -> dict[str, Any]:
    return {"type": "presence", "agent": {"id": agent_id, "name": name, "status": status}}
