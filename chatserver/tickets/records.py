"""Ticket records in the store: open, reply, note, change, what the customer wrote by mail.

The rules are in rules.py. Every store operation that tells someone by mail writes the outbox
row in the same transaction as the ticket event, so a ticket never exists without its mail,
nor a mail without its ticket.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver import channels
from chatserver.mail import outbox
from chatserver.mail.addresses import header_text
from chatserver.mail.compose import Composer, Kind, Party
from chatserver.sites import Site
from chatserver.store import Store, new_id, now_ms
from chatserver.store.schema import (
    agents,
    attachments,
    contacts,
    ticket_entries,
    ticket_tags,
    tickets,
)
from chatserver.tickets.rules import (
    Entry,
    IllegalTransition,
    Source,
    Status,
    Ticket,
    TicketError,
    Upload,
    after_agent_reply,
    after_customer_reply,
    sources,
    subject_from,
)

_TICKET_COLUMNS = (
    *tickets.c, agents.c.name.label("assignee_name"), contacts.c.name.label("contact_name"),
    contacts.c.email.label("contact_email"),
)
_TICKET_FROM = tickets.outerjoin(agents, agents.c.id == tickets.c.assignee_id).join(
    contacts, contacts.c.id == tickets.c.contact_id
)


def _ticket(row: Any, tags: tuple[str, ...] = ()) -> Ticket:
    values = {k: v for k, v in row._mapping.items() if k != "client_id"}
    values["status"] = Status(values["status"])
    return Ticket(**values, tags=tags)


async def _tags(conn: AsyncConnection, ticket_ids: list[str]) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    if ticket_ids:
        rows = await conn.execute(
            select(ticket_tags).where(ticket_tags.c.ticket_id.in_(ticket_ids))
            .order_by(ticket_tags.c.tag)
        )
        for row in rows:
            found.setdefault(row.ticket_id, []).append(row.tag)
    return {k: tuple(v) for k, v in found.items()}


async def get(conn: AsyncConnection, ticket_id: str) -> Ticket | None:
    """Return one ticket, or None."""
    row = (
        await conn.execute(select(*_TICKET_COLUMNS).select_from(_TICKET_FROM)
                           .where(tickets.c.id == ticket_id))
    ).first()
    if row is None:
        return None
    return _ticket(row, (await _tags(conn, [ticket_id])).get(ticket_id, ()))


async def find(
    store: Store,
    site_ids: list[str],
    *,
    statuses: list[str] | None = None,
    assignee: str | None = None,
    priority: str | None = None,
    tag: str | None = None,
    contact_id: str | None = None,
    limit: int = 100,
) -> list[Ticket]:
    """List the sites' tickets, most recently changed first; assignee "none" finds unassigned."""
    query = select(*_TICKET_COLUMNS).select_from(_TICKET_FROM).where(tickets.c.site_id.in_(site_ids))
    if statuses:
        query = query.where(tickets.c.status.in_(statuses))
    if assignee == "none":
        query = query.where(tickets.c.assignee_id.is_(None))
    elif assignee:
        query = query.where(tickets.c.assignee_id == assignee)
    if priority:
        query = query.where(tickets.c.priority == priority)
    if contact_id:
        query = query.where(tickets.c.contact_id == contact_id)
    if tag:
        query = query.where(tickets.c.id.in_(
            select(ticket_tags.c.ticket_id).where(ticket_tags.c.tag == tag.lower())
        ))
    query = query.order_by(tickets.c.updated_at.desc(), tickets.c.id).limit(limit)
    async with store.read() as conn:
        rows = list(await conn.execute(query))
        tags = await _tags(conn, [row.id for row in rows])
    return [_ticket(row, tags.get(row.id, ())) for row in rows]


async def entries(store: Store, ticket_id: str) -> list[Entry]:
    """Return what was said on a ticket, oldest first, with its attachments (without data)."""
    query = (
        select(*ticket_entries.c, agents.c.name.label("agent_name"),
               contacts.c.name.label("contact_name"))
        .select_from(
            ticket_entries.join(tickets, tickets.c.id == ticket_entries.c.ticket_id)
            .join(contacts, contacts.c.id == tickets.c.contact_id)
            .outerjoin(agents, agents.c.id == ticket_entries.c.author_id)
        )
        .where(ticket_entries.c.ticket_id == ticket_id)
        .order_by(ticket_entries.c.created_at, ticket_entries.c.id)
    )
    files = (
        select(attachments.c.id, attachments.c.entry_id, attachments.c.filename,
               attachments.c.content_type, attachments.c.size)
        .join(ticket_entries, ticket_entries.c.id == attachments.c.entry_id)
        .where(ticket_entries.c.ticket_id == ticket_id)
    )
    async with store.read() as conn:
        rows = list(await conn.execute(query))
        by_entry: dict[str, list[dict[str, Any]]] = {}
        for f in await conn.execute(files):
            by_entry.setdefault(f.entry_id, []).append(
                {"id": f.id, "filename": f.filename, "content_type": f.content_type, "size": f.size}
            )
    return [
        Entry(
            row.id, row.ticket_id, row.kind, row.author_id,
            row.contact_name if row.kind == "customer" else row.agent_name,
            row.body, row.message_id, row.created_at, tuple(by_entry.get(row.id, ())),
        )
        for row in rows
    ]


async def attachment(store: Store, attachment_id: str) -> tuple[str, Upload] | None:
    """Return (ticket id, file) for one attachment, or None."""
    query = (
        select(ticket_entries.c.ticket_id, attachments.c.filename, attachments.c.content_type,
               attachments.c.data)
        .join(ticket_entries, ticket_entries.c.id == attachments.c.entry_id)
        .where(attachments.c.id == attachment_id)
    )
    async with store.read() as conn:
        row = (await conn.execute(query)).first()
    return (row.ticket_id, Upload(row.filename, row.content_type, row.data)) if row else None


# Changes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mailing:
    """What every mail of a ticket needs besides the ticket: the composer and the site."""

    composer: Composer
    site: Site

    @property
    def locale(self) -> str:
        return str(self.site.settings.get("locale", "en"))

    @property
    def support_address(self) -> str | None:
        value = self.site.settings.get("support_email")
        return value if isinstance(value, str) and value else None


def _context(ticket: Ticket, mailing: Mailing, **more: Any) -> dict[str, Any]:
    return {
        "site_name": mailing.site.name,
        "ticket": {"id": ticket.id, "subject": ticket.subject, "source": ticket.source},
        "contact_name": ticket.contact_name,
        "contact_email": ticket.contact_email,
        "transcript": [],
        "text": "",
        **more,
    }


async def _mail(
    conn: AsyncConnection, mailing: Mailing, ticket: Ticket, kind: Kind, to: Party,
    from_name: str, thread: list[str], message_id: str | None = None, **context: Any,
) -> str:
    mail = mailing.composer.compose(
        kind, mailing.locale, to=to, from_name=from_name, ticket_id=ticket.id, thread=thread,
        context=_context(ticket, mailing, **context), message_id=message_id, now_ms=now_ms(),
    )
    await outbox.enqueue(conn, mail, ticket.id)
    return mail.message_id


async def _thread(conn: AsyncConnection, ticket: Ticket) -> list[str]:
    """Return the Message-IDs a new mail to the customer follows: the root, then each mail."""
    ids = (
        await conn.execute(
            select(ticket_entries.c.message_id)
            .where(ticket_entries.c.ticket_id == ticket.id, ticket_entries.c.kind != "note")
            .where(ticket_entries.c.message_id.is_not(None))
            .order_by(ticket_entries.c.created_at, ticket_entries.c.id)
        )
    ).scalars()
    return list(dict.fromkeys([ticket.thread_id, *ids]))


async def _notify_staff(
    conn: AsyncConnection, mailing: Mailing, ticket: Ticket, event: str, text: str,
    transcript: list[dict[str, Any]], thread: list[str],
) -> None:
    staff = [mailing.support_address] if mailing.support_address else []
    # The assignee hears of the customer's replies; of a new ticket only if they did not make it.
    if ticket.assignee_id and event == "reply":
        email = (await conn.execute(
            select(agents.c.email).where(agents.c.id == ticket.assignee_id)
        )).scalar()
        if email:
            staff.append(str(email))
    for address in dict.fromkeys(a.lower() for a in staff if a):
        await _mail(conn, mailing, ticket, "notification", Party(address), mailing.site.name,
                    thread, event=event, text=text, transcript=transcript)


async def open_ticket(
    store: Store,
    mailing: Mailing,
    *,
    contact_id: str,
    source: Source,
    channel: str,
    conversation_id: str | None = None,
    transcript: list[dict[str, Any]] | None = None,
    subject: str | None = None,
    text: str | None = None,
    email: str | None = None,
    name: str | None = None,
    assignee_id: str | None = None,
    client_id: str | None = None,
    thread_root: str | None = None,
    follow_up_of: str | None = None,
    uploads: Sequence[Upload] = (),
) -> tuple[Ticket, bool]:
    """Open a ticket with its confirmation and notification mails; False if it existed.

    One ticket per chat and per (contact, client id): a second request finds the first.
    channel is where the customer came from (chatserver/channels.py); the caller checked
    that the site takes it.
    transcript is the chat as [{who, text, at}], for the mails; uploads go with text.
    """
    transcript = transcript or []
    first_words = text or next((line["text"] for line in transcript if line.get("visitor")), "")
    subject = header_text(subject or "", 200) or subject_from(first_words) or mailing.site.name
    now = now_ms()
    ticket_id = new_id()
    try:
        async with store.write() as conn:
            if email or name:
                known = {"email": email} if email else {}
                await conn.execute(update(contacts).where(contacts.c.id == contact_id)
                                   .values(**known, **({"name": name} if name else {})))
            await conn.execute(insert(tickets).values(
                id=ticket_id, site_id=mailing.site.id, contact_id=contact_id,
                conversation_id=conversation_id, client_id=client_id, subject=subject,
                status=Status.NEW.value, priority="normal", assignee_id=assignee_id,
                source=source.value, channel=channel, follow_up_of=follow_up_of,
                thread_id=thread_root or mailing.composer.new_message_id(),
                created_at=now, updated_at=now, solved_at=None,
            ))
            if text:
                entry_id = new_id()
                await conn.execute(insert(ticket_entries).values(
                    id=entry_id, ticket_id=ticket_id, kind="customer", author_id=contact_id,
                    client_id=client_id, body=text, message_id=thread_root, created_at=now,
                ))
                await _attach(conn, entry_id, uploads)
            ticket = await get(conn, ticket_id)
            assert ticket is not None
            thread = [thread_root] if thread_root else []
            if ticket.contact_email:
                await _mail(
                    conn, mailing, ticket, "confirmation",
                    Party(ticket.contact_email, ticket.contact_name), mailing.site.name, thread,
                    message_id=None if thread_root else ticket.thread_id, text=text or "",
                    transcript=transcript,
                )
            await _notify_staff(conn, mailing, ticket, "new", text or first_words, transcript,
                                [ticket.thread_id])
    except IntegrityError:
        async with store.read() as conn:
            existing = (await conn.execute(select(tickets.c.id).where(
                (tickets.c.conversation_id == conversation_id) if conversation_id else
                (tickets.c.contact_id == contact_id) & (tickets.c.client_id == client_id)
            ))).scalar()
            found = await get(conn, existing) if existing else None
        if found is None:
            raise
        return found, False
    return ticket, True


async def reply(
    store: Store, mailing: Mailing, ticket_id: str, agent_id: str, agent_name: str, text: str,
    *, client_id: str | None = None, status: Status | None = None,
) -> tuple[Ticket, Entry, bool]:
    """Answer the customer by mail; the reply and its outbox row are one transaction.

    False means the client id was seen before: the first reply is returned, nothing is sent.
    """
    now = now_ms()
    entry_id = new_id()
    try:
        async with store.write() as conn:
            ticket = await get(conn, ticket_id)
            if ticket is None:
                raise TicketError("not_found", "no such ticket")
            if not ticket.contact_email:
                raise TicketError(
                    "conflict", "the customer left no email address: add a private note instead"
                )
            if ticket.status is Status.CLOSED:
                raise TicketError("conflict", "the ticket is closed")
            now = await _entry_time(conn, ticket_id, now)
            thread = await _thread(conn, ticket)
            message_id = await _mail(
                conn, mailing, ticket, "reply", Party(ticket.contact_email, ticket.contact_name),
                f"{agent_name} ({mailing.site.name})", thread, text=text, agent_name=agent_name,
            )
            await conn.execute(insert(ticket_entries).values(
                id=entry_id, ticket_id=ticket_id, kind="agent", author_id=agent_id,
                client_id=client_id, body=text, message_id=message_id, created_at=now,
            ))
            target = after_agent_reply(ticket.status, status)
            await _set_status(conn, ticket, target, assignee_id=ticket.assignee_id or agent_id)
            changed = await get(conn, ticket_id)
    except IntegrityError:
        return await _earlier(store, ticket_id, agent_id, client_id)
    assert changed is not None
    return changed, Entry(entry_id, ticket_id, "agent", agent_id, agent_name, text, message_id,
                          now), True


async def note(
    store: Store, ticket_id: str, agent_id: str, agent_name: str, text: str,
    client_id: str | None = None,
) -> tuple[Ticket, Entry, bool]:
    """Add a private note: agents see it, the customer never gets it."""
    now = now_ms()
    entry_id = new_id()
    try:
        async with store.write() as conn:
            now = await _entry_time(conn, ticket_id, now)
            await conn.execute(insert(ticket_entries).values(
                id=entry_id, ticket_id=ticket_id, kind="note", author_id=agent_id,
                client_id=client_id, body=text, message_id=None, created_at=now,
            ))
            await conn.execute(update(tickets).where(tickets.c.id == ticket_id)
                               .values(updated_at=now))
            ticket = await get(conn, ticket_id)
    except IntegrityError:
        return await _earlier(store, ticket_id, agent_id, client_id)
    assert ticket is not None
    return ticket, Entry(entry_id, ticket_id, "note", agent_id, agent_name, text, None, now), True


async def _earlier(
    store: Store, ticket_id: str, agent_id: str, client_id: str | None
) -> tuple[Ticket, Entry, bool]:
    async with store.read() as conn:
        ticket = await get(conn, ticket_id)
    found = [e for e in await entries(store, ticket_id) if e.author_id == agent_id]
    async with store.read() as conn:
        ids = set((await conn.execute(select(ticket_entries.c.id).where(
            ticket_entries.c.ticket_id == ticket_id, ticket_entries.c.client_id == client_id,
        ))).scalars())
    match = [e for e in found if e.id in ids]
    if ticket is None or not match:
        raise TicketError("conflict", "the ticket changed meanwhile; try again")
    return ticket, match[0], False


async def _set_status(
    conn: AsyncConnection, ticket: Ticket, target: Status, **values: Any
) -> None:
    now = now_ms()
    if target is not ticket.status:
        values["solved_at"] = now if target is Status.SOLVED else None
        changed = (await conn.execute(
            update(tickets).where(tickets.c.id == ticket.id)
            .where(tickets.c.status.in_([s.value for s in sources(target)]))
            .values(status=target.value, updated_at=now, **values)
        )).rowcount
        if not changed:
            current = (await conn.execute(
                select(tickets.c.status).where(tickets.c.id == ticket.id))).scalar()
            raise IllegalTransition(Status(current or ticket.status), target)
    else:
        await conn.execute(update(tickets).where(tickets.c.id == ticket.id)
                           .values(updated_at=now, **values))


async def change(
    store: Store,
    ticket_id: str,
    *,
    status: Status | None = None,
    priority: str | None = None,
    assignee: tuple[str | None] | None = None,
    tags: list[str] | None = None,
) -> Ticket:
    """Change status (one conditional write), priority, assignee ((None,) unassigns) or tags."""
    async with store.write() as conn:
        ticket = await get(conn, ticket_id)
        if ticket is None:
            raise TicketError("not_found", "no such ticket")
        values: dict[str, Any] = {}
        if priority is not None:
            values["priority"] = priority
        if assignee is not None:
            values["assignee_id"] = assignee[0]
        await _set_status(conn, ticket, status or ticket.status, **values)
        if tags is not None:
            await conn.execute(ticket_tags.delete().where(ticket_tags.c.ticket_id == ticket_id))
            if tags:
                await conn.execute(insert(ticket_tags),
                                   [{"ticket_id": ticket_id, "tag": t} for t in tags])
        changed = await get(conn, ticket_id)
    assert changed is not None
    return changed


async def customer_wrote(
    store: Store, mailing: Mailing, ticket: Ticket, text: str, message_id: str | None,
    uploads: list[Upload],
) -> tuple[Ticket, Entry | None]:
    """Append a customer's mail; reopen a solved ticket, or open a follow-up of a closed one.

    Returns the ticket written to and the entry, or None for a mail already appended.
    """
    if after_customer_reply(ticket.status) is None:
        follow_up, _ = await open_ticket(
            store, mailing, contact_id=ticket.contact_id, source=Source.EMAIL,
            channel=channels.EMAIL, subject=ticket.subject, text=None, thread_root=None,
            follow_up_of=ticket.id,
        )
        ticket = follow_up
    now = now_ms()
    entry_id = new_id()
    try:
        async with store.write() as conn:
            now = await _entry_time(conn, ticket.id, now)
            await conn.execute(insert(ticket_entries).values(
                id=entry_id, ticket_id=ticket.id, kind="customer", author_id=ticket.contact_id,
                client_id=None, body=text, message_id=message_id, created_at=now,
            ))
            await _attach(conn, entry_id, uploads)
            current = await get(conn, ticket.id)
            assert current is not None
            target = after_customer_reply(current.status) or current.status
            await _set_status(conn, current, target)
            await _notify_staff(conn, mailing, current, "reply", text, [],
                                await _thread(conn, current))
            changed = await get(conn, ticket.id)
    except IntegrityError:
        return ticket, None  # the same Message-ID again: an SMTP retry, stored once
    assert changed is not None
    return changed, Entry(entry_id, ticket.id, "customer", ticket.contact_id, ticket.contact_name,
                          text, message_id, now)


async def contact_by_email(
    store: Store, site_id: str, email: str, channel: str = channels.EMAIL
) -> str:
    """Return the site's contact with this address that came by channel, creating one.

    Only contacts of the same channel match: an address a visitor typed into the widget is
    unverified, and matching it would hand a stranger's mail to whoever typed it. Joining a
    chat contact to its mail waits for a verified identity. The contact form's addresses are
    typed too, so its contacts stay apart from mail's, but a second form finds the first.
    """
    email = email.lower()
    by_mail = select(tickets.c.contact_id).where(tickets.c.channel == channel)
    async with store.write() as conn:
        found = (await conn.execute(
            select(contacts.c.id).where(contacts.c.site_id == site_id, contacts.c.email == email)
            .where(contacts.c.id.in_(by_mail)).order_by(contacts.c.created_at).limit(1)
        )).scalar()
        if found:
            return str(found)
        contact_id = new_id()
        await conn.execute(insert(contacts).values(
            id=contact_id, site_id=site_id, email=email, created_at=now_ms()
        ))
        return contact_id


async def _entry_time(conn: AsyncConnection, ticket_id: str, now: int) -> int:
    """Return now, or just after the ticket's latest entry if that is not earlier.

    A thread reads in time order; two entries in one millisecond (a reply and a note sent
    together) must still come out in the order they were written.
    """
    latest = (await conn.execute(
        select(func.max(ticket_entries.c.created_at)).where(ticket_entries.c.ticket_id == ticket_id)
    )).scalar()
    return now if latest is None or latest < now else int(latest) + 1


async def _attach(conn: AsyncConnection, entry_id: str, uploads: Sequence[Upload]) -> None:
    for upload in uploads:
        await conn.execute(insert(attachments).values(
            id=new_id(), entry_id=entry_id, filename=upload.filename,
            content_type=upload.content_type, size=len(upload.data), data=upload.data,
        ))
