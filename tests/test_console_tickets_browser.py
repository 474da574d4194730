"""The tickets page in Chromium: list with filters, thread, reply, note, changes, live updates."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from browser import expect

from conftest import PASSWORD, Client, Server, visitor

SEEN_MS = 8000
EVIL = '<img src=x onerror="window.pwned=1">'


async def emailed(customer: Client, email: str, text: str, client_id: str) -> dict[str, Any]:
    """The visitor leaves their address and question (the offline form): a ticket opens."""
    await customer.send(type="leave_email", email=email, name=EVIL, text=text, client_id=client_id)
    return dict((await customer.expect("ticket"))["ticket"])


async def test_an_agent_works_a_ticket_from_the_console(server: Server, browser: Any) -> None:
    site = await server.add_site("Acme")
    ann = await server.add_agent("ann@example.com", site)
    customer = await visitor(server, site)
    first = await emailed(customer, "kim@example.com", "My parcel never came", "f1")

    page = await browser.new_page(viewport={"width": 1440, "height": 900})
    page.set_default_timeout(SEEN_MS)
    await page.goto(f"{server.http}/console/signin?next=/console/tickets")
    await page.fill("#email", "ann@example.com")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{server.http}/console/tickets")

    rows = page.locator("#ticket-list .ticket-row")
    await expect(rows).to_have_count(1)
    await expect(rows.first.locator(".ticket-subject")).to_have_text("My parcel never came")
    await rows.first.click()
    await expect(page.locator("#t-subject")).to_have_text("My parcel never came")
    await expect(page.locator("#t-sub")).to_contain_text("kim@example.com")
    await expect(page.locator("#t-thread .entry-customer .entry-text")).to_have_text(
        ["My parcel never came"]
    )
    await expect(page.locator("#t-thread .entry-customer .entry-who")).to_have_text(EVIL)

    # Priority, assignee and tags, each stored at once.
    await page.select_option("#t-priority", "high")
    await expect(page.locator("#t-notice")).to_have_text("Saved.")
    await expect(rows.first.locator(".pill-high")).to_have_text("High")
    await expect(page.locator(f"#t-assignee option[value='{ann.id}']")).to_have_count(1)
    await page.select_option("#t-assignee", ann.id)
    await expect(rows.first.locator(".ticket-sub")).to_contain_text("ann")
    await page.fill("#t-tags", "Refund, vip")
    await page.locator("#t-tags").press("Enter")
    await expect(page.locator("#t-tags")).to_have_value("refund, vip")

    # A private note, then a reply that is mailed and sets the ticket to pending.
    await page.locator("#t-mode-note").click()
    await page.fill("#t-text", "Carrier says lost")
    await page.locator("#t-send").click()
    await expect(page.locator("#t-thread .entry-note .entry-text")).to_have_text(["Carrier says lost"])
    await page.locator("#t-mode-reply").click()
    await page.fill("#t-text", "We are sending a new one today.")
    await page.select_option("#t-reply-status", "pending")
    await page.locator("#t-send").click()
    await expect(page.locator("#t-notice")).to_have_text("Reply sent to kim@example.com.")
    await expect(page.locator("#t-thread .entry-agent .entry-text")).to_have_text(
        ["We are sending a new one today."]
    )
    await expect(page.locator("#t-status")).to_have_value("pending")
    await expect(page.locator("#t-text")).to_have_value("")
    assert await _mailed(server, "We are sending a new one today."), "the reply was not mailed"
    assert not await _mailed(server, "Carrier says lost"), "a private note was mailed"

    # A status the ticket cannot move to is refused with the reason; nothing changes.
    async with httpx.AsyncClient(base_url=server.http) as http:
        await http.post("/api/v1/login", json={"email": "ann@example.com", "password": PASSWORD})
        reopened = await http.patch(f"/api/v1/tickets/{first['id']}", json={"status": "new"})
        assert reopened.status_code == 400

    # A new ticket arrives live; filters narrow the list.
    other = await visitor(server, site)
    await emailed(other, "lee@example.com", "Invoice please", "f2")
    await expect(rows).to_have_count(2)
    await page.select_option("#f-assignee", "none")
    await expect(rows).to_have_count(1)
    await expect(rows.first.locator(".ticket-subject")).to_have_text("Invoice please")
    await page.select_option("#f-assignee", "")
    await page.fill("#f-tag", "vip")
    await expect(rows).to_have_count(1)
    await expect(rows.first.locator(".ticket-subject")).to_have_text("My parcel never came")
    await page.fill("#f-tag", "")
    await page.select_option("#f-status", "pending")
    await expect(rows).to_have_count(1)
    await page.screenshot(path="/tmp/console-tickets.png")

    assert await page.evaluate("window.pwned") is None
    assert await page.locator("#tickets img").count() == 0
    for client in (customer, other):
        await client.close()


async def _mailed(server: Server, text: str, seconds: float = 5.0) -> bool:
    """Whether a mail holding text was written to the data dir's outbox (no SMTP_URL)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for path in (server.data_dir / "outbox").glob("**/*.eml"):
            if text in path.read_text(errors="replace"):
                return True
        if "Carrier" in text:
            await asyncio.sleep(0.2)
            continue
        await asyncio.sleep(0.1)
    return False


async def test_a_ticket_of_another_site_is_missing_for_an_agent(server: Server) -> None:
    site = await server.add_site("Acme")
    other_site = await server.add_site("Other")
    await server.add_agent("eve@example.com", other_site)
    customer = await visitor(server, site)
    ticket = await emailed(customer, "kim@example.com", "Where is it", "f1")
    async with httpx.AsyncClient(base_url=server.http) as http:
        await http.post("/api/v1/login", json={"email": "eve@example.com", "password": PASSWORD})
        assert (await http.get("/api/v1/tickets")).json()["tickets"] == []
        path = f"/api/v1/tickets/{ticket['id']}"
        for method, url, body in (
            ("GET", path, None), ("PATCH", path, {"priority": "low"}),
            ("POST", path + "/notes", {"text": "peek"}), ("POST", path + "/replies", {"text": "hi"}),
        ):
            answer = await http.request(method, url, json=body)
            assert answer.status_code == 404, (method, url)
            assert answer.json() == {"type": "error", "code": "not_found", "message": "no such ticket"}
        page = await http.get("/console/tickets")
        assert page.status_code == 200
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    await customer.close()
