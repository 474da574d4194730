"""Contacts: one person across chats, scoped to one site."""

from __future__ import annotations

from sqlalchemy import insert, select

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


async def belongs(store: Store, contact_id: str, site_id: str) -> bool:
    """Tell whether the contact exists and is the site's."""
    async with store.read() as conn:
        row = (
            await conn.execute(
                select(contacts.c.id).where(contacts.c.id == contact_id, contacts.c.site_id == site_id)
            )
        ).first()
    return row is not None
