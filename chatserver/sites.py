"""Sites: the websites that embed the widget, their public keys, origins and settings."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import insert, select

from chatserver.recent_reads import RecentReads
from chatserver.store import Store, new_id, now_ms
from chatserver.store.schema import sites

DEFAULT_SETTINGS: dict[str, Any] = {
    "color": "#2563eb",
    "greeting": "Hi! Ask us anything.",
    "locale": "en",
}


@dataclass(frozen=True)
class Site:
    id: str
    public_key: str
    name: str
    allowed_origins: tuple[str, ...]
    settings: dict[str, Any]


# Browsers leave a scheme's default port out of Origin; so do we, to compare like with like.
_DEFAULT_PORTS = {"http": 80, "https": 443}
# A socket's scheme names the page's: ws:// belongs to http:// pages, wss:// to https://.
_PAGE_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}


def normalize_origin(origin: str) -> str:
    """Return scheme://host[:port] in lower case; raise ValueError for anything else."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{origin!r} is not an origin like https://shop.example")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError(f"{origin!r} is not an origin: no path, query or user allowed")
    scheme = parts.scheme.lower()
    port = f":{parts.port}" if parts.port and parts.port != _DEFAULT_PORTS[scheme] else ""
    host = parts.hostname.lower()
    return f"{scheme}://[{host}]{port}" if ":" in host else f"{scheme}://{host}{port}"


def own_origin(host: str, scheme: str) -> str | None:
    """Return the origin of this server as a request reached it (Host header, URL scheme)."""
    page_scheme = _PAGE_SCHEMES.get(scheme.lower())
    if page_scheme is None or not host:
        return None
    try:
        return normalize_origin(f"{page_scheme}://{host}")
    except ValueError:
        return None


def same_origin(origin: str, host: str, scheme: str) -> bool:
    """Tell whether a browser Origin is this server's own: scheme, host and port alike."""
    try:
        normalized = normalize_origin(origin)
    except ValueError:
        return False
    return normalized == own_origin(host, scheme)


def origin_allowed(site: Site, origin: str | None, own_host: str | None, scheme: str) -> bool:
    """Tell whether a browser on origin may use the site's widget.

    Pages served by chatserver itself (the demo page, the help centre) are always allowed:
    nobody but the server can put a page on its own origin, on the scheme it was reached by
    (a plain-http page of an https server is anybody's on the network path).
    """
    if not origin:
        return False
    try:
        normalized = normalize_origin(origin)
    except ValueError:
        return False
    if own_host and same_origin(normalized, own_host, scheme):
        return True
    return normalized in site.allowed_origins


def _site(row: Any) -> Site:
    return Site(
        row.id, row.public_key, row.name, tuple(row.allowed_origins),
        {**DEFAULT_SETTINGS, **row.settings},
    )


async def create(store: Store, name: str, origins: list[str]) -> Site:
    """Create a site with a fresh public key; origins must be valid."""
    site = Site(
        id=new_id(),
        public_key="site_" + secrets.token_urlsafe(12),
        name=name,
        allowed_origins=tuple(dict.fromkeys(normalize_origin(o) for o in origins)),
        settings=dict(DEFAULT_SETTINGS),
    )
    async with store.write() as conn:
        await conn.execute(
            insert(sites).values(
                id=site.id, public_key=site.public_key, name=name,
                allowed_origins=list(site.allowed_origins), settings={}, created_at=now_ms(),
            )
        )
    return site


# Every socket and page view looks its site up by key, and sites change seldom: a process
# keeps what it read for a moment. Its own changes it forgets at once (forget()); another
# process's change reaches new sockets here within CACHE_SECONDS. (An open socket keeps the
# site it was opened with in any case.)
CACHE_SECONDS = 1.0
_by_key: RecentReads[str, Site | None] = RecentReads(CACHE_SECONDS)


async def by_key(store: Store, public_key: str) -> Site | None:
    """Return the site with this public key, or None."""

    async def read() -> Site | None:
        found = await store.rows(select(sites).where(sites.c.public_key == public_key))
        return _site(found[0]) if found else None

    site = await _by_key.get(public_key, read)
    if site is None:
        _by_key.drop(public_key)  # not kept: a flood of made-up keys must not fill the cache
    return site


def forget() -> None:
    """Drop what this process keeps of sites: one of them was just changed."""
    _by_key.forget()


async def by_id(store: Store, site_id: str) -> Site | None:
    """Return the site with this id, or None."""
    async with store.read() as conn:
        row = (await conn.execute(select(sites).where(sites.c.id == site_id))).first()
    return _site(row) if row else None


async def all_sites(store: Store) -> list[Site]:
    """Return every site, oldest first."""
    async with store.read() as conn:
        rows = await conn.execute(select(sites).order_by(sites.c.created_at, sites.c.id))
        return [_site(row) for row in rows]
