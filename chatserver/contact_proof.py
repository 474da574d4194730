"""A visitor who proves an address joins the contact that owns it: one person, one history.

Proving is the only way in. An address typed into the widget (a prechat form, leave_email, an
unsigned identity) describes the anonymous visitor who typed it and nobody else: matching on
it would show a stranger's chats to whoever types their address, which is how other products
merge contacts wrongly. So a contact owns an address on its site only when

- the site vouched for it: a signed identity (external id) whose email it is;
- someone proved it with a mailed code (email_proofs.proven_at), or
- it wrote in by mail on that address (a ticket on the email channel, whose sender passed
  SPF/DKIM/DMARC), as long as no widget visitor ever joined it: a joined contact is held by a
  widget token, and its holder could retype its email into a prechat form, so from then on
  only its proofs count (a join always brings one).

Only an anonymous visitor joins: a signed-in user's history follows their site identity.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver import channels, customers
from chatserver.store import Store
from chatserver.store.schema import contacts, email_proofs, tickets

log = logging.getLogger("chatserver.contacts")


@dataclass(frozen=True)
class Holder:
    """A contact of the site that has something to do with an address, as plain data."""

    contact_id: str
    created_at: int
    external_id: str | None
    email: str | None  # the contact's email column, in whatever case it was stored
    proven: bool  # a code mailed to the address was typed back by this contact
    mailed: bool  # the contact wrote in by mail (a ticket on the email channel)
    proofs: int  # how many addresses this contact proved, this one included


def _rank(holder: Holder, email: str) -> int | None:
    """Return how strongly holder owns email (lower is stronger), or None if it does not."""
    same = (holder.email or "").lower() == email
    if holder.external_id is not None and same:
        return 0
    if holder.proven:
        return 1
    if holder.mailed and same and holder.external_id is None and not holder.proofs:
        return 2
    return None


def owner(holders: Sequence[Holder], email: str, current: str) -> str | None:
    """Return the contact whose history the prover of email joins, or None.

    The strongest claim wins (signed identity, then a proof, then mail); among equals the
    oldest contact, which is the one agents have known longest.
    """
    email = email.lower()
    ranked = [(rank, h.created_at, h.contact_id) for h in holders
              if h.contact_id != current and (rank := _rank(h, email)) is not None]
    return min(ranked)[2] if ranked else None


async def holders(conn: AsyncConnection, site_id: str, email: str) -> list[Holder]:
    """Read the site's contacts that carry email or proved it."""
    email = email.lower()
    proven = select(email_proofs.c.contact_id).where(
        email_proofs.c.email == email, email_proofs.c.proven_at.is_not(None))
    mailed = exists().where(tickets.c.contact_id == contacts.c.id,
                            tickets.c.channel == channels.EMAIL)
    proofs = (select(func.count()).where(email_proofs.c.contact_id == contacts.c.id,
                                         email_proofs.c.proven_at.is_not(None))
              .scalar_subquery())
    rows = await conn.execute(
        select(contacts.c.id, contacts.c.created_at, contacts.c.external_id, contacts.c.email,
               contacts.c.id.in_(proven).label("proven"), mailed.label("mailed"),
               proofs.label("proofs"))
        .where(contacts.c.site_id == site_id,
               or_(func.lower(contacts.c.email) == email, contacts.c.id.in_(proven)))
    )
    return [Holder(r.id, r.created_at, r.external_id, r.email, bool(r.proven), bool(r.mailed),
                   int(r.proofs)) for r in rows]


async def join(store: Store, site_id: str, contact_id: str, email: str) -> str | None:
    """Fold the anonymous contact that just proved email into the contact owning it.

    Return the owner's id when the visitor joined it (their chats and tickets are the owner's
    from now on), or None when they stay who they are: a signed-in user, nobody owns the
    address yet, or a contact is gone (another tab joined a moment ago).
    """
    async with store.read() as conn:
        found = {h.contact_id: h for h in await holders(conn, site_id, email)}
    me = found.get(contact_id)
    # The proof was stored just before this, so a visitor still here is among the holders.
    if me is None or me.external_id is not None:
        return None
    kept = owner(list(found.values()), email, contact_id)
    if kept is None:
        return None
    try:
        # The merge checks both contacts again inside its own transaction.
        await customers.merge(store, site_id, kept, contact_id)
    except LookupError:
        return None
    log.info("event=contact_joined_by_proof site=%s contact=%s merged_from=%s", site_id, kept,
             contact_id)
    return kept
