"""Hand chats over to email: the visitor's address, an agent's convert, the silent visitor.

The rules are in tickets.py; here they meet the runtime: the store, the broker topics and
the mail service. Every path ends the same way: a ticket with its mails in one transaction,
then the chat closed where the rules say so, then everyone told.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import and_, select

from chatserver import agents, sites, visitor_status
from chatserver.chat import conversations, queue
from chatserver.chat.conversations import ChatMessage, Conversation, IllegalTransition, Status
from chatserver.mail.service import MailService
from chatserver.runtime import Runtime
from chatserver.store import now_ms
from chatserver.store.schema import contacts, messages, tickets
from chatserver.store.schema import conversations as conversations_table
from chatserver.tickets import records as tickets_module
from chatserver.tickets.records import Source, Ticket, TicketError, open_ticket

log = logging.getLogger("chatserver.tickets.records")

# A chat's whole transcript goes into the ticket's first mails; past this many messages
# the mail says where the rest is (the console) rather than growing without bound.
TRANSCRIPT_LIMIT = 500
# Chats looked at per pass of the unanswered-chat timer; the rest wait for the next pass.
SWEEP_BATCH = 50


def mail_of(rt: Runtime) -> MailService:
    if rt.mail is None:
        raise RuntimeError("the mail service is not started")
    return rt.mail


def for_agents(ticket: Ticket) -> dict[str, Any]:
    """Describe a ticket to the agents of its site."""
    return {"type": "ticket", "ticket": describe(ticket)}


def describe(ticket: Ticket) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "site": ticket.site_id,
        "subject": ticket.subject,
        "status": ticket.status.value,
        "priority": ticket.priority,
        "source": ticket.source,
        "assignee": {"id": ticket.assignee_id, "name": ticket.assignee_name}
        if ticket.assignee_id else None,
        "contact": {"id": ticket.contact_id, "name": ticket.contact_name,
                    "email": ticket.contact_email},
        "conversation": ticket.conversation_id,
        "follow_up_of": ticket.follow_up_of,
        "tags": list(ticket.tags),
        "created_at": ticket.created_at,
        "updated_at": ticket.updated_at,
    }


def for_visitor(ticket: Ticket) -> dict[str, Any]:
    """Describe a ticket to its visitor: enough to say "we will answer by email"."""
    return {
        "type": "ticket",
        "ticket": {
            "id": ticket.id, "subject": ticket.subject, "status": ticket.status.value,
            "conversation": ticket.conversation_id, "email": ticket.contact_email,
            "created_at": ticket.created_at,
        },
    }


async def announce(rt: Runtime, ticket: Ticket) -> None:
    """Tell the site's agents and the visitor's tabs about a ticket, and wake the mail worker."""
    mail_of(rt).queued()
    await rt.hub.publish(queue.site_topic(ticket.site_id), for_agents(ticket))
    await rt.hub.publish(queue.visitor_topic(ticket.contact_id), for_visitor(ticket))


def transcript(chat: list[ChatMessage], site_name: str) -> list[dict[str, Any]]:
    """Return a chat as mail templates show it: who, text, time."""
    return [
        {
            "who": m.author_name or {"visitor": "Visitor", "agent": "Agent"}.get(m.author_kind, site_name),
            "text": m.body, "at": m.created_at, "visitor": m.author_kind == "visitor",
        }
        for m in chat
    ]


async def _site(rt: Runtime, site_id: str) -> sites.Site:
    site = await sites.by_id(rt.store, site_id)
    if site is None:
        raise LookupError(site_id)
    return site


async def _open_from_chat(
    rt: Runtime, conversation: Conversation, source: Source, **details: Any
) -> tuple[Ticket, bool]:
    site = await _site(rt, conversation.site_id)
    chat = await conversations.messages_after(rt.store, conversation.id, 0, TRANSCRIPT_LIMIT)
    return await open_ticket(
        rt.store, mail_of(rt).mailing(site), contact_id=conversation.contact_id, source=source,
        conversation_id=conversation.id, transcript=transcript(chat, site.name), **details,
    )


async def _close_chat(rt: Runtime, conversation: Conversation, holder: str | None = None) -> None:
    try:
        closed = await conversations.close(rt.store, conversation.id, holder)
    except IllegalTransition:
        return  # closed meanwhile, by the visitor or another agent: nothing more to do
    await queue.announce(rt, closed)


async def leave_email(
    rt: Runtime, site: sites.Site, contact_id: str, conversation: Conversation | None,
    email: str, name: str | None, text: str | None, client_id: str | None,
) -> Ticket:
    """Turn the visitor's address (offline form, "email me the answer") into a ticket."""
    if conversation is None and not text:
        raise TicketError("invalid_message", "'leave_email' needs 'text' or 'conversation'")
    # Outside business hours is an offline form, even if an agent happens to be online.
    status = await visitor_status.availability(rt.store, site)
    online = bool(status["agents_online"] and status["open_now"])
    source = tickets_module.source_for_leave_email(
        conversation.status.value if conversation else None, online
    )
    details: dict[str, Any] = {"email": email.lower(), "name": name, "text": text}
    if conversation is None:
        ticket, created = await open_ticket(
            rt.store, mail_of(rt).mailing(site), contact_id=contact_id, source=source,
            client_id=client_id, **details,
        )
    else:
        ticket, created = await _open_from_chat(rt, conversation, source, **details)
        if created and tickets_module.chat_closes_on_leave_email(conversation.status.value):
            await _close_chat(rt, conversation)
    if created:
        log.info("event=ticket_opened ticket=%s site=%s source=%s", ticket.id, site.id, source)
    await announce(rt, ticket)
    return ticket


async def convert(
    rt: Runtime, agent: agents.Agent, conversation: Conversation, subject: str | None
) -> Ticket:
    """Turn a chat into a ticket assigned to the converting agent, and end the chat."""
    holder = conversation.agent_id
    if conversation.status is Status.ASSIGNED and holder != agent.id and agent.role != "admin":
        raise TicketError("forbidden", "only the agent holding the chat can convert it")
    ticket, created = await _open_from_chat(
        rt, conversation, Source.AGENT, subject=subject, assignee_id=agent.id
    )
    if created:
        log.info("event=ticket_opened ticket=%s site=%s source=agent agent=%s",
                 ticket.id, ticket.site_id, agent.id)
        await _close_chat(rt, conversation)
        await queue.assign_waiting(rt, conversation.site_id)
    await announce(rt, ticket)
    return ticket


async def sweep_unanswered(rt: Runtime) -> list[Ticket]:
    """Turn chats whose visitor fell silent after a question, with an address known, into tickets."""
    grace_ms = int(mail_of(rt).settings.grace_seconds * 1000)
    now = now_ms()
    conv = conversations_table
    last = messages.alias("last")
    query = (
        select(conv.c.id, conv.c.status, last.c.author_kind, last.c.created_at, contacts.c.email)
        .select_from(
            conv.join(contacts, contacts.c.id == conv.c.contact_id)
            .join(last, and_(last.c.conversation_id == conv.c.id, last.c.seq == conv.c.last_seq))
            .outerjoin(tickets, tickets.c.conversation_id == conv.c.id)
        )
        .where(conv.c.status != Status.CLOSED.value, contacts.c.email.is_not(None))
        .where(tickets.c.id.is_(None), last.c.author_kind == "visitor")
        .where(last.c.created_at <= now - grace_ms)
        .limit(SWEEP_BATCH)
    )
    async with rt.store.read() as conn:
        rows = list(await conn.execute(query))
    opened: list[Ticket] = []
    for row in rows:
        if not tickets_module.left_unanswered(
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
            await _close_chat(rt, conversation)
            await announce(rt, ticket)
            opened.append(ticket)
    return opened


async def watch_unanswered(rt: Runtime) -> None:
    """Run sweep_unanswered every few seconds, for as long as the process runs."""
    # A quarter of the grace period (at most 30 s) keeps a ticket within 25% of its due time.
    interval = min(mail_of(rt).settings.grace_seconds / 4, 30.0)
    while True:
        await asyncio.sleep(interval)
        try:
            await sweep_unanswered(rt)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("event=unanswered_sweep_failed")
