"""Customers of an integration's messaging platform: a platform user id, found again as one contact.

An integration (a Telegram bot's bridge) names its customers by the platform's own user id.
The id is kept per (site, channel), apart from the contact's `external_id` (which a site's
signed identity owns), so Telegram's user 42 and WhatsApp's user 42 are two people until an
agent merges them, and a merge carries the platform ids over (customers.merge).
"""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from chatserver.store import Store, new_id, now_ms
from chatserver.store.schema import channel_users, contacts

MAX_USER_ID_CHARS = 200


async def find(store: Store, site_id: str, channel: str, user_id: str) -> tuple[str, str | None] | None:
    """Return the contact id and name of the platform's user on this channel, or None."""
    query = (select(contacts.c.id, contacts.c.name)
             .select_from(channel_users.join(contacts, contacts.c.id == channel_users.c.contact_id))
             .where(channel_users.c.site_id == site_id, channel_users.c.channel == channel,
                    channel_users.c.user_id == user_id))
    async with store.read() as conn:
        row = (await conn.execute(query)).first()
    return (row.id, row.name) if row else None


async def rename(store: Store, contact_id: str, name: str) -> None:
    """Take the name the platform gives now: people rename themselves."""
    async with store.write() as conn:
        await conn.execute(update(contacts).where(contacts.c.id == contact_id).values(name=name))


async def add(
    store: Store, site_id: str, channel: str, user_id: str, name: str | None, email: str | None
) -> tuple[str, bool]:
    """Make the contact of a platform user seen for the first time; True if made now.

    The email is kept as the user gave it: the platform vouches for nothing.
    """
    contact_id, now = new_id(), now_ms()
    try:
        async with store.write() as conn:
            await conn.execute(insert(contacts).values(
                id=contact_id, site_id=site_id, name=name, email=email, created_at=now))
            await conn.execute(insert(channel_users).values(
                site_id=site_id, channel=channel, user_id=user_id, contact_id=contact_id, created_at=now))
    except IntegrityError:
        # Two first messages at once: the key let one contact in; this is the other's.
        again = await find(store, site_id, channel, user_id)
        if again is None:
            raise
        return again[0], False
    return contact_id, True
