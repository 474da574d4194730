"""What the agent learns about a visitor before they ask: their local time, what they searched."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select, update

from chatserver.store import Store, new_id, now_ms
from chatserver.store.schema import visitor_searches

MAX_ZONE_CHARS = 64
# Suggest-as-you-type sends "wher", "where is", "where is my parcel" within seconds: a search
# that extends (or trims) the previous one this soon is the same question, stored once.
SAME_QUESTION_MS = 60_000
# The sidebar shows the last few; older ones are pruned as new ones come, so a visitor who
# types all day keeps a bounded number of rows.
KEEP_SEARCHES = 20


def known_timezone(value: Any) -> str | None:
    """Return value if it is an IANA time zone (Europe/Amsterdam), else None.

    Browsers report their zone themselves; one this server does not know (an old tz database)
    is dropped rather than refused, since it must never keep a visitor from chatting.
    """
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ZONE_CHARS or ".." in value:
        return None
    try:
        zoneinfo.ZoneInfo(value)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        return None
    return value


def local_time(timezone: str | None, at_ms: int) -> str | None:
    """Return "14:05 (Europe/Amsterdam)" for a moment in the visitor's zone, or None."""
    zone = known_timezone(timezone)
    if zone is None:
        return None
    moment = datetime.fromtimestamp(at_ms / 1000, UTC).astimezone(zoneinfo.ZoneInfo(zone))
    return f"{moment:%H:%M} ({zone})"


async def record_search(store: Store, contact_id: str, query: str) -> None:
    """Remember what a visitor searched, folding the keystrokes of one question into one row."""
    query = " ".join(query.split())
    if not query:
        return
    async with store.write() as conn:
        last = (await conn.execute(
            select(visitor_searches.c.id, visitor_searches.c.query, visitor_searches.c.created_at)
            .where(visitor_searches.c.contact_id == contact_id)
            .order_by(visitor_searches.c.created_at.desc()).limit(1)
        )).first()
        # Newest first is by time alone, so two searches in one millisecond must not tie.
        now = now_ms() if last is None else max(now_ms(), last.created_at + 1)
        folded = last is not None and now - last.created_at < SAME_QUESTION_MS and (
            query.lower().startswith(last.query.lower()) or last.query.lower().startswith(query.lower())
        )
        if folded and last is not None:
            await conn.execute(update(visitor_searches).where(visitor_searches.c.id == last.id)
                               .values(query=query, created_at=now))
            return
        await conn.execute(insert(visitor_searches).values(
            id=new_id(), contact_id=contact_id, query=query, created_at=now
        ))
        old = select(visitor_searches.c.id).where(visitor_searches.c.contact_id == contact_id) \
            .order_by(visitor_searches.c.created_at.desc()).offset(KEEP_SEARCHES)
        stale = [row.id for row in await conn.execute(old)]
        if stale:
            await conn.execute(delete(visitor_searches).where(visitor_searches.c.id.in_(stale)))


async def searches(store: Store, contact_id: str, limit: int = 10) -> list[dict[str, Any]]:
    """Return what a contact searched, newest first."""
    async with store.read() as conn:
        rows = await conn.execute(
            select(visitor_searches.c.query, visitor_searches.c.created_at)
            .where(visitor_searches.c.contact_id == contact_id)
            .order_by(visitor_searches.c.created_at.desc()).limit(limit)
        )
        return [{"query": row.query, "searched_at": row.created_at} for row in rows]
