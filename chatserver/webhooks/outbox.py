"""The webhook outbox: one row per event and subscription, claimed, sent, retried, or dead.

Events are recorded right after the command's own write, in Hub.deliver (the one place every
command's result passes through), so a process killed between the two loses those events:
the window is one command long. From the row on nothing is lost: a receiver that is down
delays its events and the row is retried with backoff until it answers 2xx, then marked
sent; a row is claimed with one conditional UPDATE whose lease outlasts the send timeout,
so several processes share the queue and exactly one claim wins. A worker that dies after
sending but before marking leaves the lease to run out and the event goes again with the
same id: at least once, and receivers dedupe on the id. After max_attempts tries or a day,
a row is dead: listed for an admin, who can replay it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver.chat.effects import Fact
from chatserver.store import Store, new_id, now_ms
from chatserver.store.schema import (
    channel_users,
    conversations,
    sites,
    webhook_allow,
    webhook_deliveries,
    webhook_subscriptions,
)
from chatserver.webhooks import events, guard
from chatserver.webhooks.settings import WebhookSettings

PENDING, SENT, DEAD = "pending", "sent", "dead"
# Deliveries claimed together; CONCURRENCY (delivery.py) of them are posted at a time.
BATCH = 64
# Longest wait between two tries, whatever the attempt count.
MAX_BACKOFF_SECONDS = 3600.0
log = logging.getLogger("chatserver.webhooks.outbox")

# A subscription made on another process is heard within this long (this process's own
# changes are heard at once, through forget).
SUBSCRIBERS_SECONDS = 5.0
# Conversation -> its route, which never changes: enough for every chat open at once on a process.
SITE_CACHE = 10_000
MAX_ERROR_CHARS = 500

deliveries = webhook_deliveries
subs = webhook_subscriptions
Reader = Callable[[], Awaitable[AsyncConnection]]


def backoff_seconds(
    settings: WebhookSettings, attempts: int, rand: Callable[[], float] = random.random
) -> float:
    """Return the wait after `attempts` failed tries: doubling, capped, with jitter.

    Half of it is random ("equal jitter"), so receivers back from an outage are not hit by
    every process's retries in the same second.
    """
    full = min(settings.retry_seconds * 2.0 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS)
    return full / 2 + rand() * full / 2


@dataclass(frozen=True)
class Subscriber:
    id: str
    events: frozenset[str]


@dataclass(frozen=True)
class Route:
    """Where a conversation's events belong: its site, and for a bridge, its channel and the
    platform's user id (an api: channel's customer), so a reply can be sent on."""

    site_id: str
    channel: str
    user_id: str | None

    def describe(self) -> dict[str, str | None]:
        return {"name": self.channel, "user_id": self.user_id}


class Recorder:
    """Writes Facts as deliveries for the subscriptions that want them (Hub.recorder)."""

    def __init__(self, store: Store, wake: Callable[[], None]) -> None:
        self.store = store
        self.wake = wake
        self._subscribers: dict[str, tuple[float, str, list[Subscriber]]] = {}
        self._refreshing: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._routes: dict[str, Route] = {}

    def forget(self, site_id: str) -> None:
        """Read the site's subscriptions again at its next event (they just changed)."""
        self._subscribers.pop(site_id, None)

    async def _route_of(self, conn: Reader, conversation_id: str) -> Route | None:
        if conversation_id not in self._routes:
            platform = and_(channel_users.c.site_id == conversations.c.site_id,
                            channel_users.c.channel == conversations.c.channel,
                            channel_users.c.contact_id == conversations.c.contact_id)
            found = (await (await conn()).execute(
                select(conversations.c.site_id, conversations.c.channel, channel_users.c.user_id)
                .select_from(conversations.outerjoin(channel_users, platform))
                .where(conversations.c.id == conversation_id)
                # A merged contact may have two ids on one platform: the newest answers.
                .order_by(channel_users.c.created_at.desc()).limit(1)
            )).first()
            if found is None:
                return None
            if len(self._routes) >= SITE_CACHE:
                self._routes.pop(next(iter(self._routes)))
            self._routes[conversation_id] = Route(found.site_id, found.channel, found.user_id)
        return self._routes[conversation_id]

    async def _of(self, conn: Reader, site_id: str) -> tuple[str, list[Subscriber]]:
        cached = self._subscribers.get(site_id)
        if cached is None:
            return await self._read(await conn(), site_id)
        if cached[0] <= time.monotonic() and site_id not in self._refreshing:
            # Stale: every message of the site would wait on its own read of the same rows
            # (at thousands a second, a pile of reads that doubles the cost of a message).
            # The old list answers while one read refreshes it.
            self._refreshing.add(site_id)
            task = asyncio.get_running_loop().create_task(self._refresh(site_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return cached[1], cached[2]

    async def _refresh(self, site_id: str) -> None:
        try:
            async with self.store.read() as conn:
                await self._read(conn, site_id)
        except Exception:
            log.exception("event=webhook_subscribers_unread site=%s", site_id)
        finally:
            self._refreshing.discard(site_id)

    async def _read(self, conn: AsyncConnection, site_id: str) -> tuple[str, list[Subscriber]]:
        key = (await conn.execute(select(sites.c.public_key).where(sites.c.id == site_id))).scalar()
        rows = await conn.execute(select(subs.c.id, subs.c.events)
                                  .where(subs.c.site_id == site_id, subs.c.enabled.is_(True)))
        found = [Subscriber(row.id, frozenset(row.events)) for row in rows]
        self._subscribers[site_id] = (time.monotonic() + SUBSCRIBERS_SECONDS, key or "", found)
        return key or "", found

    async def __call__(self, facts: list[Fact]) -> None:
        rows: list[dict[str, Any]] = []
        async with contextlib.AsyncExitStack() as stack:
            opened: list[AsyncConnection] = []

            async def conn() -> AsyncConnection:
                # Opened only on a cache miss: a message in a chat whose route and
                # subscriptions are known costs no read.
                if not opened:
                    opened.append(await stack.enter_async_context(self.store.read()))
                return opened[0]

            for fact in facts:
                conversation_id = _conversation_of(fact)
                site_id = fact.site_id
                if site_id is None:
                    route = await self._route_of(conn, conversation_id)
                    site_id = route.site_id if route else None
                if site_id is None:
                    continue
                key, subscribers = await self._of(conn, site_id)
                wanted = [s for s in subscribers if fact.name in s.events]
                if not wanted:
                    continue
                data = fact.data
                route = await self._route_of(conn, conversation_id) if conversation_id else None
                if route is not None:
                    data = {**data, "channel": route.describe()}
                rows += _rows(site_id, key, fact.name, data, [s.id for s in wanted])
        if rows:
            await insert_rows(self.store, rows)
            self.wake()


def _conversation_of(fact: Fact) -> str:
    data = fact.data
    found = data.get("message", {}).get("conversation") or data.get("conversation", {}).get("id")
    return str(found or "")


def _rows(
    site_id: str, key: str, name: str, data: Any, subscription_ids: Iterable[str]
) -> list[dict[str, Any]]:
    event_id, now = new_id(), now_ms()
    body = events.envelope(event_id, name, now, key, data)
    return [
        {"id": new_id(), "subscription_id": sid, "site_id": site_id, "event_id": event_id,
         "event_type": name, "body": body, "status": PENDING, "attempts": 0,
         "next_attempt_at": now, "claimed_until": None, "last_error": None, "created_at": now,
         "sent_at": None}
        for sid in subscription_ids
    ]


async def insert_rows(store: Store, rows: list[dict[str, Any]]) -> None:
    async with store.write() as conn:
        await conn.execute(insert(deliveries), rows)


async def ping(store: Store, site_id: str, site_key: str, subscription_id: str) -> str:
    """Queue a test event for one subscription (the admin's "send test"); return its event id."""
    rows = _rows(site_id, site_key, events.PING, {"message": "a test delivery"}, [subscription_id])
    await insert_rows(store, rows)
    return str(rows[0]["event_id"])


@dataclass(frozen=True)
class Claimed:
    id: str
    site_id: str
    event_id: str
    event_type: str
    body: str
    attempts: int
    created_at: int
    url: str
    secret: str
    allow: tuple[guard.Network, ...]


def _free(now: int) -> Any:
    return or_(deliveries.c.claimed_until.is_(None), deliveries.c.claimed_until < now)


async def due(store: Store, limit: int = BATCH) -> list[str]:
    """Return up to limit deliveries due now that no worker holds (of enabled subscriptions)."""
    now = now_ms()
    async with store.read() as conn:
        return list((await conn.execute(
            select(deliveries.c.id)
            .select_from(deliveries.join(subs, and_(subs.c.id == deliveries.c.subscription_id,
                                                    subs.c.enabled.is_(True))))
            .where(deliveries.c.status == PENDING, deliveries.c.next_attempt_at <= now, _free(now))
            .order_by(deliveries.c.next_attempt_at).limit(limit)
        )).scalars())


async def claim(store: Store, row_ids: list[str], lease_ms: int) -> list[Claimed]:
    """Hold due deliveries for lease_ms; those another worker holds, or done, are left out.

    One transaction for the batch: two writes a delivery would cap throughput at SQLite's
    commit rate. The lease must cover the whole batch's sends (delivery.Worker.lease_ms).
    """
    if not row_ids:
        return []
    now = now_ms()
    async with store.write() as conn:
        rows = list(await conn.execute(
            update(deliveries)
            .where(deliveries.c.id.in_(row_ids), deliveries.c.status == PENDING, _free(now))
            .values(claimed_until=now + lease_ms, attempts=deliveries.c.attempts + 1)
            .returning(deliveries.c.id, deliveries.c.site_id, deliveries.c.subscription_id,
                       deliveries.c.event_id, deliveries.c.event_type, deliveries.c.body,
                       deliveries.c.attempts, deliveries.c.created_at)
        ))
        if not rows:
            return []
        found = {r.id: r for r in await conn.execute(
            select(subs.c.id, subs.c.url, subs.c.secret)
            .where(subs.c.id.in_({r.subscription_id for r in rows})))}
        allow = dict((await conn.execute(
            select(webhook_allow.c.site_id, webhook_allow.c.networks)
            .where(webhook_allow.c.site_id.in_({r.site_id for r in rows}))
        )).all())
    return [
        Claimed(r.id, r.site_id, r.event_id, r.event_type, r.body, r.attempts, r.created_at,
                found[r.subscription_id].url, found[r.subscription_id].secret,
                guard.parse_networks(allow.get(r.site_id) or []))
        for r in rows
    ]


async def mark_sent(store: Store, row_ids: list[str]) -> None:
    if not row_ids:
        return
    async with store.write() as conn:
        await conn.execute(update(deliveries).where(deliveries.c.id.in_(row_ids)).values(
            status=SENT, sent_at=now_ms(), claimed_until=None, last_error=None))


async def mark_failed(store: Store, settings: WebhookSettings, row: Claimed, error: str) -> str:
    """Schedule the next try, or make the delivery a dead letter; return the new status."""
    now = now_ms()
    dead = row.attempts >= settings.max_attempts or now - row.created_at >= settings.give_up_seconds * 1000
    async with store.write() as conn:
        await conn.execute(update(deliveries).where(deliveries.c.id == row.id).values(
            status=DEAD if dead else PENDING, claimed_until=None, last_error=error[:MAX_ERROR_CHARS],
            next_attempt_at=now + int(backoff_seconds(settings, row.attempts) * 1000),
        ))
    return DEAD if dead else PENDING


async def dead_letters(store: Store, site_id: str | None, limit: int = 100) -> list[dict[str, Any]]:
    """Return a site's dead deliveries (every site's with None), newest first."""
    query = (
        select(deliveries.c.id, deliveries.c.event_id, deliveries.c.event_type, deliveries.c.attempts,
               deliveries.c.last_error, deliveries.c.created_at, deliveries.c.subscription_id,
               subs.c.url, sites.c.public_key)
        .select_from(deliveries.join(subs, subs.c.id == deliveries.c.subscription_id)
                     .join(sites, sites.c.id == deliveries.c.site_id))
        .where(deliveries.c.status == DEAD)
        .order_by(deliveries.c.created_at.desc(), deliveries.c.id).limit(limit)
    )
    if site_id is not None:
        query = query.where(deliveries.c.site_id == site_id)
    async with store.read() as conn:
        return [
            {"id": r.id, "event_id": r.event_id, "type": r.event_type, "attempts": r.attempts,
             "error": r.last_error, "created_at": r.created_at, "webhook": r.subscription_id,
             "url": r.url, "site": r.public_key}
            for r in await conn.execute(query)
        ]


async def replay(store: Store, site_id: str | None, ids: list[str] | None = None) -> int:
    """Give dead deliveries (those of ids, or all of the site's) a fresh set of tries."""
    statement = update(deliveries).where(deliveries.c.status == DEAD)
    if site_id is not None:
        statement = statement.where(deliveries.c.site_id == site_id)
    if ids is not None:
        statement = statement.where(deliveries.c.id.in_(ids))
    async with store.write() as conn:
        result = await conn.execute(statement.values(
            status=PENDING, attempts=0, next_attempt_at=now_ms(), claimed_until=None,
            created_at=now_ms(),  # the day before giving up counts from the replay
        ))
    return int(result.rowcount)


async def backlog(store: Store) -> dict[str, float]:
    """Return pending and dead counts and the age in seconds of the oldest pending delivery."""
    now = now_ms()
    async with store.read() as conn:
        counts: dict[str, int] = dict((await conn.execute(
            select(deliveries.c.status, func.count()).where(deliveries.c.status != SENT)
            .group_by(deliveries.c.status)
        )).all())
        oldest = (await conn.execute(
            select(func.min(deliveries.c.created_at)).where(deliveries.c.status == PENDING)
        )).scalar()
    return {"pending": counts.get(PENDING, 0), "dead": counts.get(DEAD, 0),
            "oldest_seconds": max(0, now - oldest) / 1000 if oldest else 0.0}
