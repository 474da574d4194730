"""The chat view's tools in Chromium: private notes, help articles sent as links, convert to ticket."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from browser import expect

from conftest import PASSWORD, Client, Server, agent, visitor

SEEN_MS = 8000
EVIL = '<img src=x onerror="window.pwned=1">'


async def sign_in(page: Any, server: Server, email: str, target: str = "/console") -> None:
    await page.goto(f"{server.http}/console/signin?next={target}")
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{server.http}{target}*", timeout=SEEN_MS)


async def queued_chat(customer: Client, text: str) -> str:
    await customer.send(type="start", client_id="q1", text=text)
    conversation = str((await customer.expect("ack"))["conversation"])
    await customer.send(type="escalate", conversation=conversation)
    return conversation


async def test_notes_articles_and_convert_in_the_chat_view(server: Server, browser: Any) -> None:
    site = await server.add_site("Acme")
    ann = await server.add_agent("ann@example.com", site)
    await server.add_agent("bob@example.com", site)
    bob = await agent(server, "bob@example.com")
    await bob.send(type="presence", status="away")
    page = await browser.new_page(viewport={"width": 1440, "height": 900})
    page.set_default_timeout(SEEN_MS)
    await sign_in(page, server, "ann@example.com")
    await expect(page.locator("#availability")).to_be_enabled(timeout=SEEN_MS)
    await page.select_option("#availability", "away")
    await bob.expect("presence", agent={"id": ann.id, "name": "ann", "status": "away"})
    # A ticket is answered by email: this visitor told the widget their address.
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{server.http}/api/v1/sites/{site.public_key}/visitors",
                                 json={"profile": {"name": "Cas", "email": "cas@example.com"}},
                                 headers={"Origin": server.http})
    customer = await visitor(server, site, token=answer.json()["token"])
    conversation = await queued_chat(customer, "zxqv my order")
    await expect(page.locator("#list-queue .conv")).to_have_count(1, timeout=SEEN_MS)
    await page.locator("#list-queue .conv-accept").click()
    await expect(page.locator("#text")).to_be_enabled(timeout=SEEN_MS)

    # A private note: shown inline, styled apart, sent to other agents, never to the visitor.
    await page.locator("#mode-note").click()
    await expect(page.locator("#composer")).to_be_hidden()
    await page.fill("#note-text", EVIL + " prefers email")
    await page.locator("#note-send").click()
    note = page.locator(".msg-note")
    await expect(note.locator(".msg-text")).to_have_text(EVIL + " prefers email", timeout=SEEN_MS)
    await expect(note.locator(".msg-who")).to_have_text("Note by ann")
    await expect(page.locator("#note-text")).to_have_value("")
    await bob.send(type="sync", conversation=conversation, after=0)
    assert (await bob.expect("note", conversation=conversation))["text"] == EVIL + " prefers email"
    # Bob's note arrives live in Ann's transcript.
    await bob.send(type="note", conversation=conversation, client_id="b1", text="I called them")
    await expect(page.locator(".msg-note .msg-text")).to_have_text(
        [EVIL + " prefers email", "I called them"], timeout=SEEN_MS
    )

    # Search the help articles and send one as a link; the visitor gets it as a message.
    await page.locator("#mode-reply").click()
    await page.locator("#kb-toggle").click()
    await page.fill("#kb-q", "how do I return a product")
    hits = page.locator("#kb-results .kb-hit")
    await expect(hits.first).to_be_visible(timeout=SEEN_MS)
    title = (await hits.first.locator(".kb-title").text_content()) or ""
    href = await hits.first.locator(".kb-title").get_attribute("href")
    assert href and href.startswith(f"{server.http}/help/en/")
    assert await hits.first.locator(".kb-snippet mark").count() >= 1
    await page.fill("#text", "This explains it:")
    await hits.first.locator(".kb-send").click()
    sent = await customer.expect(
        "message", conversation=conversation, author={"kind": "agent", "id": ann.id, "name": "ann"}
    )
    assert sent["text"] == f"This explains it:\n{title}\n{href}"
    await expect(page.locator(".msg-mine .msg-text")).to_have_text([sent["text"]])
    await page.fill("#kb-q", "qqqq zzzz wwww")
    await expect(page.locator("#kb-empty")).to_be_visible(timeout=SEEN_MS)

    # The visitor's socket never saw a note.
    await customer.send(type="sync", conversation=conversation, after=0)
    await customer.expect("synced", conversation=conversation)
    assert not [f for f in customer.seen if f["type"] == "note" or "prefers email" in str(f)]

    # Convert to an email ticket: the chat closes, the ticket is linked from the chat view.
    page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept("Order never arrived")))
    await page.locator("#convert").click()
    link = page.locator("#chat-ticket a")
    await expect(link).to_be_visible(timeout=SEEN_MS)
    ticket_event = await bob.expect("ticket", timeout=5)
    assert ticket_event["ticket"]["subject"] == "Order never arrived"
    assert ticket_event["ticket"]["conversation"] == conversation
    assert ticket_event["ticket"]["assignee"]["id"] == ann.id
    await expect(link).to_have_attribute("href", f"/console/tickets#{ticket_event['ticket']['id']}")
    await expect(page.locator("#chat-sub")).to_have_text("Closed", timeout=SEEN_MS)
    await expect(page.locator("#convert")).to_be_hidden()
    await page.screenshot(path="/tmp/console-chat-tools.png")

    assert await page.evaluate("window.pwned") is None
    for client in (bob, customer):
        await client.close()


async def test_article_search_is_for_signed_in_agents_only(server: Server) -> None:
    await server.add_agent("ann@example.com")
    async with httpx.AsyncClient(base_url=server.http) as http:
        anonymous = await http.get("/console/api/articles", params={"q": "return"})
        assert anonymous.status_code == 401
        assert anonymous.json()["code"] == "unauthorized"
        signed = await http.post("/api/v1/login", json={"email": "ann@example.com", "password": PASSWORD})
        signed.raise_for_status()
        found = await http.get("/console/api/articles", params={"q": "return a product", "locale": "en"})
        assert found.status_code == 200
        assert found.json()["articles"][0]["url"].startswith(f"{server.http}/help/en/")
        bad = await http.get("/console/api/articles", params={"q": "x", "locale": "../etc"})
        assert bad.status_code == 400
        assert "locale" in bad.json()["message"]
