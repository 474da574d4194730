"""The console in a real browser (Debian's Chromium via Playwright) against the real server."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from browser import expect

from chatserver.console import canned
from chatserver.store import Store
from conftest import PASSWORD, Client, Server, agent, visitor

SEEN_TIMEOUT_MS = 8000
SHOTS = Path("/tmp")
EVIL = '<img src=x onerror="window.pwned=1">'


async def _visitor(server: Server, site: Any, name: str, email: str) -> Client:
    """A visitor whose widget told the server their name and page, as the widget does."""
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{server.http}/api/v1/sites/{site.public_key}/visitors",
            json={"profile": {"name": name, "email": email},
                  "page": {"url": "https://acme.example/orders", "title": "My orders"}},
            headers={"Origin": server.http,
                     "User-Agent": "Mozilla/5.0 (Windows NT 10.0) Chrome/126.0 Safari/537.36"},
        )
    response.raise_for_status()
    return await visitor(server, site, token=response.json()["token"])


async def _ask(client: Client, client_id: str, text: str) -> str:
    """Start a conversation and ask for a person; return its id.

    Help articles may answer first (the conversation then stays new); asking for a person
    queues it either way, and one already queued just answers with a conflict error.
    """
    await client.send(type="start", client_id=client_id, text=text)
    conversation = str((await client.expect("ack"))["conversation"])
    await client.send(type="escalate", conversation=conversation)
    return conversation


async def _sign_in(page: Any, server: Server, email: str) -> None:
    await page.goto(f"{server.http}/console/signin")
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page.locator("#availability")).to_be_enabled(timeout=SEEN_TIMEOUT_MS)


async def test_an_agent_takes_a_chat_from_the_queue_answers_transfers_and_closes(
    server: Server, browser: Any
) -> None:
    site = await server.add_site("Acme")
    ann = await server.add_agent("ann@example.com", site)
    bob_account = await server.add_agent("bob@example.com", site)
    store = Store(server.store_url)
    try:
        await canned.add(store, site.id, "thanks", "Thanks {name}, I am looking at your order now.")
    finally:
        await store.close()
    # Bob is connected but away, so nothing is assigned to him automatically.
    bob = await agent(server, "bob@example.com")
    await bob.send(type="presence", status="away")

    # The customer chatted before: that conversation shows in the sidebar.
    customer = await _visitor(server, site, EVIL, "evil@example.com")
    await customer.send(type="start", client_id="old", text="Is this shop real?")
    earlier = (await customer.expect("ack"))["conversation"]
    await customer.send(type="close", conversation=earlier)
    await _until(customer, earlier, "closed")

    page = await browser.new_page(viewport={"width": 1440, "height": 900})
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.goto(f"{server.http}/console/signin")
    await page.screenshot(path=str(SHOTS / "console-signin.png"))
    await _sign_in(page, server, "ann@example.com")
    await page.select_option("#availability", "away")
    await bob.expect("presence", agent={"id": ann.id, "name": "ann", "status": "away"})
    await expect(page.locator("#availability-dot")).to_have_class("dot dot-away")

    # A question arrives live in the queue, with its text and waiting time.
    question = "<script>window.pwned=1</script> Where is my parcel?"
    conversation = await _ask(customer, "q1", question)
    queued = page.locator("#list-queue .conv")
    await expect(queued).to_have_count(1, timeout=SEEN_TIMEOUT_MS)
    await expect(queued.locator(".conv-name")).to_have_text(EVIL)
    await expect(queued.locator(".conv-preview")).to_have_text(question, timeout=SEEN_TIMEOUT_MS)
    await expect(queued.locator(".conv-wait")).to_have_text("0 s", timeout=SEEN_TIMEOUT_MS)
    await expect(page).to_have_title("(1) Inbox · chatserver")

    await queued.locator(".conv-accept").click()
    assert (await _until(customer, conversation, "assigned"))["agent"] == {"name": "ann"}
    await expect(page.locator("#list-mine .conv")).to_have_count(1)
    await expect(page.locator("#list-queue .conv")).to_have_count(0)
    await expect(page.locator("#tabs .tab-label")).to_have_text([EVIL])
    await expect(page.locator("#chat-title")).to_have_text(EVIL)
    await expect(page.locator(".msg-visitor .msg-text")).to_have_text([question])
    # The customer in view: who they are, where they are, what they asked before.
    await expect(page.locator("#cust-name")).to_have_text(EVIL)
    await expect(page.locator("#cust-history .past-text")).to_have_text(["Is this shop real?"])
    facts = page.locator("#cust-facts")
    await expect(facts).to_contain_text("evil@example.com")
    await expect(facts).to_contain_text("My orders")
    await expect(facts).to_contain_text("Chrome on Windows")
    await expect(facts).to_contain_text("Not verified")

    # Typing both ways.
    await customer.send(type="typing", conversation=conversation, active=True)
    await expect(page.locator("#typing")).to_have_text(f"{EVIL} is typing…")
    await page.locator("#text").press_sequentially("/tha")
    await customer.expect("typing", conversation=conversation, active=True)
    await expect(page.locator("#canned li")).to_have_count(1)
    await page.locator("#text").press("Tab")
    await expect(page.locator("#text")).to_have_value(f"Thanks {EVIL}, I am looking at your order now.")
    await page.locator("#text").press("Enter")
    reply = await customer.expect(
        "message", conversation=conversation, author={"kind": "agent", "id": ann.id, "name": "ann"}
    )
    assert reply["text"] == f"Thanks {EVIL}, I am looking at your order now."
    assert reply["author"]["name"] == "ann"
    mine = page.locator(".msg-mine")
    await expect(mine).to_have_attribute("data-state", "sent")
    await customer.send(type="receipt", conversation=conversation, seq=reply["seq"], status="read")
    await expect(mine).to_have_attribute("data-state", "read")
    await expect(mine.locator(".msg-state")).to_have_text(" · Read")
    # The console marked the visitor's line read when it showed it.
    read = await customer.expect("receipt", conversation=conversation, side="agent", status="read")
    assert read["seq"] >= 1
    await page.screenshot(path=str(SHOTS / "console-inbox.png"))

    # A second chat: Ann opens it from the queue; Bob cannot take it after her.
    other = await _visitor(server, site, "Sam de Vries", "sam@example.com")
    second = await _ask(other, "q2", "Do you ship to Belgium?")
    await expect(page.locator("#list-queue .conv")).to_have_count(1, timeout=SEEN_TIMEOUT_MS)
    await page.locator("#list-queue .conv-open").click()
    await expect(page.locator("#tabs .tab-label")).to_have_count(2)
    await page.locator("#accept").click()
    await bob.expect("conversation", conversation=_Assigned(second, ann.id))
    await bob.send(type="accept", conversation=second)
    assert (await bob.expect("error", ref=second))["code"] == "conflict"
    await expect(page.locator("#text")).to_be_enabled()

    # Transfer the first chat to Bob: he gets it, Ann can no longer write in it.
    await page.locator("#tabs .tab-label", has_text=EVIL).click()
    # The picker lists the site's other agents with their availability (Bob is away).
    await expect(page.locator(f"#transfer-to option[value='{bob_account.id}']")).to_have_text(
        "bob · Away", timeout=SEEN_TIMEOUT_MS
    )
    await page.select_option("#transfer-to", bob_account.id)
    await page.locator("#transfer").click()
    await bob.expect("conversation", conversation=_Assigned(conversation, bob_account.id))
    await expect(page.locator("#chat-sub")).to_have_text("With bob")
    await expect(page.locator("#text")).to_be_disabled()
    await expect(page.locator("#list-mine .conv")).to_have_count(1)

    # Close the second chat; the visitor sees it end.
    await page.locator("#tabs .tab-label", has_text="Sam de Vries").click()
    await page.locator("#close").click()
    await _until(other, second, "closed")
    await expect(page.locator("#list-mine .conv")).to_have_count(0)
    await expect(page.locator("#chat-sub")).to_have_text("Closed")

    assert await page.evaluate("window.pwned") is None
    assert await page.locator("#inbox img, #inbox script").count() == 0
    for client in (bob, customer, other):
        await client.close()


async def _until(client: Client, conversation: str, status: str) -> dict[str, Any]:
    """Return the conversation event that shows it reached status."""
    while True:
        frame = await client.expect("conversation", timeout=5)
        if frame["conversation"]["id"] == conversation and frame["conversation"]["status"] == status:
            return dict(frame["conversation"])


class _Assigned:
    """Equal to a conversation body assigned to one agent."""

    def __init__(self, conversation: str, agent_id: str) -> None:
        self.conversation, self.agent_id = conversation, agent_id

    def __eq__(self, body: object) -> bool:
        return (
            isinstance(body, dict) and body.get("id") == self.conversation
            and body.get("status") == "assigned" and (body.get("agent") or {}).get("id") == self.agent_id
        )


async def test_the_console_speaks_dutch_when_the_agent_chooses_it(server: Server, browser: Any) -> None:
    await server.add_agent("admin@example.com", role="admin")
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await _sign_in(page, server, "admin@example.com")
    await page.select_option("#pref-locale", "nl")
    await expect(page.locator("#h-queue")).to_contain_text("Wachtrij", timeout=SEEN_TIMEOUT_MS)
    await expect(page.locator("#signout")).to_have_text("Uitloggen")
    await page.goto(f"{server.http}/console/admin/sites")
    await page.locator("table a").first.click()
    await expect(page.locator("h2").first).to_have_text("Code om te plakken")
    await page.screenshot(path=str(SHOTS / "console-site-nl.png"), full_page=True)
    # The preference is the agent's, not the browser's: a new browser gets Dutch too.
    fresh = await browser.new_page()
    await _sign_in(fresh, server, "admin@example.com")
    await expect(fresh.locator("#h-mine")).to_contain_text("Mijn chats")
