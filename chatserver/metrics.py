"""What an operator's monitoring scrapes at /metrics (Prometheus text format, prometheus-client).

Counters and histograms are updated where things happen; what lives in the store (queues,
the mail outbox) is read every few seconds by `watch`, so a scrape never waits on the store.
Each process has its own registry: scrape every process, as Prometheus does with targets.
docs/deploying.md lists the names and the alerts worth setting.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import func, select

from chatserver.store import Store, now_ms
from chatserver.store.schema import conversations, outbox, sites
from chatserver.webhooks import outbox as webhook_outbox

log = logging.getLogger("chatserver.metrics")

# Store-held figures are read this often: fresh enough for an alert that waits a minute.
STORE_READ_SECONDS = 10.0

REGISTRY = CollectorRegistry()
SOCKETS = Gauge("chatserver_sockets_open", "WebSockets open on this process", ["role"],
                registry=REGISTRY)
MESSAGES = Counter("chatserver_messages_stored_total", "Chat messages stored (resends not counted)",
                   registry=REGISTRY)
COMMIT_SECONDS = Histogram("chatserver_commit_seconds", "Time to commit one batch of messages",
                           buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1),
                           registry=REGISTRY)
BATCH_SIZE = Histogram("chatserver_commit_batch_size", "Messages per committed batch",
                       buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=REGISTRY)
SEARCH_SECONDS = Histogram("chatserver_search_seconds", "Time to answer one help-article search",
                           buckets=(0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
                           registry=REGISTRY)
REFUSED = Counter("chatserver_frames_refused_total", "Client frames answered with an error",
                  ["code"], registry=REGISTRY)
RATE_LIMITED = Counter("chatserver_rate_limited_total",
                       "Requests and frames refused by a limit (door) or a block (door=blocked)",
                       ["door"], registry=REGISTRY)
QUEUED = Gauge("chatserver_queue_length", "Chats waiting for an agent", ["site"], registry=REGISTRY)
OLDEST_QUEUED = Gauge("chatserver_queue_oldest_seconds", "Wait of the oldest queued chat",
                      ["site"], registry=REGISTRY)
# Counted by the process that records the breach (sla_watch): sum over processes, and use
# increase() since a restart starts the count again.
SLA_BREACHES = Counter("chatserver_sla_breaches_total", "SLA targets breached, each clock once",
                       ["site", "kind", "metric"], registry=REGISTRY)
OUTBOX = Gauge("chatserver_mail_outbox", "Outgoing mail by state", ["state"], registry=REGISTRY)
WEBHOOKS = Gauge("chatserver_webhook_backlog", "Webhook deliveries not yet made, by state",
                 ["state"], registry=REGISTRY)
OLDEST_WEBHOOK = Gauge("chatserver_webhook_oldest_pending_seconds",
                       "Age of the oldest webhook delivery not yet made", registry=REGISTRY)
OLDEST_MAIL = Gauge("chatserver_mail_oldest_pending_seconds", "Age of the oldest mail not yet sent",
                    registry=REGISTRY)


def render() -> bytes:
    """Return this process's metrics in the Prometheus text format."""
    return generate_latest(REGISTRY)


def allowed(client_host: str | None, authorization: str | None, token: str) -> bool:
    """Tell whether a scrape may read the metrics: with the token, or from this machine."""
    if token and authorization == f"Bearer {token}":
        return True
    try:
        return client_host is not None and ipaddress.ip_address(client_host).is_loopback
    except ValueError:
        return False


async def read_store(store: Store) -> None:
    """Refresh the figures that live in the store: queues per site, the mail and webhook outboxes."""
    now = now_ms()
    async with store.read() as conn:
        queues = await conn.execute(
            select(sites.c.public_key, func.count(conversations.c.id), func.min(conversations.c.queued_at))
            .select_from(sites.outerjoin(conversations, (conversations.c.site_id == sites.c.id)
                                         & (conversations.c.status == "queued")))
            .group_by(sites.c.public_key)
        )
        for key, count, oldest in queues:
            QUEUED.labels(key).set(count)
            OLDEST_QUEUED.labels(key).set(max(0, now - oldest) / 1000 if oldest else 0)
        states: dict[str, int] = dict((await conn.execute(
            select(outbox.c.status, func.count()).group_by(outbox.c.status)
        )).all())
        oldest_mail = (await conn.execute(
            select(func.min(outbox.c.created_at)).where(outbox.c.status == "pending")
        )).scalar()
    for state in ("pending", "sent", "dead"):
        OUTBOX.labels(state).set(states.get(state, 0))
    OLDEST_MAIL.set(max(0, now - oldest_mail) / 1000 if oldest_mail else 0)
    hooks = await webhook_outbox.backlog(store)
    WEBHOOKS.labels("pending").set(hooks["pending"])
    WEBHOOKS.labels("dead").set(hooks["dead"])
    OLDEST_WEBHOOK.set(hooks["oldest_seconds"])


async def watch(store: Store) -> None:
    """Keep the store-held figures fresh for as long as the process runs."""
    while True:
        try:
            await read_store(store)
        except Exception as failed:  # a database blip must not stop the metrics for good
            log.warning("event=metrics_read_failed error=%s", failed)
        await asyncio.sleep(STORE_READ_SECONDS)
