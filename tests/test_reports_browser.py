"""The reports page and the inbox's SLA flags in Chromium, against the real server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import expect
from sqlalchemy import update
from test_reports import seed_chat, seed_ticket, utc

from chatserver.store import Store
from chatserver.store.schema import sites as sites_table
from conftest import PASSWORD, Server, visitor

SEEN_TIMEOUT_MS = 8000


@pytest.fixture
def fast_sla(data_dir: Path, database_env: dict[str, str]) -> Iterator[Server]:
    """A server that checks SLA clocks twice a second, so a test need not wait 10 s."""
    running = Server(data_dir, {**database_env, "CHATSERVER_SLA_CHECK_SECONDS": "0.5"})
    running.start()
    yield running
    running.stop()


async def _sign_in(page: Any, server: Server, email: str) -> None:
    await page.goto(f"{server.http}/console/signin")
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page.locator("#availability")).to_be_enabled(timeout=SEEN_TIMEOUT_MS)


async def test_the_reports_page_shows_the_charts(fast_sla: Server, browser: Any) -> None:
    server = fast_sla
    site = await server.add_site("Shop <&> Co")
    admin = await server.add_agent("boss@example.com", site, role="admin")
    store = Store(server.store_url)
    try:
        await seed_chat(store, site.id, utc(16, 10), queued=utc(16, 10), reply=utc(16, 10, 2),
                        closed=utc(16, 10, 20), agent_id=admin.id, rating="good",
                        comment="<script>window.pwned=1</script>")
        await seed_chat(store, site.id, utc(17, 9), closed=utc(17, 9, 1), resolution="self_served")
        await seed_ticket(store, site.id, utc(18, 8), utc(18, 12), None)
    finally:
        await store.close()
    page = await (await browser.new_context()).new_page()
    await _sign_in(page, server, "boss@example.com")
    await page.click("a[href='/console/reports']")
    await page.goto(f"{server.http}/console/reports?site={site.public_key}&from=2026-11-16&to=2026-11-20")
    for chart in ("#chart-volume", "#chart-hours", "#chart-chat-first_response", "#chart-forecast"):
        await expect(page.locator(chart)).to_be_visible()
    # One bar per day and channel with chats or tickets; the busy hours of the week shaded.
    assert await page.locator("#chart-volume rect.bar[height]:not([height='0.0'])").count() == 3
    assert await page.locator("#chart-hours rect.cell").count() == 168
    await expect(page.locator("#chart-chat-first_response line.target")).to_have_count(1)
    await expect(page.locator("#share-self-served")).to_contain_text("50%")
    await expect(page.locator("#share-good")).to_contain_text("100%")
    await expect(page.locator("#table-comments")).to_contain_text("<script>window.pwned=1</script>")
    assert await page.evaluate("window.pwned") is None
    csv_link = page.locator("#volume a[download]")
    assert "format=csv" in (await csv_link.get_attribute("href") or "")
    await page.screenshot(path="/tmp/reports-page.png", full_page=True)

    await page.goto(f"{server.http}/console/reports?site={site.public_key}&from=2026-11-20&to=2026-11-01")
    await expect(page.locator("[role=alert]")).to_have_text(
        "The start date is after the end date: swap them.")


async def test_the_inbox_flags_a_chat_past_its_sla_and_alerts(fast_sla: Server, browser: Any) -> None:
    server = fast_sla
    site = await server.add_site()
    store = Store(server.store_url)
    async with store.write() as conn:
        await conn.execute(update(sites_table).where(sites_table.c.id == site.id).values(
            settings={**site.settings, "sla": {"chat_first_response_seconds": 3}}))
    await store.close()
    await server.add_agent("ann@example.com", site)
    page = await (await browser.new_context()).new_page()
    await _sign_in(page, server, "ann@example.com")
    await page.select_option("#availability", "away")  # keep the chat in the queue
    guest = await visitor(server, site)
    await guest.send(type="start", client_id="c1", text="Hello?")
    conversation = (await guest.expect("ack"))["conversation"]
    await guest.send(type="escalate", conversation=conversation)
    row = page.locator(f"#list-queue .conv[data-conversation='{conversation}']")
    await expect(row).to_be_visible(timeout=SEEN_TIMEOUT_MS)
    # Amber for the last 20% of the target (checked without a browser in test_reports_metrics),
    # then red with its flag once the three seconds have passed.
    await expect(row).to_have_class(re.compile(r"\bsla-breached\b"), timeout=SEEN_TIMEOUT_MS)
    await expect(row.locator(".sla-flag")).to_have_text("SLA breached")
    await expect(page.locator("#toast")).to_contain_text("Past its SLA target")
    await page.screenshot(path="/tmp/inbox-sla.png")
    await guest.close()
