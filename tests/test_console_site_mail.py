"""Site settings the mail backend reads, and the sidebar's local time and earlier searches."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx
from browser import expect

from chatserver import customers
from chatserver.store import Store
from conftest import PASSWORD, Server, agent, visitor

SEEN_MS = 8000


async def sign_in(page: Any, server: Server, email: str, target: str) -> None:
    await page.goto(f"{server.http}/console/signin?next={target}")
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{server.http}{target}*")


def test_time_zones_are_checked_and_shown() -> None:
    assert customers.known_timezone("Europe/Amsterdam") == "Europe/Amsterdam"
    for bad in ("Mars/Olympus", "../../etc/passwd", "", 3, None, "x" * 65):
        assert customers.known_timezone(bad) is None
    # 2024-01-15 12:00 UTC is 13:00 in Amsterdam (winter time).
    assert customers.local_time("Europe/Amsterdam", 1705320000000) == "13:00 (Europe/Amsterdam)"
    assert customers.local_time(None, 1705320000000) is None


async def test_keystrokes_of_one_question_are_one_search(store_url: str) -> None:
    store = Store(store_url)
    await store.migrate()
    try:
        from chatserver import sites

        site = await sites.create(store, "Shop", [])
        contact = await customers.create(store, site.id)
        for typed in ("wher", "where is", "where is my parcel", "refund"):
            await customers.record_search(store, contact, typed)
        assert [s["query"] for s in await customers.searches(store, contact)] == [
            "refund", "where is my parcel"
        ]
    finally:
        await store.close()


async def test_an_admin_sets_the_support_address_and_new_sender_rule(
    server: Server, browser: Any
) -> None:
    site = await server.add_site("Acme")
    await server.add_agent("admin@example.com", site, role="admin")
    page = await browser.new_page(viewport={"width": 1280, "height": 1400})
    page.set_default_timeout(SEEN_MS)
    await sign_in(page, server, "admin@example.com", f"/console/admin/sites/{site.id}")
    await page.fill("#support_email", "Help@Shop.example")
    await page.check("#tickets_from_new_senders")
    await page.locator("#save-site").click()
    await expect(page.locator(".notice")).to_have_text("Saved.")
    await page.reload()
    await expect(page.locator("#support_email")).to_have_value("help@shop.example")
    await expect(page.locator("#tickets_from_new_senders")).to_be_checked()

    # A header trick is refused with the field named; what was stored stays.
    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    async with httpx.AsyncClient(base_url=server.http, cookies=cookies) as http:
        form = await http.get(f"/console/admin/sites/{site.id}")
        fields = dict(re.findall(r'name="([a-z_0-9]+)"[^>]* value="([^"]*)"', form.text))
        fields.update({name: "on" for name in re.findall(r'name="([a-z_0-9]+)"[^>]*checked', form.text)})
        fields.update({"locale": "en", "position": "right", "prechat": "off",
                       "support_email": "x@shop.example\r\nBcc: all@victim.example"})
        refused = await http.post(f"/console/admin/sites/{site.id}", data=fields)
        assert refused.status_code == 400
        assert "support address" in refused.text and "line breaks" in refused.text
    await page.reload()
    await expect(page.locator("#support_email")).to_have_value("help@shop.example")

    # The mail backend uses it: a new ticket notifies the support address.
    customer = await visitor(server, site)
    await customer.send(type="leave_email", email="kim@example.com", text="Call me", client_id="f1")
    await customer.expect("ticket")
    deadline = time.monotonic() + 5
    while not any("help@shop.example" in p.read_text(errors="replace")
                  for p in (server.data_dir / "outbox").glob("**/*.eml")):
        assert time.monotonic() < deadline, "no mail to the support address"
        await asyncio.sleep(0.1)
    await customer.close()


async def test_the_sidebar_shows_local_time_and_earlier_searches(server: Server, browser: Any) -> None:
    site = await server.add_site("Acme")
    ann = await server.add_agent("ann@example.com", site)
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            f"{server.http}/api/v1/sites/{site.public_key}/visitors",
            json={"timezone": "Asia/Tokyo", "locale": "en-GB", "profile": {"name": "Kim"}},
            headers={"Origin": server.http},
        )
    answer.raise_for_status()
    customer = await visitor(server, site, token=answer.json()["token"])
    for typed in ("wher", "where is my <b>parcel</b>"):
        await customer.send(type="search", text=typed)
        await customer.expect("suggestions")

    page = await browser.new_page(viewport={"width": 1440, "height": 900})
    page.set_default_timeout(SEEN_MS)
    await sign_in(page, server, "ann@example.com", "/console")
    await page.select_option("#availability", "away")
    watcher = await agent(server, "ann@example.com")
    await watcher.expect("presence", agent={"id": ann.id, "name": "ann", "status": "away"})
    await customer.send(type="start", client_id="q1", text="zxqv it never came")
    conversation = (await customer.expect("ack"))["conversation"]
    await customer.send(type="escalate", conversation=conversation)
    await expect(page.locator("#list-queue .conv")).to_have_count(1)
    await page.locator("#list-queue .conv-open").click()
    facts = page.locator("#cust-facts")
    await expect(facts).to_contain_text("Local time")
    await expect(facts).to_contain_text("(Asia/Tokyo)")
    await expect(page.locator("#cust-searches .past-text")).to_have_text(["where is my <b>parcel</b>"])
    assert await page.locator("#customer b").count() == 0
    await page.screenshot(path="/tmp/console-sidebar.png")
    for client in (customer, watcher):
        await client.close()
