"""SLA breaches are recorded even when the clock stopped between two checks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select, update

from chatserver import agents, customers, metrics, sites
from chatserver.chat import conversations
from chatserver.chat.messages import MessageWriter
from chatserver.reports import sla_watch
from chatserver.store import Store, now_ms
from chatserver.store.schema import conversations as conversations_table
from chatserver.store.schema import messages, sla_breaches
from chatserver.store.schema import sites as sites_table


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    opened = Store(store_url)
    await opened.migrate()
    yield opened
    await opened.close()


async def _answered_chat(store: Store, site: sites.Site, agent_id: str, wait_s: int) -> str:
    """A chat queued 300 s ago and first answered wait_s seconds later."""
    contact = await customers.create(store, site.id)
    chat, _ = await conversations.open(store, site.id, contact, f"c{wait_s}")
    writer = MessageWriter(store)
    await writer.append(chat.id, "visitor", contact, f"c{wait_s}", "hello?")
    await conversations.queue(store, chat.id)
    await conversations.assign(store, chat.id, agent_id, cap=5)
    reply = (await writer.append(chat.id, "agent", agent_id, "a1", "hi!")).message
    writer.close()
    queued = now_ms() - 300_000
    async with store.write() as conn:
        await conn.execute(update(conversations_table).where(conversations_table.c.id == chat.id)
                           .values(queued_at=queued))
        await conn.execute(update(messages).where(messages.c.id == reply.id)
                           .values(created_at=queued + wait_s * 1000))
    return chat.id


async def test_a_first_response_late_between_checks_is_recorded_once(store: Store) -> None:
    site = await sites.create(store, "Shop", [])
    async with store.write() as conn:
        await conn.execute(update(sites_table).where(sites_table.c.id == site.id).values(
            settings={"sla": {"chat_first_response_seconds": 60}}))
    site = await sites.by_id(store, site.id)
    assert site is not None
    ann = await agents.create(store, "ann@example.com", "Ann", "x" * 12, site_ids=[site.id])
    late = await _answered_chat(store, site, ann.id, wait_s=200)
    early = await _answered_chat(store, site, ann.id, wait_s=30)

    stopped = await sla_watch.stopped(store, site, since=now_ms() - 600_000)
    judged = {c.subject_id: (c.metric, at > (c.due_at or 0)) for c, _, at in stopped}
    assert judged == {late: ("first_response", True), early: ("first_response", False)}
    breached = [(c, agent_id) for c, agent_id, at in stopped if at > (c.due_at or 0)]
    clock, agent_id = breached[0]
    assert await sla_watch.record(store, site.id, clock, agent_id, now_ms()) is True
    assert await sla_watch.record(store, site.id, clock, agent_id, now_ms()) is False
    async with store.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(sla_breaches))).scalar() == 1


async def test_each_breach_is_counted_once_in_the_metrics(store: Store) -> None:
    site = await sites.create(store, "Shop", [])
    async with store.write() as conn:
        await conn.execute(update(sites_table).where(sites_table.c.id == site.id).values(
            settings={"sla": {"chat_first_response_seconds": 60}}))
    site = await sites.by_id(store, site.id)
    assert site is not None
    ann = await agents.create(store, "ann@example.com", "Ann", "x" * 12, site_ids=[site.id])
    await _answered_chat(store, site, ann.id, wait_s=200)
    labels = {"site": site.public_key, "kind": "chat", "metric": "first_response"}
    before = metrics.REGISTRY.get_sample_value("chatserver_sla_breaches_total", labels) or 0.0

    (clock, agent_id, _), = await sla_watch.stopped(store, site, since=now_ms() - 600_000)
    assert await sla_watch.breach(store, site, clock, agent_id, now_ms()) is True
    assert await sla_watch.breach(store, site, clock, agent_id, now_ms()) is False
    assert metrics.REGISTRY.get_sample_value("chatserver_sla_breaches_total", labels) == before + 1
