"""Every action on a ticket, as one command: check, write, return what to deliver.

The ticket API, the console and inbound mail call these; like chat/commands.py, a refusal
is a ProtocolError and changes nothing stored. Each answers with a Done: what was written,
for the HTTP answer, and the effects for the hub.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from chatserver import channels, sites
from chatserver.chat.actors import Integration, Staff
from chatserver.chat.commands import require_channel
from chatserver.chat.effects import Effects
from chatserver.protocol import ProtocolError
from chatserver.runtime import Runtime
from chatserver.tickets import records
from chatserver.tickets.handover import announce, mail_of
from chatserver.tickets.rules import Entry, IllegalTransition, Source, Status, Ticket, TicketError, Upload
from chatserver.webhooks import events

log = logging.getLogger("chatserver.tickets")


@dataclass(frozen=True)
class Done:
    ticket: Ticket
    entry: Entry | None
    created: bool  # False: a resend (same client id or Message-ID) found the first one
    effects: Effects


async def visible(rt: Runtime, staff: Staff | Integration, ticket_id: str) -> Ticket:
    """Return a ticket of the actor's sites; the same refusal for absent and foreign."""
    async with rt.store.read() as conn:
        ticket = await records.get(conn, ticket_id)
    if ticket is None or ticket.site_id not in staff.site_ids:
        raise ProtocolError("not_found", "no such ticket", ticket_id)
    return ticket


def _updated(created: bool) -> str | None:
    """Name the webhook event of a reply or note: none for a resend that found the first one."""
    return events.TICKET_UPDATED if created else None


def _refused(error: TicketError | IllegalTransition, ref: str) -> ProtocolError:
    if isinstance(error, IllegalTransition):
        return ProtocolError("conflict", str(error), ref)
    return ProtocolError(error.code, error.message, ref)


async def _site(rt: Runtime, site_id: str) -> sites.Site:
    site = await sites.by_id(rt.store, site_id)
    if site is None:
        raise ProtocolError("not_found", "no such site", site_id)
    return site


async def change(
    rt: Runtime, staff: Staff | Integration, ticket_id: str, *, status: Status | None = None,
    priority: str | None = None, assignee: tuple[str | None] | None = None,
    tags: list[str] | None = None,
) -> Done:
    """Change a ticket's status, priority, assignee ((None,) unassigns) or tags."""
    ticket = await visible(rt, staff, ticket_id)
    try:
        changed = await records.change(rt.store, ticket.id, status=status, priority=priority,
                                       assignee=assignee, tags=tags)
    except (TicketError, IllegalTransition) as refused:
        raise _refused(refused, ticket.id) from None
    return Done(changed, None, True, announce(rt, changed, happened=events.TICKET_UPDATED))


async def reply(
    rt: Runtime, staff: Staff, ticket_id: str, text: str, client_id: str | None = None,
    status: Status | None = None,
) -> Done:
    """Answer the customer by mail (from the console, or an agent's own mail client)."""
    ticket = await visible(rt, staff, ticket_id)
    mailing = mail_of(rt).mailing(await _site(rt, ticket.site_id))
    try:
        changed, entry, created = await records.reply(
            rt.store, mailing, ticket.id, staff.agent.id, staff.agent.name, text,
            client_id=client_id, status=status,
        )
    except (TicketError, IllegalTransition) as refused:
        raise _refused(refused, ticket.id) from None
    return Done(changed, entry, created, announce(rt, changed, happened=_updated(created)))


async def note(
    rt: Runtime, staff: Staff, ticket_id: str, text: str, client_id: str | None = None
) -> Done:
    """Add a private note: agents see it, the customer never gets it."""
    ticket = await visible(rt, staff, ticket_id)
    changed, entry, created = await records.note(
        rt.store, ticket.id, staff.agent.id, staff.agent.name, text, client_id
    )
    return Done(changed, entry, created, announce(rt, changed, happened=_updated(created)))


async def customer_wrote(
    rt: Runtime, ticket: Ticket, text: str, message_id: str | None, uploads: list[Upload]
) -> Done:
    """Append a customer's mail (inbound mail checked its sender); reopen or follow up."""
    mailing = mail_of(rt).mailing(await _site(rt, ticket.site_id))
    written, entry = await records.customer_wrote(rt.store, mailing, ticket, text, message_id, uploads)
    if entry is None:
        return Done(written, None, False, Effects())
    log.info("event=ticket_customer_reply ticket=%s reopened=%s", written.id,
             ticket.status.value != written.status.value)
    return Done(written, entry, True, announce(rt, written, happened=events.TICKET_UPDATED))


async def open_from_api(
    rt: Runtime, site: sites.Site, *, contact_id: str, subject: str | None, text: str,
    client_id: str | None, channel: str,
) -> Done:
    """Open a ticket for a contact of the site that the site's own systems name (public API),
    on the channel of the integration that calls."""
    opened, created = await records.open_ticket(
        rt.store, mail_of(rt).mailing(site), contact_id=contact_id, source=Source.API,
        channel=channel, subject=subject, text=text, client_id=client_id,
    )
    if created:
        log.info("event=ticket_opened ticket=%s site=%s source=api", opened.id, site.id)
    return Done(opened, None, created,
                announce(rt, opened, happened=events.TICKET_CREATED if created else None))


async def open_from_mail(
    rt: Runtime, site: sites.Site, *, email: str, name: str | None, subject: str, text: str,
    message_id: str | None, client_id: str | None, uploads: list[Upload],
) -> Done:
    """Open a ticket for a mail from a new sender (where the site allows it, or released).

    Refused with channel_off while the site has switched email off.
    """
    await require_channel(rt, site.id, channels.EMAIL, client_id)
    contact_id = await records.contact_by_email(rt.store, site.id, email)
    opened, created = await records.open_ticket(
        rt.store, mail_of(rt).mailing(site), contact_id=contact_id, source=Source.EMAIL,
        channel=channels.EMAIL, subject=subject, text=text, name=name, thread_root=message_id,
        client_id=client_id, uploads=uploads,
    )
    if created:
        log.info("event=ticket_opened ticket=%s site=%s source=email", opened.id, site.id)
    return Done(opened, None, created,
                announce(rt, opened, happened=events.TICKET_CREATED if created else None))


async def open_from_form(
    rt: Runtime, site: sites.Site, *, email: str, name: str | None, subject: str | None,
    text: str, client_id: str,
) -> Done:
    """Open a ticket from the web contact form; the confirmation mail starts its thread.

    Refused with channel_off while the site has switched the form off. A form sent twice
    (same client id, the token of one page) is one ticket.
    """
    await require_channel(rt, site.id, channels.FORM, client_id)
    contact_id = await records.contact_by_email(rt.store, site.id, email, channels.FORM)
    opened, created = await records.open_ticket(
        rt.store, mail_of(rt).mailing(site), contact_id=contact_id, source=Source.FORM,
        channel=channels.FORM, subject=subject, text=text, name=name, client_id=client_id,
    )
    if created:
        log.info("event=ticket_opened ticket=%s site=%s source=form", opened.id, site.id)
    return Done(opened, None, created,
                announce(rt, opened, happened=events.TICKET_CREATED if created else None))
