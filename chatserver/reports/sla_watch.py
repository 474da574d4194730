"""Live SLA clocks: tell each site's agents which chats and tickets are nearing or past a
target, and record each breach once.

Every process runs this loop; the published states are the same whoever computes them, and
the unique key on sla_breaches keeps one row per breached clock when two processes see it.
The `sla` event carries the instants at which each clock turns nearing and breached, so the
console can change colour on the second without waiting for the next check.
"""

from __future__ import annotations

import asyncio
import logging
import os

from sqlalchemy import exists, func, insert, select
from sqlalchemy.exc import IntegrityError

from chatserver import hours as business_hours
from chatserver import metrics, protocol, sites
from chatserver.chat import topics
from chatserver.reports import sla
from chatserver.runtime import Runtime
from chatserver.store import Store, new_id, now_ms
from chatserver.store.schema import conversations, messages, sla_breaches, ticket_entries, tickets

log = logging.getLogger("chatserver.sla")

# How often the clocks are checked and announced: often enough that an agent who opens the
# console sees the flags within seconds, rare enough to cost nothing (one query per site).
CHECK_SECONDS = float(os.environ.get("CHATSERVER_SLA_CHECK_SECONDS", "10"))
# A ticket waiting for the customer (pending) or solved has no clock running.
TICKET_RUNNING = ("new", "open")


async def clocks(rt: Runtime, site: sites.Site) -> list[tuple[sla.Clock, str | None]]:
    """Return the running clock of each open chat that asked for a person and each open ticket."""
    targets = sla.targets(site.settings)
    hours = business_hours.parse(site.settings.get("hours"))
    c, t = conversations.c, tickets.c
    answered_chat = exists().where(messages.c.conversation_id == c.id, messages.c.author_kind == "agent")
    answered_ticket = exists().where(ticket_entries.c.ticket_id == t.id, ticket_entries.c.kind == "agent")
    async with rt.store.read() as conn:
        chats = (await conn.execute(
            select(c.id, c.queued_at, c.agent_id, answered_chat).where(
                c.site_id == site.id, c.status.in_(("queued", "assigned")), c.queued_at.is_not(None))
        )).all()
        open_tickets = (await conn.execute(
            select(t.id, t.created_at, t.assignee_id, answered_ticket).where(
                t.site_id == site.id, t.status.in_(TICKET_RUNNING))
        )).all()
    found = [(sla.clock("chat", r[0], r[1], bool(r[3]), targets, hours), r[2]) for r in chats]
    found += [(sla.clock("ticket", r[0], r[1], bool(r[3]), targets, hours), r[2]) for r in open_tickets]
    return found


def event(site_id: str, running: list[tuple[sla.Clock, str | None]], now: int) -> protocol.Sla:
    """Build the `sla` event for a site's agents."""
    return protocol.sla(site_id, now, [
        {"kind": k.kind, "id": k.subject_id, "metric": k.metric, "target": k.target_s,
         "nearing_at": k.nearing_at, "due_at": k.due_at, "state": k.state(now), "agent": agent_id}
        for k, agent_id in running
    ])


async def record(store: Store, site_id: str, clock: sla.Clock, agent_id: str | None, now: int) -> bool:
    """Record a breached clock; False when it was recorded before (here or by another process)."""
    assert clock.due_at is not None
    try:
        async with store.write() as conn:
            await conn.execute(insert(sla_breaches).values(
                id=new_id(), site_id=site_id, subject_kind=clock.kind, subject_id=clock.subject_id,
                metric=clock.metric, target_seconds=clock.target_s, due_at=clock.due_at,
                agent_id=agent_id, recorded_at=now))
    except IntegrityError:
        return False
    log.info("event=sla_breach site=%s kind=%s id=%s metric=%s", site_id, clock.kind,
             clock.subject_id, clock.metric)
    return True


async def stopped(store: Store, site: sites.Site, since: int) -> list[tuple[sla.Clock, str | None, int]]:
    """Return the chat clocks that stopped since `since`, each with the instant it stopped.

    A chat answered or closed between two checks was never seen running past its target,
    yet may have breached it: these are judged here, after the fact.
    """
    targets = sla.targets(site.settings)
    hours = business_hours.parse(site.settings.get("hours"))
    c, m = conversations.c, messages.c
    first_answer = (
        select(func.min(m.created_at))
        .where(m.conversation_id == c.id, m.author_kind == "agent")
        .scalar_subquery()
    )
    async with store.read() as conn:
        rows = (await conn.execute(
            select(c.id, c.queued_at, c.agent_id, first_answer, c.closed_at).where(
                c.site_id == site.id, c.queued_at.is_not(None), c.updated_at >= since)
        )).all()
    found = []
    for chat_id, queued_at, agent_id, answered_at, closed_at in rows:
        if answered_at is not None and answered_at >= since:
            found.append((sla.clock("chat", chat_id, queued_at, False, targets, hours), agent_id,
                          int(answered_at)))
        if answered_at is not None and closed_at is not None and closed_at >= since:
            found.append((sla.clock("chat", chat_id, queued_at, True, targets, hours), agent_id,
                          int(closed_at)))
    return found


async def breach(store: Store, site: sites.Site, clock: sla.Clock, agent_id: str | None, now: int) -> bool:
    """Record a breached clock and count it in /metrics; False when it was recorded before."""
    if not await record(store, site.id, clock, agent_id, now):
        return False
    metrics.SLA_BREACHES.labels(site.public_key, clock.kind, clock.metric).inc()
    return True


async def check(rt: Runtime) -> None:
    """Check every site's clocks once: record new breaches, announce the states."""
    now = now_ms()
    # Three periods back, so a slow or skipped check still sees every stopped clock; a breach
    # seen twice is recorded once (unique key).
    since = now - int(3 * CHECK_SECONDS * 1000)
    for site in await sites.all_sites(rt.store):
        for clock, agent_id, stopped_at in await stopped(rt.store, site, since):
            if clock.due_at is not None and stopped_at > clock.due_at:
                await breach(rt.store, site, clock, agent_id, now)
        running = await clocks(rt, site)
        if not running:
            continue
        async with rt.store.read() as conn:
            seen = {(r[0], r[1], r[2]) for r in await conn.execute(
                select(sla_breaches.c.subject_kind, sla_breaches.c.subject_id, sla_breaches.c.metric)
                .where(sla_breaches.c.site_id == site.id,
                       sla_breaches.c.subject_id.in_([k.subject_id for k, _ in running])))}
        for clock, agent_id in running:
            if clock.state(now) == "breached" and (clock.kind, clock.subject_id, clock.metric) not in seen:
                await breach(rt.store, site, clock, agent_id, now)
        await rt.hub.publish(topics.site(site.id), event(site.id, running, now))


async def run(rt: Runtime) -> None:
    """Check the clocks every CHECK_SECONDS until cancelled; a failed check is logged, not fatal."""
    while True:
        await asyncio.sleep(CHECK_SECONDS)
        try:
            await check(rt)
        except Exception:  # a database blip must not stop the clocks for good
            log.exception("event=sla_check_failed")
