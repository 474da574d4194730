"""Where mail a visitor causes may go: addresses they proved, or that their site vouched for.

Anyone can type any address into a chat, which makes "mail me" a way to mail a stranger in
the site's name. So a transcript or a handed-over chat's mail goes to an address the site
vouched for (a verified identity's email), an address the visitor proved with a one-time code
mailed to it (verify_email, then confirm_email), or else at most once per conversation to one
address. A proof also joins the visitor to the contact that owns the address (contact_proof).
Every mail, proven or not, also spends the "mail" door's budgets (per network, visitor, site
and recipient).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from chatserver import auth, contact_proof, protocol
from chatserver.chat import topics
from chatserver.chat.actors import Visitor
from chatserver.chat.effects import Effects
from chatserver.mail import outbox
from chatserver.mail.compose import LOCALES, Party
from chatserver.protocol import ProtocolError
from chatserver.runtime import Runtime
from chatserver.store import Store, now_ms
from chatserver.store.schema import contacts, email_proofs
from chatserver.webhooks import events

log = logging.getLogger("chatserver.mail")

CODE_MINUTES = 10
# Five tries at a six-digit code: a guesser's odds are 1 in 200,000 per mailed code, and
# each mailed code spends the mail budget.
CODE_TRIES = 5


def _hash(contact_id: str, email: str, code: str) -> str:
    return hashlib.sha256(f"{contact_id}|{email}|{code}".encode()).hexdigest()


async def vouched(store: Store, contact_id: str, email: str) -> bool:
    """Tell whether mail may go to email without the once-per-chat rule."""
    email = email.lower()
    async with store.read() as conn:
        contact = (await conn.execute(
            select(contacts.c.external_id, contacts.c.email).where(contacts.c.id == contact_id)
        )).first()
        if contact is not None and contact.external_id and (contact.email or "").lower() == email:
            return True  # the site signed this user's identity, address included
        proven = (await conn.execute(
            select(email_proofs.c.proven_at).where(
                email_proofs.c.contact_id == contact_id, email_proofs.c.email == email)
        )).scalar()
    return proven is not None


async def charge(rt: Runtime, visitor: Visitor, recipient: str, ref: str | None) -> None:
    """Spend one mail of the visitor's budgets (and the recipient's); raise Limited when spent."""
    await rt.gate.check(visitor.site, "mail", network=visitor.network, visitor=visitor.contact_id,
                        recipient=recipient.lower(), ref=ref)


async def request(
    rt: Runtime, visitor: Visitor, email: str, locale: str | None, client_id: str | None
) -> Effects:
    """Mail a one-time code to email (verify_email); an address already proven gets none."""
    if await vouched(rt.store, visitor.contact_id, email):
        return await _proven(rt, visitor, email)
    await charge(rt, visitor, email, client_id)
    if rt.mail is None:
        raise RuntimeError("the mail service is not started")
    code = f"{secrets.randbelow(10**6):06d}"
    site = visitor.site
    language = locale if locale in LOCALES else str(site.settings.get("locale", "en"))
    now = now_ms()
    mail = rt.mail.composer.compose(
        "email_code", language, to=Party(email), from_name=site.name, ticket_id=None, thread=[],
        context={"site_name": site.name, "code": code, "minutes": CODE_MINUTES}, now_ms=now,
    )
    values = {"code_hash": _hash(visitor.contact_id, email, code),
              "expires_at": now + CODE_MINUTES * 60_000, "tries_left": CODE_TRIES}
    where = (email_proofs.c.contact_id == visitor.contact_id) & (email_proofs.c.email == email)
    for _ in range(2):
        try:
            async with rt.store.write() as conn:
                changed = await conn.execute(update(email_proofs).where(where).values(**values))
                if not changed.rowcount:
                    await conn.execute(insert(email_proofs).values(
                        contact_id=visitor.contact_id, email=email, proven_at=None, created_at=now,
                        **values))
                await outbox.enqueue(conn, mail, None)
            break
        except IntegrityError:
            continue  # another tab asked at the same moment: update its row instead
    rt.mail.queued()
    log.info("event=email_code_sent contact=%s", visitor.contact_id)
    return Effects().reply(protocol.email_proof(email, proven=False))


async def confirm(rt: Runtime, visitor: Visitor, email: str, code: str, client_id: str | None) -> Effects:
    """Prove email with the code mailed to it (confirm_email)."""
    where = (email_proofs.c.contact_id == visitor.contact_id) & (email_proofs.c.email == email)
    now = now_ms()
    async with rt.store.write() as conn:
        # A try is spent before the code is compared, in one conditional write: guesses sent
        # at once cannot share a try.
        spent = await conn.execute(
            update(email_proofs)
            .where(where, email_proofs.c.tries_left > 0, email_proofs.c.expires_at >= now,
                   email_proofs.c.proven_at.is_(None))
            .values(tries_left=email_proofs.c.tries_left - 1)
        )
        row = (await conn.execute(select(email_proofs).where(where))).first()
    if row is not None and row.proven_at is not None:
        return await _proven(rt, visitor, email)
    if row is None or not spent.rowcount:
        raise ProtocolError("wrong_code", "no code is waiting for this address: ask for a new one",
                            client_id)
    if not hmac.compare_digest(row.code_hash, _hash(visitor.contact_id, email, code)):
        raise ProtocolError("wrong_code", f"that code is not right; {row.tries_left} tries left"
                            if row.tries_left else "that code is not right; ask for a new one",
                            client_id)
    async with rt.store.write() as conn:
        await conn.execute(update(email_proofs).where(where).values(proven_at=now_ms()))
    log.info("event=email_proven contact=%s", visitor.contact_id)
    return await _proven(rt, visitor, email)


async def _proven(rt: Runtime, visitor: Visitor, email: str) -> Effects:
    """Answer a proven address, joining the visitor to the contact that owns it, if any.

    Asked again for an address proven earlier, the join happens then: proofs made before
    joining existed still count.
    """
    site = visitor.site.id
    joined = await contact_proof.join(rt.store, site, visitor.contact_id, email)
    if joined is None:
        return Effects().reply(protocol.email_proof(email, proven=True))
    # The visitor's contact is gone: each of their tabs reconnects as the owner with this token.
    token = rt.signer.visitor_token(auth.VisitorIdentity(site, joined))
    proof = protocol.email_proof(email, proven=True, token=token)
    return (Effects().reply(proof).publish(topics.visitor(visitor.contact_id), proof, skip_actor=True)
            .happened(events.contact(events.CONTACT_MERGED, site, joined, merged_from=visitor.contact_id)))
