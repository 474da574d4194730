"""Who is on the site now: the console's live list follows a visitor from page to page, across
processes too, and an agent's invitation reaches the visitor as a preview bubble."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from browser import HostSite, expect

from chatserver import sites
from conftest import PASSWORD, Cluster, Server, login, visitor

SEEN_TIMEOUT_MS = 10000


async def _page_view(server: Server, site: sites.Site, token: str | None, path: str,
                     referrer: str | None = None) -> str:
    """What the widget does on each page: renew its token with the page, then open its socket."""
    page = {"url": f"https://acme.example{path}", "title": path, "referrer": referrer}
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{server.http}/api/v1/sites/{site.public_key}/visitors",
                                   json={"token": token, "page": page}, headers={"Origin": server.http})
    response.raise_for_status()
    return str(response.json()["token"])


@pytest.fixture
async def console(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http, timeout=10) as http:
        yield http


async def _listed(http: httpx.AsyncClient, site: sites.Site) -> list[dict[str, Any]]:
    response = await http.get("/console/api/visitors", params={"site": site.id})
    response.raise_for_status()
    return list(response.json()["visitors"])


async def _seen(http: httpx.AsyncClient, site: sites.Site) -> list[dict[str, Any]]:
    """The list once a visitor is on it: a process writes its sockets' arrivals each second."""
    for _ in range(50):
        if found := await _listed(http, site):
            return found
        await asyncio.sleep(0.1)
    raise AssertionError("no visitor listed")


async def _until_gone(http: httpx.AsyncClient, site: sites.Site) -> None:
    """Wait for the server to see the last socket closed (it answers the close, then records it)."""
    for _ in range(50):
        if not await _listed(http, site):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the visitor is still listed after leaving")


async def test_the_list_follows_visitors_and_invitations_are_refused_clearly(server: Server) -> None:
    site, other = await server.add_site("Shop"), await server.add_site("Other")
    await server.add_agent("ann@example.com", site)
    cookie = await login(server, "ann@example.com")
    token = await _page_view(server, site, None, "/shoes", referrer="https://search.example/?q=shoes")
    first = await visitor(server, site, token=token)
    async with httpx.AsyncClient(base_url=server.http, cookies={"chatserver_session": cookie}) as http:
        (seen,) = await _seen(http, site)
        assert seen["page"] == {"url": "https://acme.example/shoes", "title": "/shoes"}
        assert seen["referrer"] == "https://search.example/?q=shoes"
        assert (seen["chatted_before"], seen["chatting"], seen["tabs"]) == (False, False, 1)

        # The next page: its socket opens as the last one closes; the visit goes on.
        await _page_view(server, site, token, "/shoes/red")
        second = await visitor(server, site, token=token)
        await first.close()
        (seen,) = await _seen(http, site)
        assert seen["page"]["url"] == "https://acme.example/shoes/red"
        assert seen["referrer"] == "https://search.example/?q=shoes"  # the visit's, not our own page

        # Invitations: to a site of someone else, to nobody, with nothing said: refused, nothing stored.
        url = f"/console/api/visitors/{seen['id']}/invite"
        body = {"site": site.id, "text": "Can I help?", "client_id": "i1"}
        assert (await http.get("/console/api/visitors", params={"site": other.id})).status_code == 404
        assert (await http.post(url, json={**body, "site": other.id})).status_code == 404
        assert (await http.post("/console/api/visitors/nobody/invite", json=body)).status_code == 404
        empty = await http.post(url, json={**body, "text": "  "})
        assert empty.status_code == 400 and empty.json()["code"] == "invalid_message"
        foreign = await http.post(url, json=body, headers={"Origin": "https://evil.example"})
        assert foreign.status_code == 403

        invited = await http.post(url, json=body)
        assert invited.status_code == 201
        conversation = invited.json()["conversation"]["id"]
        # The visitor's tabs hear of a conversation held by the agent, with the agent's line in it.
        event = await second.expect("conversation")
        assert event["conversation"]["id"] == conversation and event["conversation"]["status"] == "assigned"
        await second.send(type="sync", conversation=conversation, after=0)
        line = await second.expect("message", conversation=conversation)
        assert line["text"] == "Can I help?" and line["author"]["kind"] == "agent"
        again = await http.post(url, json={**body, "client_id": "i2"})
        assert again.status_code == 409 and "already" in again.json()["message"]
        (seen,) = await _seen(http, site)
        assert seen["chatting"] is True

        await second.close()
        await _until_gone(http, site)
    async with httpx.AsyncClient(base_url=server.http) as anonymous:
        assert (await anonymous.get("/console/api/visitors", params={"site": site.id})).status_code == 401


async def test_a_console_on_one_process_sees_a_visitor_on_the_other(cluster: Cluster) -> None:
    a, b = cluster.a, cluster.b
    site = await a.add_site("Shop")
    await a.add_agent("ann@example.com", site)
    token = await _page_view(b, site, None, "/lamps")
    guest = await visitor(b, site, token=token)
    cookie = await login(a, "ann@example.com")
    async with httpx.AsyncClient(base_url=a.http, cookies={"chatserver_session": cookie}) as http:
        (seen,) = await _seen(http, site)
        assert seen["page"]["url"] == "https://acme.example/lamps"
        invited = await http.post(f"/console/api/visitors/{seen['id']}/invite",
                                  json={"site": site.id, "text": "Hello from A", "client_id": "i1"})
        assert invited.status_code == 201
        # Process A's invitation reaches the visitor's socket on B through Redis.
        await guest.expect("conversation")
        await guest.close()
        await _until_gone(http, site)


@pytest.fixture
def host(server: Server) -> Iterator[HostSite]:
    with HostSite(server).running() as site:
        yield site


async def test_an_agent_watches_a_visitor_browse_and_invites_them(
    server: Server, host: HostSite, browser: Any
) -> None:
    site = await server.add_site("Acme", origins=[host.origin])
    host.site_key = site.public_key
    await server.add_agent("ann@example.com", site)

    agent_page = await (await browser.new_context()).new_page()
    await agent_page.goto(f"{server.http}/console/signin")
    await agent_page.fill("#email", server.address("ann@example.com"))
    await agent_page.fill("#password", PASSWORD)
    await agent_page.click("button[type=submit]")
    await agent_page.goto(f"{server.http}/console/visitors")

    shopper = await (await browser.new_context()).new_page()
    await shopper.goto(host.url("host-page.html?aisle=lamps"))
    rows = agent_page.locator("#v-rows tr")
    await expect(rows).to_have_count(1, timeout=SEEN_TIMEOUT_MS)
    await expect(rows.first.locator(".v-path")).to_have_text("/host-page.html?aisle=lamps",
                                                               timeout=SEEN_TIMEOUT_MS)
    await shopper.goto(host.url("host-page.html?aisle=rugs"))
    await expect(rows.first.locator(".v-path")).to_have_text("/host-page.html?aisle=rugs",
                                                               timeout=SEEN_TIMEOUT_MS)
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("never chatted")

    line = "The wool rug comes in three sizes; which room is it for?"
    await rows.first.locator("input[name=text]").fill(line)
    await rows.first.locator("button").click()
    await expect(agent_page.get_by_role("link", name="Invited: open the chat")).to_be_visible(
        timeout=SEEN_TIMEOUT_MS)

    bubble = shopper.locator(".cs-peek")
    await expect(bubble).to_contain_text("The wool rug comes in three sizes", timeout=SEEN_TIMEOUT_MS)
    await expect(shopper.locator(".cs-panel")).to_be_hidden()
    await shopper.screenshot(path="/tmp/live-visitors-bubble.png")
    await bubble.click()
    await expect(shopper.locator(".cs-panel")).to_be_visible()
    await expect(bubble).to_be_hidden()
    await expect(shopper.locator(".cs-them .cs-bubble").last).to_have_text(line)
    await shopper.locator(".cs-input").fill("The living room")
    await shopper.locator(".cs-input").press("Enter")
    await expect(rows.first).to_contain_text("chatting now", timeout=SEEN_TIMEOUT_MS)
    await agent_page.screenshot(path="/tmp/live-visitors-console.png")
