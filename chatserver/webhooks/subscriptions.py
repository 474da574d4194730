"""A site's webhook subscriptions: URL, secret (shown once), events, enabled; its allow-list."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update

from chatserver.store import Store, new_id, now_ms
from chatserver.store.schema import webhook_allow, webhook_deliveries, webhook_subscriptions
from chatserver.webhooks import events, guard

# A site's integrations are a handful; more is a script gone wrong, and each one multiplies
# every event's deliveries.
MAX_PER_SITE = 20
MAX_ALLOW = 50


@dataclass(frozen=True)
class Subscription:
    id: str
    site_id: str
    url: str
    events: tuple[str, ...]
    enabled: bool
    created_at: int

    def public(self) -> dict[str, Any]:
        """Describe it to an admin: never the secret, which was shown once at creation."""
        return {"id": self.id, "url": self.url, "events": list(self.events),
                "enabled": self.enabled, "created_at": self.created_at}


def _subscription(row: Any) -> Subscription:
    return Subscription(row.id, row.site_id, row.url, tuple(row.events), bool(row.enabled),
                        row.created_at)


def check_events(names: Any) -> tuple[str, ...]:
    """Return the event names asked for, each once; raise ValueError naming an unknown one."""
    if names == "*" or names == ["*"]:
        return events.NAMES
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ValueError(f"'events' must be a list of event names (or \"*\"): {', '.join(events.NAMES)}")
    unknown = [n for n in names if n not in events.NAMES]
    if unknown:
        raise ValueError(f"unknown event {unknown[0]!r}; events: {', '.join(events.NAMES)}")
    return tuple(dict.fromkeys(names))


async def of_site(store: Store, site_id: str) -> list[Subscription]:
    async with store.read() as conn:
        rows = await conn.execute(
            select(webhook_subscriptions).where(webhook_subscriptions.c.site_id == site_id)
            .order_by(webhook_subscriptions.c.created_at, webhook_subscriptions.c.id)
        )
        return [_subscription(row) for row in rows]


async def get(store: Store, site_id: str, subscription_id: str) -> Subscription | None:
    """Return the site's subscription; None for another site's, as for a missing one."""
    async with store.read() as conn:
        row = (await conn.execute(select(webhook_subscriptions).where(
            webhook_subscriptions.c.id == subscription_id, webhook_subscriptions.c.site_id == site_id
        ))).first()
    return _subscription(row) if row is not None else None


async def create(
    store: Store, site_id: str, url: str, names: Iterable[str], secret: str
) -> Subscription:
    """Store a subscription (the URL already checked by the caller); raise ValueError past the cap."""
    subscription = Subscription(new_id(), site_id, url, tuple(names), True, now_ms())
    async with store.write() as conn:
        count = len(list(await conn.execute(
            select(webhook_subscriptions.c.id).where(webhook_subscriptions.c.site_id == site_id)
        )))
        if count >= MAX_PER_SITE:
            raise ValueError(f"a site has at most {MAX_PER_SITE} webhooks")
        await conn.execute(insert(webhook_subscriptions).values(
            id=subscription.id, site_id=site_id, url=url, secret=secret,
            events=list(subscription.events), enabled=True, created_at=subscription.created_at,
        ))
    return subscription


async def set_enabled(store: Store, site_id: str, subscription_id: str, enabled: bool) -> bool:
    async with store.write() as conn:
        changed = await conn.execute(
            update(webhook_subscriptions).where(
                webhook_subscriptions.c.id == subscription_id, webhook_subscriptions.c.site_id == site_id
            ).values(enabled=enabled)
        )
    return bool(changed.rowcount)


async def remove(store: Store, site_id: str, subscription_id: str) -> bool:
    """Delete a subscription and its deliveries, sent or not; False if the site has none such."""
    async with store.write() as conn:
        found = (await conn.execute(select(webhook_subscriptions.c.id).where(
            webhook_subscriptions.c.id == subscription_id, webhook_subscriptions.c.site_id == site_id
        ))).first()
        if found is None:
            return False
        await conn.execute(delete(webhook_deliveries)
                           .where(webhook_deliveries.c.subscription_id == subscription_id))
        await conn.execute(delete(webhook_subscriptions)
                           .where(webhook_subscriptions.c.id == subscription_id))
    return True


async def check_url(store: Store, instance_allow: tuple[guard.Network, ...], site_id: str, url: Any) -> str:
    """Return the URL if deliveries may reach it now; raise guard.Refused saying why not."""
    if not isinstance(url, str) or not url.strip():
        raise guard.Refused("the URL must be an https:// address")
    await guard.target(url.strip(), instance_allow + await allow_list(store, site_id))
    return url.strip()


async def allow_list(store: Store, site_id: str) -> tuple[guard.Network, ...]:
    """Return the private networks the site's admin lets deliveries reach."""
    async with store.read() as conn:
        found = (await conn.execute(
            select(webhook_allow.c.networks).where(webhook_allow.c.site_id == site_id)
        )).scalar()
    return guard.parse_networks(found or [])


async def set_allow_list(store: Store, site_id: str, items: Any) -> tuple[guard.Network, ...]:
    """Replace the site's allow-list; raise guard.Refused on a bad network, nothing changed."""
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise guard.Refused("'networks' must be a list of networks like 10.0.0.0/8")
    if len(items) > MAX_ALLOW:
        raise guard.Refused(f"an allow-list holds at most {MAX_ALLOW} networks")
    networks = guard.parse_networks(items)
    async with store.write() as conn:
        await conn.execute(delete(webhook_allow).where(webhook_allow.c.site_id == site_id))
        if networks:
            await conn.execute(insert(webhook_allow).values(
                site_id=site_id, networks=[str(n) for n in networks]
            ))
    return networks
