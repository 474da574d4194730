"""Several conversations in Chromium (issue 17): in the widget, a second conversation started
and the first continued from the list, a returning visitor not held on an ended chat, and a
line written in an ended chat that starts a new one and says so; in the console, the
customer's other conversations in the sidebar, open ones first, each opened from there."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from browser import HostSite, expect

from conftest import PASSWORD, Chat, Client, Server, agent, visitor

SEEN_TIMEOUT_MS = 8000
# No help article answers these, so each goes to a person at once.
FIRST, SECOND = "zxqv my blender hums", "qwzx and the kettle clicks"


@pytest.fixture
def host(server: Server) -> Iterator[HostSite]:
    with HostSite(server).running() as site:
        yield site


async def _ask(page: Any, text: str) -> None:
    await page.locator(".cs-input").fill(text)
    await page.keyboard.press("Enter")


async def _given(ann: Client, *known: str) -> str:
    """Wait for routing to give ann a new chat; sync it, as the console does; return its id."""
    event = await ann.expect("conversation", timeout=10)
    while event["conversation"]["status"] != "assigned" or event["conversation"]["id"] in known:
        event = await ann.expect("conversation", timeout=10)
    conversation = str(event["conversation"]["id"])
    await ann.send(type="sync", conversation=conversation, after=0)
    await ann.expect("synced", conversation=conversation)
    return conversation


async def _reply(ann: Client, conversation: str, text: str) -> None:
    client_id = f"a{len(ann.seen)}"
    await ann.send(type="message", conversation=conversation, client_id=client_id, text=text)
    await ann.expect("ack", ref=client_id)


@pytest.mark.shared_server
async def test_a_second_conversation_started_and_the_first_continued(
    server: Server, host: HostSite, browser: Any
) -> None:
    site = await server.add_site("Acme", origins=[host.origin])
    host.site_key = site.public_key
    await server.add_agent("ann@example.com", site)
    ann = await agent(server, "ann@example.com")
    page = await browser.new_page()
    await page.goto(host.url())
    await page.locator(".cs-launcher").click()
    log = page.locator(".cs-log")

    await _ask(page, FIRST)
    first = await _given(ann)
    await _reply(ann, first, "Which model is it?")
    await expect(log).to_contain_text("Which model is it?", timeout=SEEN_TIMEOUT_MS)

    # A second conversation from the list, while the first is still open.
    chats = page.locator(".cs-chats")
    await page.locator(".cs-list").click()
    await expect(chats.locator(".cs-chat")).to_have_count(1, timeout=SEEN_TIMEOUT_MS)
    await chats.get_by_role("button", name="Start a new chat").click()
    await expect(chats).to_be_hidden()
    await expect(log).not_to_contain_text(FIRST)
    await _ask(page, SECOND)
    second = await _given(ann, first)
    await _reply(ann, second, "The kettle: is it new?")
    await expect(log).to_contain_text("The kettle: is it new?", timeout=SEEN_TIMEOUT_MS)

    # An answer in the first while the second is in view: a dot on the list button.
    listed = page.locator(".cs-list")
    await _reply(ann, first, "Still there?")
    await expect(listed).to_have_class(re.compile(r"\bcs-new\b"), timeout=SEEN_TIMEOUT_MS)
    await expect(log).not_to_contain_text("Still there?")

    # Both listed, open ones with their last line and when; the one last active on top.
    await listed.click()
    await expect(listed).not_to_have_class(re.compile(r"\bcs-new\b"))
    items = chats.locator(".cs-chat.cs-live")
    await expect(items).to_have_count(2, timeout=SEEN_TIMEOUT_MS)
    await expect(items.nth(0)).to_contain_text("ann: Still there?")
    await expect(items.nth(1)).to_contain_text("ann: The kettle: is it new?")
    await expect(items.nth(0).locator(".cs-when")).to_have_text("now")
    await page.screenshot(path="/tmp/widget-conversations.png")
    await items.nth(0).click()

    # The first, continued: its history is back, and the agent reads the answer in it.
    await expect(log).to_contain_text(FIRST, timeout=SEEN_TIMEOUT_MS)
    await expect(log).to_contain_text("Still there?")
    await expect(log).not_to_contain_text(SECOND)
    await _ask(page, "The KX-200")
    said = await ann.expect("message", conversation=first, seq=4)
    assert said["text"] == "The KX-200"
    await ann.quiet("message", conversation=second, text="The KX-200")

    # The first ends; the visitor comes back later on the page where it was shown: not held
    # on the ended chat while the second is still open.
    await ann.send(type="close", conversation=first)
    await expect(page.locator(".cs-notice")).to_contain_text("This chat has ended.",
                                                             timeout=SEEN_TIMEOUT_MS)
    await page.reload()
    await expect(log).to_contain_text("The kettle: is it new?", timeout=SEEN_TIMEOUT_MS)
    await expect(page.locator(".cs-notice")).not_to_contain_text("This chat has ended.")

    # Writing in the ended one from the list starts a new conversation, which says so.
    await page.locator(".cs-list").click()
    ended = chats.locator(".cs-chat:not(.cs-live)")
    await expect(ended).to_contain_text("now · ended", timeout=SEEN_TIMEOUT_MS)
    await page.screenshot(path="/tmp/widget-conversations-ended.png")
    await ended.click()
    await expect(log).to_contain_text("The KX-200", timeout=SEEN_TIMEOUT_MS)
    await _ask(page, "And the toaster?")
    await expect(log).to_contain_text("Your last chat had ended, so this starts a new one.")
    await expect(log).not_to_contain_text("The KX-200")
    third = await _given(ann, first, second)
    assert (await ann.expect("message", conversation=third, seq=1))["text"] == "And the toaster?"
    await page.close()
    await ann.close()


@pytest.mark.shared_server
async def test_the_agent_sees_every_conversation_of_the_customer_and_opens_any(
    server: Server, browser: Any
) -> None:
    site = await server.add_site("Acme")
    await server.add_agent("ann@example.com", site)
    guest = await visitor(server, site)
    await guest.send(type="start", client_id="old", text="Is this shop real?")
    old = (await guest.expect("ack", ref="old"))["conversation"]
    await guest.send(type="close", conversation=old)
    await guest.expect("conversation", conversation=Chat(old, "closed"))

    page = await browser.new_page(viewport={"width": 1440, "height": 900})
    await page.goto(f"{server.http}/console/signin")
    await page.fill("#email", server.address("ann@example.com"))
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page.locator("#availability")).to_be_enabled(timeout=SEEN_TIMEOUT_MS)
    for client_id, text in (("s1", FIRST), ("s2", SECOND)):
        await guest.send(type="start", client_id=client_id, text=text)
        await guest.expect("ack", ref=client_id)
        await expect(page.locator("#tabs .tab-label")).to_have_count(int(client_id[1]),
                                                                     timeout=SEEN_TIMEOUT_MS)
    await page.locator("#tabs .tab-label").nth(1).click()
    await expect(page.locator(".msg-visitor .msg-text")).to_have_text([SECOND])

    # The other two: the open one first, with its status, then the ended one.
    history = page.locator("#cust-history .past")
    await expect(history.locator(".past-text")).to_have_text([FIRST, "Is this shop real?"],
                                                             timeout=SEEN_TIMEOUT_MS)
    await expect(history.nth(0).locator(".pill")).to_have_text("Assigned")
    await history.nth(1).locator(".past-text").click()
    await expect(page.locator(".msg-visitor .msg-text")).to_have_text(["Is this shop real?"],
                                                                      timeout=SEEN_TIMEOUT_MS)
    await expect(page.locator("#tabs .tab-label")).to_have_count(3)
    await page.close()
    await guest.close()
