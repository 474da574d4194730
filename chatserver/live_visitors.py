"""Who is on a site now: one row per widget socket, in the store so every process sees it.

Each page of the site opens the widget's socket (after its token renewal, which records the
page on the contact), so a visitor who moves to another page closes one row and opens the
next. Like agents' presence, a process refreshes its own rows in one write every
PRESENCE_REFRESH_SECONDS; a killed process's rows go stale and stop counting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, exists, func, insert, or_, select, update

from chatserver.agents import PRESENCE_TTL_SECONDS
from chatserver.store import Store, new_id, now_ms
from chatserver.store.schema import contacts, conversations, live_visitors

# A visit ends after half an hour without a page of the site open (the usual web-analytics
# session); the next page after that starts a new visit, with its own time on site.
VISIT_GAP_MS = 30 * 60 * 1000
# A busy shop has thousands on it; the console lists the most recently arrived first.
MAX_LISTED = 500


@dataclass(frozen=True)
class OnSite:
    contact_id: str
    name: str | None
    email: str | None
    page_url: str | None
    page_title: str | None
    referrer: str | None
    arrived_at: int
    tabs: int
    chatted_before: bool
    chatting: bool

    def as_json(self, now: int) -> dict[str, Any]:
        return {"id": self.contact_id, "name": self.name, "email": self.email,
                "page": {"url": self.page_url, "title": self.page_title}, "referrer": self.referrer,
                "seconds_on_site": max(0, (now - self.arrived_at) // 1000), "tabs": self.tabs,
                "chatted_before": self.chatted_before, "chatting": self.chatting}


async def arrive(store: Store, site_id: str, contact_id: str, process_id: str) -> str:
    """Record a visitor's socket on a page of the site; return the row's id.

    The visit's start carries over from the visitor's other tabs and from a page left less
    than VISIT_GAP_MS ago.
    """
    socket_id, now = new_id(), now_ms()
    mine = live_visitors.c.contact_id == contact_id
    same_visit = or_(live_visitors.c.left_at.is_(None), live_visitors.c.left_at >= now - VISIT_GAP_MS)
    async with store.write() as conn:
        started = (await conn.execute(
            select(func.min(live_visitors.c.arrived_at)).where(mine, same_visit))).scalar()
        await conn.execute(delete(live_visitors).where(mine, live_visitors.c.left_at.is_not(None)))
        await conn.execute(insert(live_visitors).values(
            socket_id=socket_id, site_id=site_id, contact_id=contact_id, process_id=process_id,
            arrived_at=started or now, seen_at=now))
    return socket_id


async def leave(store: Store, socket_id: str) -> None:
    """The socket closed: the page is gone, the visit may go on from the next one."""
    async with store.write() as conn:
        await conn.execute(update(live_visitors).where(live_visitors.c.socket_id == socket_id)
                           .values(left_at=now_ms()))


async def refresh(store: Store, process_id: str) -> None:
    """Mark this process's open sockets as alive; drop visits that ended or whose process died."""
    now = now_ms()
    async with store.write() as conn:
        await conn.execute(update(live_visitors).where(
            live_visitors.c.process_id == process_id, live_visitors.c.left_at.is_(None)
        ).values(seen_at=now))
        await conn.execute(delete(live_visitors).where(or_(
            live_visitors.c.left_at < now - VISIT_GAP_MS, live_visitors.c.seen_at < now - VISIT_GAP_MS)))


async def on_site(store: Store, site_id: str) -> list[OnSite]:
    """Return the visitors with a page of the site open now, the latest arrived first."""
    fresh = now_ms() - int(PRESENCE_TTL_SECONDS * 1000)
    here = (
        select(live_visitors.c.contact_id, func.min(live_visitors.c.arrived_at).label("arrived_at"),
               func.count().label("tabs"))
        .where(live_visitors.c.site_id == site_id, live_visitors.c.left_at.is_(None),
               live_visitors.c.seen_at >= fresh)
        .group_by(live_visitors.c.contact_id)
        .subquery()
    )
    theirs = conversations.c.contact_id == contacts.c.id
    query = (
        select(contacts.c.id, contacts.c.name, contacts.c.email, contacts.c.page_url,
               contacts.c.page_title, contacts.c.referrer, here.c.arrived_at, here.c.tabs,
               exists().where(theirs).label("chatted"),
               exists().where(and_(theirs, conversations.c.status != "closed")).label("chatting"))
        .select_from(here.join(contacts, contacts.c.id == here.c.contact_id))
        .where(contacts.c.site_id == site_id)
        .order_by(here.c.arrived_at.desc())
        .limit(MAX_LISTED)
    )
    async with store.read() as conn:
        return [OnSite(r.id, r.name, r.email, r.page_url, r.page_title, r.referrer, r.arrived_at,
                       r.tabs, bool(r.chatted), bool(r.chatting))
                for r in await conn.execute(query)]


async def is_on_site(store: Store, site_id: str, contact_id: str) -> bool:
    """Tell whether the visitor has a page of the site open now."""
    fresh = now_ms() - int(PRESENCE_TTL_SECONDS * 1000)
    async with store.read() as conn:
        row = (await conn.execute(select(live_visitors.c.socket_id).where(
            live_visitors.c.site_id == site_id, live_visitors.c.contact_id == contact_id,
            live_visitors.c.left_at.is_(None), live_visitors.c.seen_at >= fresh).limit(1))).first()
    return row is not None
