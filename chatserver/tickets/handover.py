"""Hand chats over to email: the visitor's address, an agent's convert, the silent visitor.

Commands like those of chat/commands.py: the rules are in rules.py; here they meet the store
and the mail service. Every path ends the same way: a ticket with its mails in one
transaction, then the chat closed where the rules say so, then the effects for everyone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, select

from chatserver import channels, protocol, sites, visitor_status
from chatserver.chat import commands, conversations, messages, topics
from chatserver.chat.actors import Staff, Visitor
from chatserver.chat.effects import Effects
from chatserver.chat.model import ChatMessage, Conversation, Status
from chatserver.files import links
from chatserver.limits import mail_proof
from chatserver.mail.service import MailService
from chatserver.protocol import ProtocolError
from chatserver.runtime import Runtime
from chatserver.store import now_ms
from chatserver.store.schema import contacts, tickets
from chatserver.store.schema import conversations as conversations_table
from chatserver.store.schema import messages as messages_table
from chatserver.tickets import rules
from chatserver.tickets.records import open_ticket
from chatserver.tickets.rules import Source, Ticket, TicketError
from chatserver.webhooks import events

log = logging.getLogger("chatserver.tickets")

# A chat's whole transcript goes into the ticket's first mails; past this many messages
# the mail says where the rest is (the console) rather than growing without bound.
TRANSCRIPT_LIMIT = 500
# Chats looked at per pass of the unanswered-chat timer; the rest wait for the next pass.
SWEEP_BATCH = 50


def mail_of(rt: Runtime) -> MailService:
    if rt.mail is None:
        raise RuntimeError("the mail service is not started")
    return rt.mail


def announce(
    rt: Runtime, ticket: Ticket, effects: Effects | None = None, happened: str | None = None
) -> Effects:
    """Tell the site's agents and the visitor's tabs about a ticket, and wake the mail worker.

    happened names the webhook event when the ticket was opened or changed (not on a resend).
    """
    mail_of(rt).queued()
    effects = effects or Effects()
    if happened is not None:
        effects.happened(events.ticket(happened, ticket))
    return effects.publish(
        topics.site(ticket.site_id), protocol.ticket_for_agents(ticket)
    ).publish(topics.visitor(ticket.contact_id), protocol.ticket_for_visitor(ticket))


def transcript(
    chat: list[ChatMessage], site_name: str, link: Callable[[str], str | None] = lambda _: None
) -> list[dict[str, Any]]:
    """Return a chat as mail templates show it: who, text, time, and its files' names and links.

    A message that is only files reads as their names, for views that show text alone.
    """
    return [
        {
            "who": m.author_name or {"visitor": "Visitor", "agent": "Agent"}.get(m.author_kind, site_name),
            "text": m.body or ", ".join(f["name"] for f in m.files), "at": m.created_at,
            "visitor": m.author_kind == "visitor",
            "files": [{"name": f["name"], "url": link(f["id"])} for f in m.files],
        }
        for m in chat
    ]


def file_links(rt: Runtime) -> Callable[[str], str | None]:
    """Return how mails link a chat's files (signed, CHATSERVER_PUBLIC_URL)."""
    return links.mail_linker(rt.settings.files.public_url, rt.signer)


async def _site(rt: Runtime, site_id: str) -> sites.Site:
    site = await sites.by_id(rt.store, site_id)
    if site is None:
        raise LookupError(site_id)
    return site


async def _open_from_chat(
    rt: Runtime, conversation: Conversation, source: Source, **details: Any
) -> tuple[Ticket, bool]:
    site = await _site(rt, conversation.site_id)
    chat = await messages.after(rt.store, conversation.id, 0, TRANSCRIPT_LIMIT)
    return await open_ticket(
        rt.store, mail_of(rt).mailing(site), contact_id=conversation.contact_id, source=source,
        channel=conversation.channel, conversation_id=conversation.id,
        transcript=transcript(chat, site.name, file_links(rt)), **details,
    )


async def leave_email(
    rt: Runtime, visitor: Visitor, conversation_id: str | None, email: str, name: str | None,
    text: str | None, client_id: str | None,
) -> Effects:
    """Turn the visitor's address (offline form, "email me the answer") into a ticket."""
    if conversation_id is None and not text:
        raise ProtocolError("invalid_message", "'leave_email' needs 'text' or 'conversation'", client_id)
    conversation = await commands.usable(rt, visitor, conversation_id) if conversation_id else None
    # A ticket mails its confirmation to the address: one of the visitor's mails.
    await mail_proof.charge(rt, visitor, email, client_id)
    site = visitor.site
    # Outside business hours is an offline form, even if an agent happens to be online.
    status = await visitor_status.availability(rt.store, site)
    online = bool(status["agents_online"] and status["open_now"])
    source = rules.source_for_leave_email(conversation.status.value if conversation else None, online)
    details: dict[str, Any] = {"email": email.lower(), "name": name, "text": text}
    effects = Effects()
    try:
        if conversation is None:
            # The widget's offline form starts something new: the chat channel must be on.
            await commands.require_channel(rt, site.id, channels.CHAT, client_id)
            ticket, created = await open_ticket(
                rt.store, mail_of(rt).mailing(site), contact_id=visitor.contact_id, source=source,
                channel=channels.CHAT, client_id=client_id, **details,
            )
        else:
            ticket, created = await _open_from_chat(rt, conversation, source, **details)
            if created and rules.chat_closes_on_leave_email(conversation.status.value):
                effects.extend(await commands.close_quietly(rt, conversation))
    except TicketError as refused:
        raise ProtocolError(refused.code, refused.message, client_id) from None
    if created:
        log.info("event=ticket_opened ticket=%s site=%s source=%s", ticket.id, site.id, source)
    return announce(rt, ticket, effects, events.TICKET_CREATED if created else None)


async def convert(rt: Runtime, staff: Staff, conversation_id: str, subject: str | None) -> Effects:
    """Turn a chat into a ticket assigned to the converting agent, and end the chat.

    A ticket is answered by email, so a visitor who left no address is asked for one first:
    the agent is told so, and the chat stays open.
    """
    conversation = await commands.usable(rt, staff, conversation_id)
    if conversation.status is Status.ASSIGNED and not staff.may_write(conversation):
        raise ProtocolError("forbidden", "only the agent holding the chat can convert it", conversation.id)
    if await _email_of(rt, conversation.contact_id) is None:
        raise ProtocolError(
            "conflict", "the visitor has left no email address: ask for one in the chat first",
            conversation.id,
        )
    try:
        ticket, created = await _open_from_chat(
            rt, conversation, Source.AGENT, subject=subject, assignee_id=staff.agent.id
        )
    except TicketError as refused:
        raise ProtocolError(refused.code, refused.message, conversation.id) from None
    effects = Effects()
    if created:
        log.info("event=ticket_opened ticket=%s site=%s source=agent agent=%s",
                 ticket.id, ticket.site_id, staff.agent.id)
        effects.extend(await commands.close_quietly(rt, conversation))
    return announce(rt, ticket, effects, events.TICKET_CREATED if created else None)


async def _email_of(rt: Runtime, contact_id: str) -> str | None:
    async with rt.store.read() as conn:
        found = await conn.execute(select(contacts.c.email).where(contacts.c.id == contact_id))
        return found.scalar()


async def sweep_unanswered(rt: Runtime) -> tuple[list[Ticket], Effects]:
    """Turn chats whose visitor fell silent after a question, with an address known, into tickets
    (an integration's chats excepted)."""
    grace_ms = int(mail_of(rt).settings.grace_seconds * 1000)
    now = now_ms()
    conv = conversations_table
    last = messages_table.alias("last")
    query = (
        select(conv.c.id, conv.c.status, last.c.author_kind, last.c.created_at, contacts.c.email)
        .select_from(
            conv.join(contacts, contacts.c.id == conv.c.contact_id)
            .join(last, and_(last.c.conversation_id == conv.c.id, last.c.seq == conv.c.last_seq))
            .outerjoin(tickets, tickets.c.conversation_id == conv.c.id)
        )
        .where(conv.c.status != Status.CLOSED.value, contacts.c.email.is_not(None))
        # A messaging platform's user has not left a page: they wait on the platform, where
        # the answer goes (docs/channels.md), so their chat is never handed over to email.
        .where(conv.c.channel.not_like(channels.API_PREFIX + "%"))
        .where(tickets.c.id.is_(None), last.c.author_kind == "visitor")
        .where(last.c.created_at <= now - grace_ms)
        .limit(SWEEP_BATCH)
    )
    async with rt.store.read() as conn:
        rows = list(await conn.execute(query))
    opened: list[Ticket] = []
    effects = Effects()
    for row in rows:
        if not rules.left_unanswered(
            now=now, grace_ms=grace_ms, chat_status=row.status, last_author=row.author_kind,
            last_at=row.created_at, email=row.email, has_ticket=False,
        ):
            continue
        async with rt.store.read() as conn:
            conversation = await conversations.get(conn, row.id)
        if conversation is None:
            continue
        ticket, created = await _open_from_chat(rt, conversation, Source.LEFT)
        if created:
            log.info("event=ticket_opened ticket=%s site=%s source=left_unanswered",
                     ticket.id, ticket.site_id)
            effects.extend(await commands.close_quietly(rt, conversation))
            announce(rt, ticket, effects, events.TICKET_CREATED)
            opened.append(ticket)
    return opened, effects


async def watch_unanswered(rt: Runtime) -> None:
    """Run sweep_unanswered every few seconds, for as long as the process runs."""
    # A quarter of the grace period (at most 30 s) keeps a ticket within 25% of its due time.
    interval = min(mail_of(rt).settings.grace_seconds / 4, 30.0)
    while True:
        await asyncio.sleep(interval)
        try:
            _, effects = await sweep_unanswered(rt)
            await rt.hub.deliver(effects)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("event=unanswered_sweep_failed")
