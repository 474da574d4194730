"""The customer in view: who the visitor is and what they did before, for the chat sidebar."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import and_, select

from chatserver import customers
from chatserver.store import Store, now_ms
from chatserver.store.schema import article_views, articles, contacts

ARTICLES_LIMIT = 10

_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
             ("Safari/", "Safari"))
_SYSTEMS = (("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"), ("Windows", "Windows"),
            ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"))


def device(user_agent: str | None) -> str | None:
    """Return "Browser on System" from a User-Agent header, or None when unknown."""
    if not user_agent:
        return None
    browser = next((name for key, name in _BROWSERS if key in user_agent), None)
    system = next((name for key, name in _SYSTEMS if key in user_agent), None)
    if re.search(r"HeadlessChrome", user_agent):
        browser = "Chrome (headless)"
    parts = [p for p in (browser, system) if p]
    return " on ".join(parts) if parts else None


async def profile(store: Store, contact_id: str, site_ids: list[str]) -> dict[str, Any] | None:
    """Return the sidebar data of a contact of one of these sites, or None."""
    async with store.read() as conn:
        contact = (
            await conn.execute(
                select(contacts).where(contacts.c.id == contact_id, contacts.c.site_id.in_(site_ids))
            )
        ).first()
        if contact is None:
            return None
        read = await conn.execute(
            select(articles.c.title, article_views.c.slug, article_views.c.created_at)
            .select_from(
                article_views.outerjoin(
                    articles,
                    and_(articles.c.slug == article_views.c.slug,
                         articles.c.locale == article_views.c.locale),
                )
            )
            .where(article_views.c.contact_id == contact_id)
            .order_by(article_views.c.created_at.desc())
            .limit(ARTICLES_LIMIT)
        )
        viewed = [{"title": r.title or r.slug, "viewed_at": r.created_at} for r in read]
    facts = [
        ("email", contact.email),
        ("verified", "yes" if contact.external_id else "no"),
        ("page", contact.page_title or contact.page_url),
        ("referrer", contact.referrer),
        ("device", device(contact.user_agent)),
        ("language", contact.locale),
        ("local_time", customers.local_time(contact.timezone, now_ms())),
    ]
    return {
        "id": contact.id,
        "name": contact.name,
        "facts": [{"key": key, "value": value} for key, value in facts if value],
        "conversations": await customers.history(store, contact_id, site_ids),
        "articles": viewed,
        "searches": await customers.searches(store, contact_id),
    }
