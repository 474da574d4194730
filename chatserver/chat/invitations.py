"""An agent invites a visitor who is on the site now to chat: proactive chat from the console.

The invitation is a conversation at once, held by the agent, with the agent's line as its
first message: the line is stored like every other, the agent answers from the usual chat
view, and the visitor's reply lands in that conversation. The visitor's widget follows
the new conversation (visitor topic) and shows the line as a preview bubble until they
open it. A visitor already in an open conversation is not invited into a second one.
"""

from __future__ import annotations

import logging

from chatserver import channels, customers, live_visitors
from chatserver.chat import commands, conversations, queue
from chatserver.chat.actors import Staff
from chatserver.chat.effects import Effects
from chatserver.chat.model import Conversation, IllegalTransition
from chatserver.protocol import MAX_TEXT_CHARS, ProtocolError
from chatserver.runtime import Runtime

log = logging.getLogger("chatserver.invitations")


async def invite(
    rt: Runtime, staff: Staff, site_id: str, contact_id: str, client_id: str, text: str
) -> tuple[Conversation, Effects]:
    """Open a conversation held by the agent with their line to the visitor; return it and its effects.

    Refused (conflict) when the visitor has left or already has an open conversation.
    """
    text = text.strip()
    if not text:
        raise ProtocolError("invalid_message", "write what to say to the visitor", client_id)
    if len(text) > MAX_TEXT_CHARS:
        raise ProtocolError("too_large", f"the message is longer than {MAX_TEXT_CHARS} characters",
                            client_id)
    if site_id not in staff.site_ids or not await customers.belongs(rt.store, contact_id, site_id):
        raise ProtocolError("not_found", "no such visitor on your sites", client_id)
    if await conversations.find(rt.store, contact_id=contact_id):
        # A resent invitation lands here too: the first one is that conversation.
        raise ProtocolError("conflict", "the visitor is already in a conversation", client_id)
    if not await live_visitors.is_on_site(rt.store, site_id, contact_id):
        raise ProtocolError("conflict", "the visitor has left the site", client_id)
    await commands.require_channel(rt, site_id, channels.CHAT, client_id)
    opened, _ = await conversations.open(rt.store, site_id, contact_id, client_id)
    try:
        taken = await conversations.accept(rt.store, opened.id, staff.agent.id)
    except IllegalTransition:
        raise ProtocolError("conflict", "the visitor is already in a conversation", client_id) from None
    log.info("event=visitor_invited site=%s contact=%s agent=%s conversation=%s", site_id,
             contact_id, staff.agent.id, taken.id)
    staff.remember(taken.id)
    sent = await commands.send(rt, staff, taken.id, client_id, text)
    return taken, queue.announce(taken).extend(sent)
