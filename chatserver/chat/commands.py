"""Every action on a conversation, as one command: check, write, return what to deliver.

Transports (the sockets, the HTTP API, the console, inbound mail) parse their input, make an
actor, call a command and deliver the Effects it returns; none of them writes or publishes
on its own. A refusal is a ProtocolError, which changes nothing stored.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable
from typing import Any, Literal

from chatserver import (
    agents,
    articles,
    channels,
    customers,
    person_request,
    protocol,
    sites,
    suggestions,
    visitor_status,
)
from chatserver.chat import conversations, messages, notes, queue, topics
from chatserver.chat.actors import Actor, Staff, Visitor
from chatserver.chat.effects import Effects
from chatserver.chat.model import (
    Conversation,
    ConversationClosed,
    IllegalTransition,
    NotHolder,
    Status,
)
from chatserver.protocol import ProtocolError
from chatserver.runtime import Runtime
from chatserver.webhooks import events

log = logging.getLogger("chatserver.chat")

# Protocol-level pings keep idle sockets alive through proxies (nginx closes after 60 s of
# silence by default) and find dead peers; uvicorn sends them (see cli.py).
HEARTBEAT_SECONDS = 20.0


def limits(rt: Runtime) -> protocol.Limits:
    return {"max_frame_bytes": rt.settings.max_frame_bytes, "max_text_chars": protocol.MAX_TEXT_CHARS}


async def usable(rt: Runtime, actor: Actor, conversation_id: str, ref: str | None = None) -> Conversation:
    """Return a conversation the actor may use; the same refusal for absent and foreign.

    ref is what an error names: the refused message's client id, else the conversation.
    """
    async with rt.store.read() as conn:
        found = await conversations.get(conn, conversation_id)
    if found is None or not actor.may_use(found):
        raise ProtocolError("not_found", "no such conversation", ref or conversation_id)
    actor.remember(found.id)
    return found


async def _known(rt: Runtime, actor: Actor, conversation_id: str, ref: str | None = None) -> str:
    """Return conversation_id if the actor may use it, reading the store once per chat."""
    if not actor.knows(conversation_id):
        await usable(rt, actor, conversation_id, ref)
    return conversation_id


async def _made(conversation: Conversation, move: Awaitable[Conversation]) -> Conversation:
    """Await a move; one the conversation's status no longer allows is a conflict."""
    try:
        return await move
    except IllegalTransition as refused:
        raise ProtocolError("conflict", str(refused), conversation.id) from None


def _author(actor: Actor) -> protocol.Author:
    return {"kind": actor.kind, "id": actor.id, "name": actor.name}


# Arriving and leaving ---------------------------------------------------------------------


async def welcome_visitor(rt: Runtime, visitor: Visitor) -> Effects:
    """Answer a visitor's hello: their open conversations and who can answer now."""
    await visitor.follow(topics.visitor(visitor.contact_id))
    await visitor.follow(topics.site_visitors(visitor.site.id))
    mine = await conversations.find(rt.store, contact_id=visitor.contact_id)
    for conversation in mine:  # the contact's own: a first message needs no read
        visitor.remember(conversation.id)
    status = await visitor_status.availability(rt.store, visitor.site)
    return Effects().reply(protocol.visitor_welcome(
        visitor.contact_id, mine, status, HEARTBEAT_SECONDS, limits(rt)
    ))


async def welcome_agent(rt: Runtime, staff: Staff) -> Effects:
    """Answer an agent's hello: the open conversations of their sites; then their presence."""
    await staff.follow(topics.agent(staff.agent.id))
    for site_id in staff.site_ids:
        await staff.follow(topics.site(site_id))
    await agents.connect(rt.store, staff.agent.id, staff.socket_id, rt.process_id)
    open_ones = await conversations.find(rt.store, site_ids=staff.site_ids)
    agent = staff.agent
    you = {"id": agent.id, "name": agent.name, "role": agent.role,
           "availability": agent.availability, "max_chats": agent.max_chats}
    effects = Effects().reply(protocol.agent_welcome(
        you, staff.site_ids, open_ones, HEARTBEAT_SECONDS, limits(rt)
    ))
    return effects.extend(await _presence_told(rt, staff, agent.availability, route=True))


async def listed(rt: Runtime, visitor: Visitor) -> Effects:
    """List the visitor's own conversations on this site: open first, then recent closed ones."""
    found = await conversations.recent(rt.store, visitor.site.id, visitor.contact_id)
    for conversation, _ in found:  # their own: opening one from the list needs no read
        visitor.remember(conversation.id)
    return Effects().reply(protocol.conversation_list(found))


async def goodbye_agent(rt: Runtime, staff: Staff) -> Effects:
    """An agent's socket closed: when it was their last, they are offline to their sites."""
    await agents.disconnect(rt.store, staff.socket_id)
    if await agents.is_connected(rt.store, staff.agent.id):
        return Effects()
    return await _presence_told(rt, staff, "offline", route=False)


async def presence(rt: Runtime, staff: Staff, status: protocol.Availability) -> Effects:
    """An agent sets their availability: online (chats come), away (by hand) or offline."""
    await agents.set_availability(rt.store, staff.agent.id, status)
    log.info("event=presence agent=%s status=%s", staff.agent.id, status)
    return await _presence_told(rt, staff, status, route=True)


async def _presence_told(rt: Runtime, staff: Staff, status: str, route: bool) -> Effects:
    effects = Effects()
    for site_id in staff.site_ids:
        effects.publish(topics.site(site_id), protocol.presence(staff.agent.id, staff.agent.name, status))
        # Visitors see whether anyone can answer now, to wait or to leave an address.
        effects.publish(topics.site_visitors(site_id), protocol.availability(
            await visitor_status.availability_of(rt.store, site_id)
        ))
        if route and status == "online":
            effects.extend(await queue.assign_waiting(rt.store, site_id))
    return effects


# Asking: self-service first ---------------------------------------------------------------


async def require_channel(rt: Runtime, site_id: str, channel: str, ref: str | None = None) -> None:
    """Refuse (channel_off) a new conversation or ticket on a channel the site switched off.

    The settings are read now, not taken from the socket's hello: a switch an admin turned
    a minute ago holds for the visitor who connected an hour ago.
    """
    site = await sites.by_id(rt.store, site_id)
    try:
        channels.check(site.settings if site else {}, channel)
    except channels.ChannelOff as off:
        log.info("event=channel_off site=%s channel=%s", site_id, channel)
        raise ProtocolError(off.code, str(off), ref) from None


async def start(
    rt: Runtime, visitor: Visitor, client_id: str, text: str, locale: str | None
) -> Effects:
    """Open a conversation with the visitor's question; suggest articles, or queue it."""
    conversation, effects, created = await _open(rt, visitor, channels.CHAT, client_id, text)
    if not created:
        return effects
    # Self-service first: a person is asked for when the visitor asks for one or when no
    # article is good enough.
    found = await _suggest(rt, visitor, conversation.id, text, locale, conversation.last_seq)
    if found is None:
        return effects.extend(await _queue(rt, conversation))
    # The site's agents see the new chat at once (in "All open"), and may take it.
    return effects.publish(topics.site(conversation.site_id),
                           protocol.conversation_for_agents(conversation)).reply(found)


async def arrive(
    rt: Runtime, visitor: Visitor, channel: str, client_id: str, text: str
) -> tuple[Conversation, Effects]:
    """A customer wrote on an integration's channel (api:telegram): continue their open
    conversation there, or open one and queue it for a person at once.

    No suggestions: a platform's user has no "that helped" button and wrote to reach people.
    A channel switched off refuses a new conversation only; an open one goes on. Returns the
    conversation as this message left it, and the effects.
    """
    mine = await conversations.find(rt.store, contact_id=visitor.contact_id)
    current = next((c for c in reversed(mine) if c.channel == channel), None)
    if current is not None:
        visitor.remember(current.id)  # just read: send need not read it again
        effects = await send(rt, visitor, current.id, client_id, text)
        seq = max(current.last_seq, effects.replies[0]["seq"])
        return dataclasses.replace(current, last_seq=seq), effects
    conversation, effects, created = await _open(rt, visitor, channel, client_id, text)
    if created:
        effects.extend(await _queue(rt, conversation))
        async with rt.store.read() as conn:
            conversation = await conversations.get(conn, conversation.id) or conversation
    return conversation, effects


async def _open(
    rt: Runtime, visitor: Visitor, channel: str, client_id: str, text: str
) -> tuple[Conversation, Effects, bool]:
    """Open a conversation on a channel with its first message; False when a resend found it."""
    await require_channel(rt, visitor.site.id, channel, client_id)
    conversation, _ = await conversations.open(
        rt.store, visitor.site.id, visitor.contact_id, client_id, channel
    )
    await visitor.follow(topics.conversation(conversation.id))
    visitor.remember(conversation.id)
    first = await rt.writer.append(conversation.id, "visitor", visitor.contact_id, client_id, text)
    effects = Effects().reply(protocol.ack(first.message, duplicate=not first.created))
    if first.created:
        effects.publish(topics.conversation(conversation.id),
                        protocol.message(first.message, visitor.name), skip_actor=True)
        effects.happened(events.conversation(events.CONVERSATION_CREATED, conversation))
        effects.happened(events.message(first.message, visitor.name, conversation.site_id))
    return dataclasses.replace(conversation, last_seq=first.message.seq), effects, first.created


async def search(rt: Runtime, visitor: Visitor, text: str, locale: str | None) -> Effects:
    """Suggest as the visitor types; what they looked for is kept for the agent's sidebar."""
    found = await _suggest(rt, visitor, None, text, locale)
    await customers.record_search(rt.store, visitor.contact_id, text)
    return Effects().reply(found or protocol.suggestions(None, text, []))


async def _suggest(
    rt: Runtime, visitor: Visitor, conversation_id: str | None, question: str, locale: str | None,
    seq: int | None = None,
) -> protocol.Suggestions | None:
    """Return the articles that answer question as a suggestions event, or None if none do."""
    if person_request.asks_for_person(question):
        return None  # "agent", "ik wil iemand spreken": they get a person, not reading matter
    hits = await rt.suggester.suggest(question[: protocol.MAX_QUERY_CHARS], locale)
    if not hits:
        return None
    return protocol.suggestions(conversation_id, question, suggestions.as_links(hits, visitor.base_url),
                                seq)


async def escalate(rt: Runtime, visitor: Visitor, conversation_id: str) -> Effects:
    """The visitor asks for a person: queue the conversation."""
    return await _queue(rt, await usable(rt, visitor, conversation_id))


async def _queue(rt: Runtime, conversation: Conversation) -> Effects:
    queued = await _made(conversation, conversations.queue(rt.store, conversation.id))
    return queue.announce(queued).extend(await queue.assign_waiting(rt.store, queued.site_id))


async def resolve(rt: Runtime, visitor: Visitor, conversation_id: str) -> Effects:
    """"That helped": close a conversation no agent has taken as answered by an article."""
    conversation = await usable(rt, visitor, conversation_id)
    resolved = await _made(conversation, conversations.resolve(rt.store, conversation.id))
    return queue.announce(resolved).extend(await queue.tell_queue(rt.store, resolved.site_id))


async def article(
    rt: Runtime, visitor: Visitor, slug: str, locale: str, conversation_id: str | None
) -> Effects:
    """The visitor opened a help article: remembered for the agent's sidebar."""
    if conversation_id is not None:
        await usable(rt, visitor, conversation_id)
    await articles.record_view(rt.store, visitor.contact_id, conversation_id, locale, slug)
    return Effects()


async def rate(
    rt: Runtime, visitor: Visitor, conversation_id: str, score: str, comment: str | None
) -> Effects:
    """The visitor rates a conversation; a second rating replaces the first."""
    conversation = await usable(rt, visitor, conversation_id)
    rated = await conversations.rate(rt.store, conversation.id, score, comment)
    return queue.announce(rated, moved=False).happened(events.rating(rated, comment))


# Talking ----------------------------------------------------------------------------------


async def send(
    rt: Runtime, actor: Actor, conversation_id: str, client_id: str, text: str,
    files: tuple[dict[str, Any], ...] = (),
) -> Effects:
    """Store a message, ack it to its sender, deliver it to everyone else in the conversation.

    Status and holder are checked inside the write transaction (messages.py), so the hot
    path reads nothing; only a refusal reads the conversation, to say why. files describe
    files already stored (chatserver/files/uploads.py), which the message carries.
    """
    await _known(rt, actor, conversation_id, client_id)
    try:
        stored = await rt.writer.append(
            conversation_id, actor.kind, actor.id, client_id, text, actor.holder_needed(), files
        )
    except (ConversationClosed, NotHolder):
        conversation = await usable(rt, actor, conversation_id, client_id)
        if conversation.status is Status.CLOSED:
            raise ProtocolError("conflict", "this conversation is closed; start a new one",
                                client_id) from None
        if not actor.may_write(conversation):
            verb = "take" if conversation.status is not Status.ASSIGNED else "be given"
            raise ProtocolError("forbidden", f"{verb} the conversation before writing in it",
                                client_id) from None
        raise ProtocolError("conflict", "the conversation changed while sending; send again",
                            client_id) from None
    effects = Effects().reply(protocol.ack(stored.message, duplicate=not stored.created))
    if not stored.created:
        return effects
    effects.publish(topics.conversation(conversation_id),
                    protocol.message(stored.message, actor.name), skip_actor=True)
    effects.happened(events.message(stored.message, actor.name, actor.only_site()))
    if actor.kind == "visitor" and stored.status == Status.NEW.value:
        # Writing on instead of choosing after the suggestions is asking for a person: a new
        # conversation never waits for a button nobody will press.
        async with rt.store.read() as conn:
            current = await conversations.get(conn, conversation_id)
        if current is not None and current.status is Status.NEW:
            try:
                effects.extend(await _queue(rt, current))
            except ProtocolError:
                pass  # queued or closed meanwhile: nothing more to do
    return effects


async def typing(rt: Runtime, actor: Actor, conversation_id: str, active: bool) -> Effects:
    """Tell the conversation's other sockets that someone types (not stored)."""
    await _known(rt, actor, conversation_id)
    return Effects().publish(
        topics.conversation(conversation_id),
        protocol.typing(conversation_id, _author(actor), active), skip_actor=True,
    )


async def receipt(
    rt: Runtime, actor: Actor, conversation_id: str, status: Literal["delivered", "read"],
    seq: int,
) -> Effects:
    """Raise the side's delivered or read mark; tell the others when it rose."""
    await _known(rt, actor, conversation_id)
    side = actor.kind
    if side == "integration":
        raise ProtocolError("invalid_message", "receipts are for the visitor's and agents' apps")
    mark = await conversations.record_receipt(rt.store, conversation_id, side, status, seq)
    if mark is None:
        return Effects()
    return Effects().publish(topics.conversation(conversation_id),
                             protocol.receipt(conversation_id, side, status, mark), skip_actor=True)


async def sync(rt: Runtime, actor: Actor, conversation_id: str, after: int) -> Effects:
    """Follow a conversation from now on and get what was said after seq `after`.

    Follow first, then read: a message stored in between arrives twice (clients keep one per
    seq) rather than never.
    """
    conversation = await usable(rt, actor, conversation_id)
    effects = Effects()
    if isinstance(actor, Staff):
        await actor.follow(topics.conversation_agents(conversation.id))
        for stored_note in await notes.of(rt.store, conversation.id):
            effects.reply(protocol.note(stored_note))
    await actor.follow(topics.conversation(conversation.id))
    effects.reply(protocol.conversation_for_agents(conversation) if isinstance(actor, Staff)
                  else protocol.conversation_for_visitor(conversation))
    missed = await messages.after(rt.store, conversation.id, after)
    for missed_message in missed:
        effects.reply(protocol.message(missed_message))
    last = missed[-1].seq if missed else after
    effects.reply(protocol.synced(conversation.id, max(last, 0), len(missed) == messages.SYNC_PAGE))
    if isinstance(actor, Visitor) and conversation.status is Status.NEW:
        # A reloaded page shows the suggestions again rather than a chat with no way on.
        first = await messages.after(rt.store, conversation.id, 0, limit=1)
        found = (await _suggest(rt, actor, conversation.id, first[0].body, None, first[0].seq)
                 if first else None)
        if found is not None:
            effects.reply(found)
        else:
            effects.extend(await _queue(rt, conversation))
    return effects


async def note(rt: Runtime, staff: Staff, conversation_id: str, client_id: str, text: str) -> Effects:
    """A private note: any agent of the site, in any chat of it, open or closed.

    The writer gets it directly (it may not follow the chat yet); others through the topic.
    """
    conversation = await usable(rt, staff, conversation_id, client_id)
    stored, created = await notes.add(rt.store, conversation.id, staff.agent.id, client_id, text)
    effects = Effects().reply(protocol.note(stored))
    if created:
        effects.publish(topics.conversation_agents(conversation.id), protocol.note(stored),
                        skip_actor=True)
    return effects


# Handling ---------------------------------------------------------------------------------


async def accept(rt: Runtime, staff: Staff, conversation_id: str) -> Effects:
    """An agent takes a new or queued conversation by hand; of two at once, one wins."""
    conversation = await usable(rt, staff, conversation_id)
    taken = await _made(conversation, conversations.accept(rt.store, conversation.id, staff.agent.id))
    await staff.follow(topics.conversation(conversation.id))
    return queue.announce(taken).extend(await queue.tell_queue(rt.store, taken.site_id))


async def transfer(rt: Runtime, staff: Staff, conversation_id: str, agent_id: str) -> Effects:
    """Hand a conversation to another agent of its site, keeping the thread."""
    conversation = await usable(rt, staff, conversation_id)
    target = await agents.by_id(rt.store, agent_id)
    if target is None or target.disabled or not await agents.serves(
        rt.store, target, conversation.site_id
    ):
        raise ProtocolError("not_found", "no such agent for this site", agent_id)
    holder = conversation.agent_id if staff.admin else staff.agent.id
    moved = await _made(
        conversation, conversations.transfer(rt.store, conversation.id, holder or "", target.id)
    )
    return queue.announce(moved).extend(await queue.assign_waiting(rt.store, moved.site_id))


async def close(rt: Runtime, actor: Actor, conversation_id: str) -> Effects:
    """Close a conversation: the visitor, its holder, or an admin. A freed agent gets the next."""
    conversation = await usable(rt, actor, conversation_id)
    holder = actor.close_holder(conversation)
    closed = await _made(conversation, conversations.close(rt.store, conversation.id, holder))
    return queue.announce(closed).extend(await queue.assign_waiting(rt.store, closed.site_id))


async def close_quietly(rt: Runtime, conversation: Conversation) -> Effects:
    """Close a conversation for the system (handed over to email); nothing if closed already."""
    try:
        closed = await conversations.close(rt.store, conversation.id)
    except IllegalTransition:
        return Effects()  # closed meanwhile, by the visitor or an agent: once is enough
    return queue.announce(closed).extend(await queue.assign_waiting(rt.store, closed.site_id))
