"""A chat's transcript mailed to its visitor, on request after (or during) the chat.

The mail goes through the outbox like every other mail, so a mail server that is down delays
it and loses nothing. Anyone can type any address into the widget, which makes "send the
transcript to ..." a way to mail a stranger text of one's choosing; so a chat's transcript
goes to at most MAX_ADDRESSES addresses, settled by the outbox's unique Message-ID (one slot
per address), and asking again for the same address sends nothing new. Only the first slot
takes an address nobody proved or vouched for (limits/mail_proof.py), and every mail spends
the mail budgets of the visitor, their network, the site and the recipient.
"""

from __future__ import annotations

import hashlib
import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from chatserver import protocol
from chatserver.chat import commands, messages
from chatserver.chat.actors import Visitor
from chatserver.chat.effects import Effects
from chatserver.limits import mail_proof
from chatserver.mail import outbox as outbox_module
from chatserver.mail.compose import LOCALES, Party
from chatserver.protocol import ProtocolError
from chatserver.runtime import Runtime
from chatserver.store import now_ms
from chatserver.store.schema import outbox
from chatserver.tickets.handover import TRANSCRIPT_LIMIT, file_links, mail_of, transcript

log = logging.getLogger("chatserver.mail")

# Enough for "my work address, no, my home address" and a typo; not enough to spam with.
MAX_ADDRESSES = 3


def message_id(conversation_id: str, slot: int, domain: str) -> str:
    """Return the Message-ID of a chat's transcript mail number slot (1 to MAX_ADDRESSES).

    Derived, not random, so that the outbox's unique key caps the mails per chat; hashed, so
    the header does not show the conversation id.
    """
    digest = hashlib.sha256(f"transcript:{conversation_id}:{slot}".encode()).hexdigest()[:32]
    return f"<transcript.{digest}@{domain}>"


async def send(
    rt: Runtime, visitor: Visitor, conversation_id: str, email: str, locale: str | None,
    client_id: str | None,
) -> Effects:
    """Queue the conversation's transcript for email (the address checked by protocol.py)."""
    conversation = await commands.usable(rt, visitor, conversation_id, client_id)
    ref = client_id or conversation.id
    mail = mail_of(rt)
    chat = await messages.after(rt.store, conversation.id, 0, TRANSCRIPT_LIMIT + 1)
    if not chat:
        raise ProtocolError("conflict", "this chat has no messages to send yet", ref)
    site = visitor.site
    language = locale if locale in LOCALES else str(site.settings.get("locale", "en"))
    context = {
        "site_name": site.name,
        "started_at": conversation.created_at,
        "transcript": transcript(chat[:TRANSCRIPT_LIMIT], site.name, file_links(rt)),
        "truncated": len(chat) > TRANSCRIPT_LIMIT,
    }
    mids = [message_id(conversation.id, slot, mail.settings.domain) for slot in range(1, MAX_ADDRESSES + 1)]
    sent = await _recipients(rt, mids)
    if email.lower() in sent.values():
        return Effects().reply(protocol.transcript(conversation.id, email, duplicate=True))
    free = [mid for mid in mids if mid not in sent]
    if not await mail_proof.vouched(rt.store, visitor.contact_id, email):
        # An address nobody proved gets the chat's first slot, and only that.
        free = free[:1] if free[:1] == mids[:1] else []
        if not free:
            raise ProtocolError(
                "unproven_address",
                "this chat's transcript was already sent; confirm this address with the code "
                "we mail to it first (verify_email)", ref,
            )
    if not free:
        raise ProtocolError(
            "conflict", f"this chat's transcript was already sent to {MAX_ADDRESSES} addresses", ref
        )
    await mail_proof.charge(rt, visitor, email, ref)
    outgoing = mail.composer.compose(
        "transcript", language, to=Party(email), from_name=site.name, ticket_id=None,
        thread=[], context=context, message_id=free[0], now_ms=now_ms(),
    )
    try:
        async with rt.store.write() as conn:
            await outbox_module.enqueue(conn, outgoing, None)
    except IntegrityError:
        # Another tab took the slot at the same moment: the same address is the same request.
        if (await _recipients(rt, free[:1])).get(free[0]) == email.lower():
            return Effects().reply(protocol.transcript(conversation.id, email, duplicate=True))
        raise ProtocolError("conflict", "another transcript was sent just now; ask again", ref) from None
    mail.queued()
    log.info("event=transcript_queued conversation=%s slot=%d", conversation.id, mids.index(free[0]) + 1)
    return Effects().reply(protocol.transcript(conversation.id, email, duplicate=False))


async def _recipients(rt: Runtime, mids: list[str]) -> dict[str, str]:
    """Return who each of these transcript mails went to, by Message-ID."""
    async with rt.store.read() as conn:
        rows = await conn.execute(
            select(outbox.c.message_id, outbox.c.recipients).where(outbox.c.message_id.in_(mids))
        )
        return {row.message_id: str(row.recipients[0]).lower() for row in rows if row.recipients}
