"""Contacts: one person across chats, scoped to one site."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from chatserver.store import Store, new_id, now_ms
from chatserver.store.schema import contacts


async def create(store: Store, site_id: str) -> str:
    """Create an anonymous contact for a new visitor of the site; return its id."""
    contact_id = new_id()
    async with store.write() as conn:
        await conn.execute(
            insert(contacts).values(id=contact_id, site_id=site_id, created_at=now_ms())
        )
    return contact_id


async def name(store: Store, contact_id: str) -> str | None:
    """Return the name a contact gave (or their site vouched for), or None."""
    async with store.read() as conn:
        found = await conn.execute(select(contacts.c.name).where(contacts.c.id == contact_id))
        return found.scalar()


async def belongs(store: Store, contact_id: str, site_id: str) -> bool:
    """Tell whether the contact exists and is the site's."""
    async with store.read() as conn:
        row = (
            await conn.execute(
                select(contacts.c.id).where(contacts.c.id == contact_id, contacts.c.site_id == site_id)
            )
        ).first()
    return row is not None


async def identified(
    store: Store, site_id: str, current: str | None, user_id: str, name: str | None,
    email: str | None,
) -> str:
    """Return the contact of a verified site user, claiming the anonymous current one if free.

    The unique key on (site, external id) settles two tabs identifying at once.
    """
    for _ in range(2):
        async with store.write() as conn:
            known = (
                await conn.execute(
                    select(contacts.c.id).where(
                        contacts.c.site_id == site_id, contacts.c.external_id == user_id
                    )
                )
            ).scalar()
            if known is None and current is not None:
                claimed = await conn.execute(
                    update(contacts)
                    .where(contacts.c.id == current, contacts.c.site_id == site_id,
                           contacts.c.external_id.is_(None))
                    .values(external_id=user_id)
                )
                known = current if claimed.rowcount else None
            if known is None:
                known = new_id()
                try:
                    await conn.execute(insert(contacts).values(
                        id=known, site_id=site_id, external_id=user_id, created_at=now_ms()
                    ))
                except IntegrityError:
                    continue  # another tab created it first: look again
            details = {k: v for k, v in (("name", name), ("email", email)) if v}
            if details:
                await conn.execute(update(contacts).where(contacts.c.id == known).values(**details))
            return str(known)
    raise RuntimeError("identity could not be settled")


async def describe(store: Store, contact_id: str, **details: Any) -> None:
    """Record what the visitor told about themselves or their page.

    Name and email change only on anonymous contacts: an unsigned claim never rewrites a
    verified user's details.
    """
    personal = {k: details.pop(k) for k in ("name", "email") if details.get(k)}
    values = {k: v for k, v in details.items() if v is not None}
    async with store.write() as conn:
        if values:
            await conn.execute(update(contacts).where(contacts.c.id == contact_id).values(**values))
        if personal:
            await conn.execute(
                update(contacts)
                .where(contacts.c.id == contact_id, contacts.c.external_id.is_(None))
                .values(**personal)
            )
