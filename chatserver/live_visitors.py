"""Who is on a site now: one row per widget socket, in the store so every process sees it.

Each page of the site opens the widget's socket (after its token renewal, which records the
page on the contact), so a visitor who moves to another page closes one row and opens the
next. A process writes its sockets' arrivals and departures together each FLUSH_SECONDS and,
like agents' presence, refreshes its own rows in one write every PRESENCE_REFRESH_SECONDS; a
killed process's rows go stale and stop counting.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver.agents import PRESENCE_TTL_SECONDS
from chatserver.store import Store, new_id, now_ms
from chatserver.store.schema import contacts, conversations, live_visitors

# A visit ends after half an hour without a page of the site open (the usual web-analytics
# session); the next page after that starts a new visit, with its own time on site.
VISIT_GAP_MS = 30 * 60 * 1000
# A busy shop has thousands on it; the console lists the most recently arrived first.
MAX_LISTED = 500
# The console asks every 3 s; a page opened is listed within this.
FLUSH_SECONDS = 1.0
CHUNK = 500  # rows a statement names, well under any database's limit on parameters

log = logging.getLogger("chatserver.live_visitors")
T = TypeVar("T")


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


class Arrivals:
    """This process's visitors' sockets, written to the store together each FLUSH_SECONDS.

    A restarted server takes thousands of sockets back within seconds; a write for each
    would cost more than their welcomes. A socket closed before its row was written never
    needed one.
    """

    def __init__(self, process_id: str) -> None:
        self.process_id = process_id
        self._arrived: dict[str, tuple[str, str, int]] = {}  # socket: site, contact, at
        self._left: set[str] = set()

    def arrive(self, site_id: str, contact_id: str) -> str:
        """A visitor's socket opened on a page of the site; return its id for leave()."""
        socket_id = new_id()
        self._arrived[socket_id] = (site_id, contact_id, now_ms())
        return socket_id

    def leave(self, socket_id: str) -> None:
        """The socket closed: the page is gone, the visit may go on from the next one."""
        if self._arrived.pop(socket_id, None) is None:
            self._left.add(socket_id)

    async def flush(self, store: Store) -> None:
        """Write what arrived and left since the last flush, in one transaction.

        The visit's start carries over from the visitor's other tabs and from a page left
        less than VISIT_GAP_MS ago. What the store refused is kept for the next flush.
        """
        arrived, self._arrived = self._arrived, {}
        left, self._left = self._left, set()
        if not arrived and not left:
            return
        now = now_ms()
        try:
            async with store.write() as conn:
                for chunk in _chunks(list(arrived.items())):
                    await _record(conn, chunk, self.process_id, now)
                for gone in _chunks(sorted(left)):
                    await conn.execute(update(live_visitors).where(live_visitors.c.socket_id.in_(gone))
                                       .values(left_at=now))
        except BaseException:
            self._arrived = {**arrived, **self._arrived}
            self._left |= left
            raise

    async def keep_flushing(self, store: Store) -> None:
        """Flush forever; run as a background task."""
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            try:
                await self.flush(store)
            except Exception:  # the next round tries again; chats go on meanwhile
                log.exception("event=live_visitors_flush_failed")


async def _record(conn: AsyncConnection, arrived: list[tuple[str, tuple[str, str, int]]],
                  process_id: str, now: int) -> None:
    contact_ids = {contact for _, (_, contact, _) in arrived}
    mine = live_visitors.c.contact_id.in_(contact_ids)
    same_visit = or_(live_visitors.c.left_at.is_(None), live_visitors.c.left_at >= now - VISIT_GAP_MS)
    started = dict((await conn.execute(
        select(live_visitors.c.contact_id, func.min(live_visitors.c.arrived_at))
        .where(mine, same_visit).group_by(live_visitors.c.contact_id))).tuples().all())
    for _, (_, contact, at) in arrived:
        started[contact] = min(started.get(contact, at), at)
    await conn.execute(delete(live_visitors).where(mine, live_visitors.c.left_at.is_not(None)))
    await conn.execute(insert(live_visitors), [
        {"socket_id": socket_id, "site_id": site_id, "contact_id": contact, "process_id": process_id,
         "arrived_at": started[contact], "seen_at": now}
        for socket_id, (site_id, contact, _) in arrived])


def _chunks(items: list[T]) -> list[list[T]]:
    return [items[n:n + CHUNK] for n in range(0, len(items), CHUNK)]


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
