"""Inbound mail: replies by SMTP (mail/listener.py) or HTTP, threaded into tickets or quarantined.

Inbound mail is unauthenticated. A mail is appended only when it names a ticket by a valid
signed reply address (or, without one, by a Message-ID only our mails carried), comes from
the ticket's customer or an agent of its site, and its From domain is proven by SPF, DKIM or
DMARC (mail/authentication.py). Anything else is quarantined whole for an admin, with the
reason: never silently appended, and dropped only past the quarantine's cap, oldest first.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, insert, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chatserver import agents, protocol, sites
from chatserver.chat.actors import Staff
from chatserver.mail import authentication
from chatserver.mail.addresses import AddressError, check_address, check_name, header_text, message_ids
from chatserver.mail.authentication import Origin
from chatserver.mail.quoting import html_to_text, visible_reply
from chatserver.protocol import ProtocolError
from chatserver.store import new_id, now_ms
from chatserver.store.schema import outbox, quarantine
from chatserver.store.schema import tickets as tickets_table
from chatserver.tickets import commands, handover, records
from chatserver.tickets.rules import Ticket, Upload

if TYPE_CHECKING:
    from chatserver.runtime import Runtime

log = logging.getLogger("chatserver.mail")

# One attachment above this is not kept (the entry says so): screenshots and PDFs fit.
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
# The text of one mail kept on a ticket; a longer one is cut with a note, the raw mail
# itself is not stored, so this bounds what a sender can make the store hold per mail.
MAX_BODY_CHARS = 50_000


@dataclass(frozen=True)
class Verdict:
    outcome: str  # appended, duplicate, opened, quarantined
    ticket_id: str | None = None
    reason: str | None = None


def _parse(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def _text(message: EmailMessage) -> str:
    """Return the body's new text: plain text preferred, HTML turned to text otherwise."""
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, UnicodeError):
        content = part.get_payload(decode=True).decode("utf-8", "replace")  # type: ignore[union-attr]
    text = html_to_text(content) if part.get_content_type() == "text/html" else str(content)
    text = visible_reply(text)
    if len(text) > MAX_BODY_CHARS:
        text = text[:MAX_BODY_CHARS] + f"\n[cut: the mail was longer than {MAX_BODY_CHARS} characters]"
    return text


def _uploads(message: EmailMessage) -> tuple[list[Upload], list[str]]:
    """Return the attachments to keep, and a line for each one refused for its size."""
    kept: list[Upload] = []
    refused: list[str] = []
    for part in message.iter_attachments():
        assert isinstance(part, EmailMessage)
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            continue
        filename = header_text(part.get_filename() or "attachment", 255) or "attachment"
        if len(data) > MAX_ATTACHMENT_BYTES:
            refused.append(
                f"[attachment {filename} ({len(data) // (1024 * 1024)} MB) not kept: files over "
                f"{MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB are refused]"
            )
            continue
        kept.append(Upload(filename, header_text(part.get_content_type(), 127), data))
    return kept, refused


def _is_automatic(message: EmailMessage, sender: str) -> bool:
    """Tell whether a mail came from a robot: out-of-office, bounce, list. Answering loops."""
    auto = str(message.get("Auto-Submitted", "no")).strip().lower()
    precedence = str(message.get("Precedence", "")).strip().lower()
    local = sender.split("@", 1)[0]
    return auto != "no" or precedence in ("bulk", "junk", "list") or local in (
        "mailer-daemon", "postmaster"
    )


async def _ticket_by_thread(rt: Runtime, message: EmailMessage) -> str | None:
    """Return the ticket whose mail this one answers, from In-Reply-To and References."""
    ids = message_ids(str(message.get("In-Reply-To", ""))) + message_ids(
        str(message.get("References", ""))
    )
    if not ids:
        return None
    async with rt.store.read() as conn:
        found = (await conn.execute(
            select(outbox.c.ticket_id).where(outbox.c.message_id.in_(ids[-20:]))
            .where(outbox.c.ticket_id.is_not(None)).limit(1)
        )).scalar()
        if found is None:
            found = (await conn.execute(
                select(tickets_table.c.id).where(tickets_table.c.thread_id.in_(ids[-20:])).limit(1)
            )).scalar()
    return str(found) if found else None


async def _quarantine(
    rt: Runtime, raw: bytes, reason: str, sender: str, recipients: list[str], subject: str,
    ticket_id: str | None = None, detail: str | None = None,
) -> Verdict:
    cap = rt.settings.mail.quarantine_cap
    async with rt.store.write() as conn:
        await conn.execute(insert(quarantine).values(
            id=new_id(), ticket_id=ticket_id, reason=reason, detail=detail, sender=sender[:320],
            recipients=recipients[:50], subject=subject, raw=raw, received_at=now_ms(),
        ))
        held_now = (await conn.execute(select(func.count()).select_from(quarantine))).scalar_one()
        dropped = []
        if held_now > cap:
            dropped = list(await conn.execute(
                select(quarantine.c.id, quarantine.c.sender, quarantine.c.reason, quarantine.c.received_at)
                .order_by(quarantine.c.received_at, quarantine.c.id).limit(held_now - cap)
            ))
            await conn.execute(delete(quarantine).where(quarantine.c.id.in_([d.id for d in dropped])))
    log.warning("event=mail_quarantined reason=%s ticket=%s detail=%s", reason, ticket_id, detail)
    for gone in dropped:
        log.warning("event=mail_quarantine_full cap=%d dropped=%s reason=%s sender=%s received_at=%d",
                    cap, gone.id, gone.reason, gone.sender, gone.received_at)
    return Verdict("quarantined", ticket_id, reason)


async def _unproven(rt: Runtime, raw: bytes, origin: Origin | None) -> str | None:
    """Return why the mail's From domain is not proven, or None when SPF/DKIM/DMARC prove it."""
    verdict = await authentication.authenticate(raw, origin, rt.settings.mail.dns_server)
    log.info("event=mail_authenticated spf=%s dkim=%s dmarc=%s passed=%s reason=%s", verdict.spf,
             verdict.dkim, verdict.dmarc, verdict.passed, verdict.reason)
    return None if verdict.passed else verdict.summary


async def receive(
    rt: Runtime, raw: bytes, envelope_to: list[str], origin: Origin | None = None
) -> Verdict:
    """Thread one inbound mail into its ticket, or quarantine it; never lose it.

    origin is the SMTP client's address and envelope, for SPF; mail posted over HTTP has none,
    so only DKIM can prove it.
    """
    message = _parse(raw)
    subject = header_text(str(message.get("Subject", "")), 500)
    name, sender = parseaddr(str(message.get("From", "")))
    recipients = list(envelope_to) + [
        address for _, address in getaddresses(
            [str(v) for key in ("To", "Cc", "Delivered-To", "X-Original-To")
             for v in message.get_all(key, [])]
        ) if address
    ]

    async def hold(reason: str, ticket_id: str | None = None, detail: str | None = None) -> Verdict:
        return await _quarantine(rt, raw, reason, sender, recipients, subject, ticket_id, detail)

    try:
        sender = check_address(sender).lower()
    except AddressError:
        return await hold("bad_sender")
    if _is_automatic(message, sender):
        return await hold("automatic")
    mail = handover.mail_of(rt)
    ticket_id: str | None = None
    for address in recipients:
        found, valid = mail.composer.replies.read(address)
        if found and not valid:
            return await hold("bad_token")
        if found:
            ticket_id = found
            break
    ticket_id = ticket_id or await _ticket_by_thread(rt, message)
    if ticket_id is None:
        return await hold("no_ticket")
    async with rt.store.read() as conn:
        ticket = await records.get(conn, ticket_id)
    site = await sites.by_id(rt.store, ticket.site_id) if ticket else None
    if ticket is None or site is None:
        return await hold("no_ticket")

    text = _text(message)
    uploads, refused = _uploads(message)
    text = "\n\n".join(part for part in (text, *refused) if part)
    raw_ids = message_ids(str(message.get("Message-ID", "")))
    message_id = raw_ids[0] if raw_ids else None

    customer = bool(ticket.contact_email) and sender == (ticket.contact_email or "").lower()
    agent = None if customer else await _agent_of_site(rt, sender, site.id)
    opens = site.settings.get("tickets_from_new_senders") is True
    if not (customer or agent or opens):
        return await hold("unknown_sender", ticket.id)
    # Only now, when the mail would be stored as someone's words, is the From line checked:
    # the DNS lookups are not spent on mail that is held anyway.
    why = await _unproven(rt, raw, origin)
    if why is not None:
        return await hold("unauthenticated", ticket.id, why)
    if customer:
        if rt.gate.blocks.blocked(site.id, ticket.contact_id):
            return await hold("blocked", ticket.id)  # an agent blocked this customer: kept, not added
        done = await commands.customer_wrote(rt, ticket, text, message_id, uploads)
        await rt.hub.deliver(done.effects)
        return Verdict("appended" if done.created else "duplicate", done.ticket.id)
    if agent is not None:
        done = await commands.reply(rt, Staff(agent, [site.id]), ticket.id, text,
                                    client_id=_client_id(message_id))
        await rt.hub.deliver(done.effects)
        return Verdict("appended" if done.created else "duplicate", done.ticket.id)
    try:
        return await _new_sender(rt, site, ticket, sender, name, text, message_id, subject, uploads)
    except ProtocolError as refused:
        # Email is switched off for new tickets: held with the reason (channel_off), and
        # not bounced, since a bounce to a forged sender is backscatter.
        return await hold(refused.code, ticket.id)


async def held(rt: Runtime, limit: int) -> list[dict[str, Any]]:
    """Return the held mail, newest first, without its raw bytes."""
    async with rt.store.read() as conn:
        rows = await conn.execute(
            select(quarantine.c.id, quarantine.c.ticket_id, quarantine.c.reason, quarantine.c.detail,
                   quarantine.c.sender, quarantine.c.subject, quarantine.c.received_at)
            .order_by(quarantine.c.received_at.desc()).limit(limit)
        )
        return [dict(row._mapping) for row in rows]


class Unreleasable(Exception):
    """Held mail that cannot become a ticket; the message says why."""


async def release(rt: Runtime, held_id: str) -> str | None:
    """Open held mail as a new ticket of its sender, in the site of the ticket it answered.

    Return the ticket's id, or None when no such mail is held. Raise Unreleasable when the
    mail named no ticket (so no site to open it in) or its sender is no address. Released
    twice (a double click, two admins), it is one ticket: its Message-ID is the client id.
    """
    async with rt.store.read() as conn:
        held = (await conn.execute(
            select(quarantine.c.ticket_id, quarantine.c.raw).where(quarantine.c.id == held_id)
        )).first()
        ticket = await records.get(conn, held.ticket_id) if held and held.ticket_id else None
    if held is None:
        return None
    site = await sites.by_id(rt.store, ticket.site_id) if ticket else None
    if ticket is None or site is None:
        raise Unreleasable("it answers no ticket, so there is no site to open it in")
    message = _parse(held.raw)
    name, sender = parseaddr(str(message.get("From", "")))
    try:
        sender = check_address(sender).lower()
    except AddressError:
        raise Unreleasable("its sender is not an email address") from None
    uploads, refused = _uploads(message)
    text = "\n\n".join(part for part in (_text(message), *refused) if part)
    raw_ids = message_ids(str(message.get("Message-ID", "")))
    try:
        verdict = await _new_sender(
            rt, site, ticket, sender, name, text, raw_ids[0] if raw_ids else None,
            header_text(str(message.get("Subject", "")), 500), uploads,
        )
    except ProtocolError as refused:  # email switched off: it stays held
        raise Unreleasable(refused.message) from None
    await discard(rt, held_id)
    log.info("event=mail_released held=%s ticket=%s", held_id, verdict.ticket_id)
    return verdict.ticket_id


async def discard(rt: Runtime, held_id: str) -> None:
    """Delete held mail for good (gone already is fine: another tab or admin was first)."""
    async with rt.store.write() as conn:
        await conn.execute(delete(quarantine).where(quarantine.c.id == held_id))


def _client_id(message_id: str | None) -> str | None:
    # An agent's mail delivered twice is one reply: its Message-ID stands in for a client id.
    return message_id[1:-1][:64] if message_id else None


async def _agent_of_site(rt: Runtime, email: str, site_id: str) -> agents.Agent | None:
    for agent in await agents.all_agents(rt.store):
        if agent.email == email and not agent.disabled and await agents.serves(rt.store, agent, site_id):
            return agent
    return None


async def _new_sender(
    rt: Runtime, site: sites.Site, ticket: Ticket, sender: str, name: str, text: str,
    message_id: str | None, subject: str, uploads: list[Upload],
) -> Verdict:
    try:
        clean_name: str | None = check_name(name) if name else None
    except AddressError:
        clean_name = None
    done = await commands.open_from_mail(
        rt, site, email=sender, name=clean_name, subject=subject or ticket.subject,
        text=text or "(no text)", message_id=message_id, client_id=_client_id(message_id),
        uploads=uploads,
    )
    await rt.hub.deliver(done.effects)
    return Verdict("opened", done.ticket.id)


# The HTTP endpoint -------------------------------------------------------------------------


async def http_endpoint(request: Request) -> Response:
    """POST /api/v1/inbound-mail: raw MIME from a provider's webhook, with the shared secret."""
    rt: Runtime = request.app.state.runtime
    secret = rt.settings.mail.inbound_secret
    if not secret:
        return _error(404, "not_found", "inbound mail over HTTP is off: set CHATSERVER_INBOUND_SECRET")
    given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), secret.encode()):
        return _error(401, "unauthorized", "wrong or missing inbound mail secret")
    limit = rt.settings.mail.max_message_bytes
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            return _error(413, "too_large", f"mail is larger than {limit} bytes")
    if not raw.strip():
        return _error(400, "invalid_message", "the body must be a raw MIME message")
    verdict = await receive(rt, raw, request.query_params.getlist("to"))
    log.info("event=mail_received via=http outcome=%s ticket=%s", verdict.outcome, verdict.ticket_id)
    body: dict[str, Any] = {"outcome": verdict.outcome, "ticket": verdict.ticket_id}
    if verdict.reason:
        body["reason"] = verdict.reason
    return JSONResponse(body, status_code=202 if verdict.outcome == "quarantined" else 200)


def _error(status: int, code: str, message: str) -> Response:
    return JSONResponse(protocol.error(code, message), status_code=status)
