"""Catch clients up after the broker lost messages (Redis restarted, a dropped connection).

The broker is a wake-up, not the record. When it comes back, each local connection gets,
from the store, what its topics may have missed:

- `site:{id}` (agents) and `visitor:{contact}` (visitors): a fresh `conversation` event for
  every conversation of theirs that changed since the gap began, closed ones included;
- `agent:{id}`: the socket is closed if the agent was disabled meanwhile (a missed revoke);
- `conv:{id}`: listed in a `resync` frame, to which the client answers with `sync` from the
  highest `seq` it has, exactly as after a reconnect.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from chatserver import agents, protocol
from chatserver.chat import conversations, topics
from chatserver.runtime import Runtime
from chatserver.store.schema import conversations as conversations_table

log = logging.getLogger("chatserver.server.resync")

# Processes on several machines stamp updated_at with their own clocks; look this much further
# back so a change stamped by a machine running a little behind is not missed.
CLOCK_SKEW_MS = 5_000
# Conversations described per site or visitor on resume; a site with more changes within one
# outage has agents who reload the console anyway.
RESYNC_LIMIT = 500


async def catch_up(rt: Runtime, since: int) -> None:
    """Tell every local client what may have changed since the time since (ms)."""
    described: dict[str, list[protocol.ConversationEvent]] = {}
    disabled: dict[str, bool] = {}
    connections = rt.hub.connections()
    for connection in connections:
        following: list[str] = []
        for topic in sorted(connection.topics):
            kind, key = topics.kind_and_key(topic)
            if kind in ("site", "visitor"):
                if topic not in described:
                    described[topic] = await _changed(rt, kind, key, since - CLOCK_SKEW_MS)
                for event in described[topic]:
                    connection.send_event(event)
            elif kind == "agent":
                if key not in disabled:
                    agent = await agents.by_id(rt.store, key)
                    disabled[key] = agent is None or agent.disabled
                if disabled[key]:
                    connection.close(protocol.CLOSE_REVOKED, "signed out: sign in again")
            elif kind == "conv":
                following.append(key)
        connection.send_event(protocol.resync(following))
    log.info("event=resync connections=%d topics=%d", len(connections), len(described))


async def _changed(rt: Runtime, kind: str, key: str, since: int) -> list[protocol.ConversationEvent]:
    column = conversations_table.c.site_id if kind == "site" else conversations_table.c.contact_id
    query = (
        select(conversations_table.c.id)
        .where(column == key, conversations_table.c.updated_at >= since)
        .order_by(conversations_table.c.updated_at)
        .limit(RESYNC_LIMIT)
    )
    describe = protocol.conversation_for_agents if kind == "site" else protocol.conversation_for_visitor
    found = []
    async with rt.store.read() as conn:
        for conversation_id in (await conn.execute(query)).scalars():
            conversation = await conversations.get(conn, conversation_id)
            if conversation is not None:
                found.append(describe(conversation))
    return found
