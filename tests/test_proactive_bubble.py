"""Proactive messages in the widget: a small preview bubble the visitor opens or dismisses,
never a forced-open panel, on the site's pages and on pages chatserver serves itself."""

from __future__ import annotations

from typing import Any

import httpx
from browser import expect

from chatserver import proactive, sites
from chatserver.store import Store
from conftest import Server

SEEN_TIMEOUT_MS = 8000


async def add_rule(server: Server, site: sites.Site, **fields: Any) -> proactive.Rule:
    store = Store(server.store_url)
    try:
        values = {"name": "Welcome", "trigger": "time", "value": "1",
                  "message": "Looking for something? Ask us.", "cap": 1, **fields}
        return await proactive.add(store, site.id, **values)
    finally:
        await store.close()


async def test_the_demo_shop_shows_a_rule_in_a_bubble_within_its_cap(server: Server, browser: Any) -> None:
    # The demo shop is served by chatserver itself, for the first site: a same-origin page.
    store = Store(server.store_url)
    try:
        site = (await sites.all_sites(store))[0]
    finally:
        await store.close()
    await add_rule(server, site)
    page = await (await browser.new_context()).new_page()
    await page.goto(f"{server.http}/")
    bubble = page.locator(".cs-peek")
    await expect(bubble).to_contain_text("Looking for something? Ask us.", timeout=SEEN_TIMEOUT_MS)
    await expect(page.locator(".cs-panel")).to_be_hidden()
    await page.screenshot(path="/tmp/proactive-demo-bubble.png")
    await bubble.click()
    await expect(page.locator(".cs-panel")).to_be_visible()
    await expect(bubble).to_be_hidden()
    await expect(page.locator(".cs-them .cs-bubble").last).to_have_text("Looking for something? Ask us.")

    # The cap is one show: the same visitor on the next page sees no bubble.
    await page.evaluate("chatserver('close')")
    await page.reload()
    await page.wait_for_function("window.chatserver && window.chatserver._ctx.started")
    await page.wait_for_timeout(2500)
    await expect(bubble).to_be_hidden()
    await expect(page.locator(".cs-panel")).to_be_hidden()


async def test_a_same_origin_page_may_read_the_rules(server: Server) -> None:
    # Browsers send no Origin with a same-origin GET, only Sec-Fetch-Site: the demo shop's
    # widget was refused (403) and never saw a rule.
    site = await server.add_site("Shop")
    await add_rule(server, site)
    url = f"{server.http}/api/v1/sites/{site.public_key}/proactive"
    async with httpx.AsyncClient() as http:
        same = await http.get(url, headers={"Sec-Fetch-Site": "same-origin"})
        cross = await http.get(url, headers={"Sec-Fetch-Site": "cross-site"})
        bare = await http.get(url)
    assert same.status_code == 200
    assert [r["message"] for r in same.json()["rules"]] == ["Looking for something? Ask us."]
    assert cross.status_code == 403 and bare.status_code == 403
