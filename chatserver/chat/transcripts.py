"""A chat's transcript mailed to its visitor, on request after (or during) the chat.

The mail goes through the outbox like every other mail, so a mail server that is down delays
it and loses nothing. Anyone can type any address into the widget, which makes "send the
transcript to ..." a way to mail a stranger text of one's choosing; so a chat's transcript
goes to at most MAX_ADDRESSES addresses, settled by the outbox's unique Message-ID (one slot
per address), and asking again for the same address sends nothing new.
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
    for slot in range(1, MAX_ADDRESSES + 1):
        mid = message_id(conversation.id, slot, mail.settings.domain)
        outgoing = mail.composer.compose(
            "transcript", language, to=Party(email), from_name=site.name, ticket_id=None,
            thread=[], context=context, message_id=mid, now_ms=now_ms(),
        )
        try:
            async with rt.store.write() as conn:
                await outbox_module.enqueue(conn, outgoing, None)
        except IntegrityError:
            # This slot is taken: by the same address (a resend), or by another one.
            if await _recipient(rt, mid) == email.lower():
                return Effects().reply(protocol.transcript(conversation.id, email, duplicate=True))
            continue
        mail.queued()
        log.info("event=transcript_queued conversation=%s slot=%d", conversation.id, slot)
        return Effects().reply(protocol.transcript(conversation.id, email, duplicate=False))
    raise ProtocolError(
        "conflict", f"this chat's transcript was already sent to {MAX_ADDRESSES} addresses", ref
    )


async def _recipient(rt: Runtime, mid: str) -> str | None:
    async with rt.store.read() as conn:
        recipients = (
            await conn.execute(select(outbox.c.recipients).where(outbox.c.message_id == mid))
        ).scalar()
    return str(recipients[0]).lower() if recipients else None
