"""Canned responses: per-site replies an agent inserts by typing /shortcut.

Every change is told to the site's open consoles (a `canned` event with the site's whole
list), so an edited reply is what the next /shortcut inserts, without a reload.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from chatserver import protocol
from chatserver.chat import topics
from chatserver.chat.effects import Effects
from chatserver.store import Store, new_id, now_ms
from chatserver.store.schema import canned_responses

_SHORTCUT = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
# The placeholders the console fills in; anything else in braces is left as typed.
PLACEHOLDERS = ("{name}", "{first_name}", "{agent}")


@dataclass(frozen=True)
class Canned:
    id: str
    site_id: str
    shortcut: str
    body: str


async def for_sites(store: Store, site_ids: list[str]) -> list[Canned]:
    """Return the canned responses of these sites, by shortcut."""
    query = (
        select(canned_responses)
        .where(canned_responses.c.site_id.in_(site_ids))
        .order_by(canned_responses.c.shortcut)
    )
    async with store.read() as conn:
        return [Canned(r.id, r.site_id, r.shortcut, r.body) for r in await conn.execute(query)]


def check(shortcut: str, body: str) -> tuple[str, str]:
    """Return the shortcut and body as stored; raise ValueError saying what to fix."""
    shortcut = shortcut.strip().lstrip("/").lower()
    body = body.strip()
    if not _SHORTCUT.fullmatch(shortcut):
        raise ValueError("a shortcut is 1-32 lower-case letters, digits, - or _")
    if not body or len(body) > protocol.MAX_TEXT_CHARS:
        raise ValueError(f"the reply must be 1-{protocol.MAX_TEXT_CHARS} characters")
    return shortcut, body


async def by_id(store: Store, canned_id: str) -> Canned | None:
    async with store.read() as conn:
        r = (await conn.execute(select(canned_responses).where(canned_responses.c.id == canned_id))).first()
    return Canned(r.id, r.site_id, r.shortcut, r.body) if r else None


async def told(store: Store, site_id: str) -> Effects:
    """Return the `canned` event that gives the site's consoles its replies as they are now."""
    replies = await for_sites(store, [site_id])
    return Effects().publish(topics.site(site_id), protocol.canned(
        site_id, [{"id": r.id, "shortcut": r.shortcut, "body": r.body} for r in replies]))


async def add(store: Store, site_id: str, shortcut: str, body: str) -> Canned:
    """Store a canned response; raise ValueError on a bad or taken shortcut or body."""
    shortcut, body = check(shortcut, body)
    canned = Canned(new_id(), site_id, shortcut, body)
    try:
        async with store.write() as conn:
            await conn.execute(
                insert(canned_responses).values(
                    id=canned.id, site_id=site_id, shortcut=shortcut, body=body, created_at=now_ms()
                )
            )
    except IntegrityError:
        raise ValueError(f"/{shortcut} already exists for this site") from None
    return canned


async def change(store: Store, canned_id: str, shortcut: str, body: str) -> Canned | None:
    """Change a reply's shortcut and text; None if it is gone; ValueError on bad or taken input."""
    shortcut, body = check(shortcut, body)
    try:
        async with store.write() as conn:
            row = (await conn.execute(
                update(canned_responses).where(canned_responses.c.id == canned_id)
                .values(shortcut=shortcut, body=body).returning(canned_responses.c.site_id)
            )).first()
    except IntegrityError:
        raise ValueError(f"/{shortcut} already exists for this site") from None
    return Canned(canned_id, row.site_id, shortcut, body) if row else None


async def remove(store: Store, canned_id: str) -> None:
    async with store.write() as conn:
        await conn.execute(delete(canned_responses).where(canned_responses.c.id == canned_id))
