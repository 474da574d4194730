"""Proactive chat: rules are checked at save, fire once per visitor within their cap, count
their conversions; in Chromium a rule shows its message in the preview bubble, once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from browser import HostSite, expect

from chatserver import proactive, sites
from chatserver.store import Store
from conftest import Server, login, visitor, visitor_token

SEEN_TIMEOUT_MS = 8000


async def add_rule(server: Server, site: sites.Site, **fields: Any) -> proactive.Rule:
    store = Store(server.store_url)
    try:
        values = {"name": "Cart idle", "trigger": "event", "value": "cart_idle",
                  "message": "Need a hand with your order?", "cap": 1, **fields}
        return await proactive.add(store, site.id, **values)
    finally:
        await store.close()


async def shown(
    server: Server, site: sites.Site, rule: str, token: str, origin: str | None = None
) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(
            f"{server.http}/api/v1/sites/{site.public_key}/proactive/{rule}/shown",
            json={"token": token}, headers={"Origin": origin or server.http})


def test_rules_are_checked_before_they_are_stored() -> None:
    with pytest.raises(proactive.RuleError, match="whole seconds"):
        proactive.check("x", "time", "soon", "Hi", 1)
    with pytest.raises(proactive.RuleError, match="path pattern"):
        proactive.check("x", "url", "checkout", "Hi", 1)
    with pytest.raises(proactive.RuleError, match="event trigger"):
        proactive.check("x", "event", "cart idle!", "Hi", 1)
    with pytest.raises(proactive.RuleError, match="cap"):
        proactive.check("x", "event", "cart_idle", "Hi", 0)
    with pytest.raises(proactive.RuleError, match="message"):
        proactive.check("x", "event", "cart_idle", "x" * 301, 1)
    assert proactive.check(" Checkout ", "url", "/checkout*", " Hi ", 2) == (
        "Checkout", "url", "/checkout*", "Hi", 2)


async def test_a_rule_fires_once_per_visitor_within_its_cap_and_counts_conversions(server: Server) -> None:
    site = await server.add_site("Shop")
    once = await add_rule(server, site)
    twice = await add_rule(server, site, name="Checkout", trigger="url", value="/checkout*", cap=2)
    async with httpx.AsyncClient() as http:
        listed = (await http.get(f"{server.http}/api/v1/sites/{site.public_key}/proactive",
                                 headers={"Origin": server.http})).json()["rules"]
        foreign = await http.get(f"{server.http}/api/v1/sites/{site.public_key}/proactive",
                                 headers={"Origin": "https://evil.example"})
    assert [(r["trigger"], r["value"]) for r in listed] == [("event", "cart_idle"), ("url", "/checkout*")]
    assert foreign.status_code == 403

    first, second = await visitor_token(server, site), await visitor_token(server, site)
    answers = [(await shown(server, site, once.id, first)).json()["show"] for _ in range(3)]
    assert answers == [True, False, False]
    assert (await shown(server, site, once.id, second)).json()["show"] is True
    answers = [(await shown(server, site, twice.id, first)).json()["show"] for _ in range(3)]
    assert answers == [True, True, False]
    # Two tabs of one visitor asking at once still get one show between them.
    tabs = [await visitor_token(server, site)] * 4
    racing = await asyncio.gather(*(shown(server, site, once.id, t) for t in tabs))
    assert sorted(r.json()["show"] for r in racing) == [False, False, False, True]

    refused = await shown(server, site, once.id, "forged")
    assert refused.status_code == 401 and refused.json()["code"] == "unauthorized"
    other = await server.add_site("Other")
    assert (await shown(server, other, once.id, await visitor_token(server, other))).status_code == 404

    # The first visitor chats after the messages: it counts once, for the latest show.
    guest = await visitor(server, site, token=first)
    await guest.send(type="start", client_id="c1", text="Yes, my order")
    await guest.expect("ack")
    await guest.close()
    await server.add_agent("boss@example.com", site, role="admin")
    cookie = await login(server, "boss@example.com")
    async with httpx.AsyncClient(cookies={"chatserver_session": cookie}) as http:
        report = (await http.get(f"{server.http}/api/v1/reports/proactive",
                                 params={"site": site.public_key})).json()
    assert report["rows"] == [["Cart idle", 3, 0, 0.0], ["Checkout", 2, 1, 0.5]]


@pytest.fixture
def host(server: Server) -> Iterator[HostSite]:
    with HostSite(server).running() as site:
        yield site


@pytest.mark.shared_server
async def test_the_widget_opens_with_the_message_once(server: Server, host: HostSite, browser: Any) -> None:
    site = await server.add_site("Acme", origins=[host.origin])
    host.site_key = site.public_key
    await add_rule(server, site, name="Lingering", trigger="time", value="1",
                   message="Questions about <b>sizes</b>? Ask us.")
    await add_rule(server, site)
    page = await (await browser.new_context()).new_page()
    await page.goto(host.url())
    # A preview bubble, not a panel forced open; a click opens the panel with the message.
    await expect(page.locator(".cs-peek")).to_contain_text(
        "Questions about <b>sizes</b>? Ask us.", timeout=SEEN_TIMEOUT_MS)  # as text, never as HTML
    await expect(page.locator(".cs-panel")).to_be_hidden()
    await page.screenshot(path="/tmp/proactive-widget.png")
    await page.locator(".cs-peek").click()
    await expect(page.locator(".cs-them .cs-bubble").last).to_have_text(
        "Questions about <b>sizes</b>? Ask us.")

    # The same visitor on the next page: the time rule is spent (cap 1); the host page's
    # event fires the other rule, once.
    await page.reload()
    await page.wait_for_function("window.chatserver && window.chatserver._ctx")
    await page.evaluate("chatserver('close')")
    await page.evaluate("chatserver('track', 'cart_idle')")
    await expect(page.locator(".cs-peek")).to_contain_text(
        "Need a hand with your order?", timeout=SEEN_TIMEOUT_MS)
    await page.locator(".cs-peek .cs-icon").click()  # dismissed
    await expect(page.locator(".cs-peek")).to_be_hidden()
    await page.evaluate("chatserver('track', 'cart_idle')")
    await page.wait_for_timeout(1500)
    await expect(page.locator(".cs-peek")).to_be_hidden()
    await expect(page.locator(".cs-panel")).to_be_hidden()
    texts = await page.locator(".cs-them .cs-bubble").all_text_contents()
    assert "Questions about <b>sizes</b>? Ask us." not in texts
