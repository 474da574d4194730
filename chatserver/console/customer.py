"""The customer in view: who the visitor is and what they did before, for the chat sidebar."""

from __future__ import annotations

import re
from typing import Any

from babel import Locale, UnknownLocaleError
from sqlalchemy import and_, select

from chatserver import customers, i18n
from chatserver.store import Store, now_ms
from chatserver.store.schema import article_views, articles, contacts

ARTICLES_LIMIT = 10

_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
             ("Safari/", "Safari"))
_SYSTEMS = (("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"), ("Windows", "Windows"),
            ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"))


def device(user_agent: str | None, locale: str = i18n.DEFAULT) -> str | None:
    """Return "Chrome on Windows" ("Chrome op Windows") from a User-Agent header, or None."""
    if not user_agent:
        return None
    t = i18n.translator(locale)
    browser = next((name for key, name in _BROWSERS if key in user_agent), None)
    system = next((name for key, name in _SYSTEMS if key in user_agent), None)
    if re.search(r"HeadlessChrome", user_agent):
        browser = t("device_headless")
    if browser and system:
        return t("device_on", browser=browser, system=system)
    return browser or system


def language(code: str | None, locale: str = i18n.DEFAULT) -> str | None:
    """Return a language code as its name in the reader's language: "nl" is "Dutch" or "Nederlands"."""
    if not code:
        return None
    try:
        return Locale.parse(code).get_display_name(locale) or code
    except (ValueError, UnknownLocaleError):
        return code


async def profile(
    store: Store, contact_id: str, site_ids: list[str], locale: str = i18n.DEFAULT
) -> dict[str, Any] | None:
    """Return the sidebar data of a contact of one of these sites, in the reader's language, or None."""
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
        ("device", device(contact.user_agent, locale)),
        ("language", language(contact.locale, locale)),
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
