"""What a visitor's widget is told about who can answer: agents online and business hours.

One function for the three places that tell it (the visitor token answer, the socket's
welcome and the availability event), so the widget never sees two answers to one question.
"""

from __future__ import annotations

from typing import Any

from chatserver import agents, hours, sites
from chatserver.store import Store, now_ms


async def availability(store: Store, site: sites.Site | None, site_id: str = "") -> dict[str, Any]:
    """Return agents_online, open_now and next_change_in (seconds, or None) for the site.

    Give the site, or None and its id (a site deleted meanwhile counts as always open).
    """
    online = await agents.answering(store, site.id if site else site_id)
    hours_setting = site.settings.get("hours") if site else None
    return {"agents_online": online, **hours.for_visitors(hours_setting, now_ms())}


async def availability_of(store: Store, site_id: str) -> dict[str, Any]:
    """availability() for a site known only by its id."""
    return await availability(store, await sites.by_id(store, site_id), site_id)
