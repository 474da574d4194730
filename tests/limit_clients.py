"""Clients from other loopback addresses (127.0.0.2 and up): a sender apart from the tests'
well-behaved visitors on 127.0.0.1, as another machine would be."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from websockets.asyncio.client import connect

from chatserver import sites
from chatserver.store import Store
from chatserver.store.schema import sites as sites_table
from conftest import Client, Server


async def token_from(server: Server, site: sites.Site, address: str, **body: Any) -> httpx.Response:
    """Ask for a visitor token from address, with the site's own page as Origin."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(transport=transport) as http:
        return await http.post(f"{server.http}/api/v1/sites/{site.public_key}/visitors",
                               json=body, headers={"Origin": server.http})


async def visitor_from(server: Server, site: sites.Site, address: str, token: str | None = None) -> Client:
    """Connect a visitor from address, say hello, and return it after its welcome."""
    if token is None:
        answer = await token_from(server, site, address)
        answer.raise_for_status()
        token = str(answer.json()["token"])
    ws = await connect(f"{server.ws}/ws/visitor?site={site.public_key}", origin=server.http,  # type: ignore[arg-type]
                       local_addr=(address, 0))
    client = Client(ws, token)
    await client.send(type="hello", token=token)
    await client.expect("welcome")
    return client


async def set_limits(server: Server, site: sites.Site, limits: dict[str, Any], **settings: Any) -> None:
    """Give a site its own budgets (settings["limits"]), read by every door from then on."""
    store = Store(server.store_url)
    try:
        async with store.write() as conn:
            await conn.execute(sites_table.update().where(sites_table.c.id == site.id)
                               .values(settings={**site.settings, **settings, "limits": limits}))
    finally:
        await store.close()
    # The server sees a change made by another process within this (sites.py).
    await asyncio.sleep(sites.CACHE_SECONDS)
