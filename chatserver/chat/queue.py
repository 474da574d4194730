"""Hand queued conversations to agents, and tell everyone who needs to know."""

from __future__ import annotations

import logging

from chatserver import agents, events
from chatserver.chat import conversations, pairing
from chatserver.chat.conversations import Conversation, IllegalTransition, Status
from chatserver.runtime import Runtime

log = logging.getLogger("chatserver.chat.queue")

# Conversations looked at per routing pass; the rest wait for the next trigger (a chat
# queued, an agent coming online or freeing a slot), which comes within seconds.
ROUTING_BATCH = 50
# An assignment lost to another process or a cap filled meanwhile is retried this often.
ASSIGN_ATTEMPTS = 3


def site_topic(site_id: str) -> str:
    return f"site:{site_id}"


def site_visitors_topic(site_id: str) -> str:
    return f"site:{site_id}:visitors"


def visitor_topic(contact_id: str) -> str:
    return f"visitor:{contact_id}"


def conversation_topic(conversation_id: str) -> str:
    return f"conv:{conversation_id}"


async def announce(rt: Runtime, conversation: Conversation) -> None:
    """Tell the site's agents and the visitor's tabs that a conversation changed."""
    await rt.hub.publish(site_topic(conversation.site_id), events.conversation_for_agents(conversation))
    await rt.hub.publish(
        visitor_topic(conversation.contact_id), events.conversation_for_visitor(conversation)
    )
    log.info(
        "event=conversation_%s conversation=%s site=%s agent=%s",
        conversation.status.value, conversation.id, conversation.site_id, conversation.agent_id,
    )


async def assign_waiting(rt: Runtime, site_id: str) -> None:
    """Give queued conversations of a site to free agents, then tell the rest where they stand."""
    await _assign(rt, site_id)
    await tell_queue(rt, site_id)


async def _assign(rt: Runtime, site_id: str) -> None:
    """Give queued conversations of a site, oldest first, to the least busy free agents."""
    waiting = await conversations.find(
        rt.store, site_ids=[site_id], statuses=(Status.QUEUED,), limit=ROUTING_BATCH
    )
    for conversation in waiting:
        for _ in range(ASSIGN_ATTEMPTS):
            choice = pairing.pick(await agents.candidates(rt.store, site_id))
            if choice is None:
                return
            try:
                assigned = await conversations.assign(
                    rt.store, conversation.id, choice.id, cap=choice.max_chats
                )
            except IllegalTransition as lost:
                if lost.current is not Status.QUEUED:
                    break  # someone took it first: on to the next conversation
                continue  # the agent filled up meanwhile: choose again
            await announce(rt, assigned)
            break


async def tell_queue(rt: Runtime, site_id: str) -> None:
    """Tell each queued visitor of a site their place in line and the expected wait."""
    waiting = await conversations.find(
        rt.store, site_ids=[site_id], statuses=(Status.QUEUED,), limit=ROUTING_BATCH
    )
    if not waiting:
        return
    typical = await conversations.typical_wait_ms(rt.store, site_id)
    for position, conversation in enumerate(waiting, 1):
        wait = None if typical is None else round(typical * position / 1000)
        await rt.hub.publish(
            visitor_topic(conversation.contact_id),
            events.conversation_for_visitor(
                conversation, {"position": position, "wait_seconds": wait}
            ),
        )


async def release(rt: Runtime, agent_id: str) -> None:
    """Hand the chats of an agent who can no longer answer (disabled) to the others."""
    held = await conversations.find(rt.store, agent_id=agent_id, statuses=(Status.ASSIGNED,))
    for conversation in held:
        try:
            queued = await conversations.requeue(rt.store, conversation.id, agent_id)
        except IllegalTransition:
            continue  # closed or transferred meanwhile
        await announce(rt, queued)
    for site_id in sorted({c.site_id for c in held}):
        await assign_waiting(rt, site_id)
