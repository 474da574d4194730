"""The queue: hand waiting conversations to free agents, tell visitors where they stand.

Who gets the next chat is pure policy (pairing.py); here it meets the store. Every function
returns the effects for the transport to deliver, like every command.
"""

from __future__ import annotations

import logging

from chatserver import agents, protocol
from chatserver.chat import conversations, pairing, topics
from chatserver.chat.effects import Effects
from chatserver.chat.model import Conversation, IllegalTransition, Status
from chatserver.store import Store
from chatserver.webhooks import events

log = logging.getLogger("chatserver.chat.queue")

# Conversations looked at per routing pass; the rest wait for the next trigger (a chat
# queued, an agent coming online or freeing a slot), which comes within seconds.
ROUTING_BATCH = 50
# An assignment lost to another process or a cap filled meanwhile is retried this often.
ASSIGN_ATTEMPTS = 3


def announce(conversation: Conversation, effects: Effects | None = None, moved: bool = True) -> Effects:
    """Tell the site's agents and the visitor's tabs that a conversation changed.

    moved: its status just changed (a rating changes no status), which webhooks hear of too.
    """
    log.info(
        "event=conversation_%s conversation=%s site=%s agent=%s",
        conversation.status.value, conversation.id, conversation.site_id, conversation.agent_id,
    )
    effects = effects or Effects()
    fact = events.moved(conversation) if moved else None
    if fact is not None:
        effects.happened(fact)
    return effects.publish(
        topics.site(conversation.site_id), protocol.conversation_for_agents(conversation)
    ).publish(
        topics.visitor(conversation.contact_id), protocol.conversation_for_visitor(conversation)
    )


async def assign_waiting(store: Store, site_id: str) -> Effects:
    """Give queued conversations of a site to free agents, then tell the rest where they stand."""
    effects = Effects()
    waiting = await conversations.find(
        store, site_ids=[site_id], statuses=(Status.QUEUED,), limit=ROUTING_BATCH
    )
    for conversation in waiting:
        for _ in range(ASSIGN_ATTEMPTS):
            choice = pairing.pick(await agents.candidates(store, site_id))
            if choice is None:
                return effects.extend(await tell_queue(store, site_id))
            try:
                assigned = await conversations.assign(
                    store, conversation.id, choice.id, cap=choice.max_chats
                )
            except IllegalTransition as lost:
                if lost.current is not Status.QUEUED:
                    break  # someone took it first: on to the next conversation
                continue  # the agent filled up meanwhile: choose again
            announce(assigned, effects)
            break
    return effects.extend(await tell_queue(store, site_id))


async def tell_queue(store: Store, site_id: str) -> Effects:
    """Tell each queued visitor of a site their place in line and the expected wait."""
    effects = Effects()
    waiting = await conversations.find(
        store, site_ids=[site_id], statuses=(Status.QUEUED,), limit=ROUTING_BATCH
    )
    if not waiting:
        return effects
    typical = await conversations.typical_wait_ms(store, site_id)
    for position, conversation in enumerate(waiting, 1):
        wait = None if typical is None else round(typical * position / 1000)
        effects.publish(
            topics.visitor(conversation.contact_id),
            protocol.conversation_for_visitor(
                conversation, {"position": position, "wait_seconds": wait}
            ),
        )
    return effects


async def release(store: Store, agent_id: str) -> Effects:
    """Hand the chats of an agent who can no longer answer (disabled, signed out) to others."""
    effects = Effects()
    held = await conversations.find(store, agent_id=agent_id, statuses=(Status.ASSIGNED,))
    for conversation in held:
        try:
            queued = await conversations.requeue(store, conversation.id, agent_id)
        except IllegalTransition:
            continue  # closed or transferred meanwhile
        announce(queued, effects)
    for site_id in sorted({c.site_id for c in held}):
        effects.extend(await assign_waiting(store, site_id))
    return effects
