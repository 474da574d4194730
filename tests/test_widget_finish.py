"""A finished widget in Chromium: thanks after a rating, drawn icons, a subtitle that wraps,
suggestion cards kept in place over a reload, a refused origin that pretends nothing, and form
errors in the visitor's language."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import HostSite, expect

from conftest import Client, Server, agent

SEEN_TIMEOUT_MS = 8000
SHOTS = Path("/tmp")
LONG_NAME = "Maximiliaan van der Westhuizen-Oppenheimer"
# Pictographs that show as empty boxes on a system without an emoji font.
EMOJI = re.compile("[\U0001F300-\U0001FAFF\u2600-\u27BF]")


@pytest.fixture
def chat(server: Server) -> Server:
    return server


@pytest.fixture
def host(chat: Server) -> Iterator[HostSite]:
    with HostSite(chat).running() as site:
        yield site


async def _ask(page: Any, text: str) -> None:
    await page.locator(".cs-input").fill(text)
    await page.keyboard.press("Enter")


async def _assigned(ann: Client) -> str:
    event = await ann.expect("conversation", timeout=10)
    while event["conversation"]["status"] != "assigned":
        event = await ann.expect("conversation", timeout=10)
    conversation = str(event["conversation"]["id"])
    await ann.send(type="sync", conversation=conversation, after=0)
    await ann.expect("synced", conversation=conversation)
    return conversation


async def test_a_rating_is_thanked_with_drawn_icons_and_a_long_subtitle_wraps(
    chat: Server, host: HostSite, browser: Any
) -> None:
    site = await chat.add_site("Acme", origins=[host.origin])
    host.site_key = site.public_key
    await chat.add_agent("ann@example.com", site, name=LONG_NAME)
    ann = await agent(chat, "ann@example.com")
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    await page.goto(host.url())
    await page.locator(".cs-launcher").click()
    await _ask(page, "I want to talk to a person about my order")
    conversation = await _assigned(ann)
    sub = page.locator(".cs-sub")
    await expect(sub).to_have_text(f"You are chatting with {LONG_NAME}", timeout=SEEN_TIMEOUT_MS)
    # Wrapped onto a second line, not cut off with an ellipsis.
    assert await sub.evaluate("s => s.scrollWidth <= s.clientWidth && s.getClientRects()[0].height > 20")
    await page.screenshot(path=str(SHOTS / "widget-long-subtitle.png"))

    await ann.send(type="close", conversation=conversation)
    good = page.locator(".cs-notice .cs-btn", has_text="Good")
    await expect(good).to_be_visible(timeout=SEEN_TIMEOUT_MS)
    for button in (good, page.locator(".cs-notice .cs-btn", has_text="Bad")):
        assert not EMOJI.search(await button.inner_text())
        await expect(button.locator("svg path")).to_have_count(1)
        assert (await button.locator("svg").bounding_box() or {}).get("width", 0) >= 12
    await page.screenshot(path=str(SHOTS / "widget-rating.png"))
    await good.click()
    thanks = page.locator(".cs-thanks")
    await expect(thanks).to_have_text("Thank you for your feedback.")
    await expect(page.locator(".cs-notice .cs-btn", has_text="Good")).to_have_count(0)
    await page.screenshot(path=str(SHOTS / "widget-thanks.png"))
    await page.reload()
    await expect(page.locator(".cs-thanks")).to_have_text("Thank you for your feedback.",
                                                          timeout=SEEN_TIMEOUT_MS)
    await expect(page.locator(".cs-notice .cs-btn", has_text="Good")).to_have_count(0)
    assert not EMOJI.search(await page.locator("chatserver-widget").evaluate(
        "h => h.shadowRoot.textContent"))
    await ann.close()


async def test_suggestions_stay_where_they_were_after_a_reload(
    chat: Server, host: HostSite, browser: Any
) -> None:
    site = await chat.add_site("Acme", origins=[host.origin])
    host.site_key = site.public_key
    await chat.add_agent("ann@example.com", site, name="Ann")
    ann = await agent(chat, "ann@example.com")
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    await page.goto(host.url())
    await page.locator(".cs-launcher").click()
    await _ask(page, "Where is my parcel?")
    card = page.locator(".cs-card")
    await expect(card.locator("li a").first).to_have_text("How can I track my parcel?",
                                                            timeout=SEEN_TIMEOUT_MS)
    await card.locator(".cs-btn", has_text="Talk to a person").click()
    conversation = await _assigned(ann)
    await ann.send(type="message", conversation=conversation, client_id="a1", text="On its way!")
    await expect(page.locator(".cs-them .cs-bubble").last).to_have_text("On its way!",
                                                                        timeout=SEEN_TIMEOUT_MS)
    order = """() => [...document.querySelector('chatserver-widget').shadowRoot
        .querySelectorAll('.cs-log > *')].map(n => n.classList.contains('cs-card') ? 'CARD'
        : n.classList.contains('cs-sys') ? 'SYS' : n.querySelector('.cs-bubble').textContent)"""
    before = [row for row in await page.evaluate(order) if row != "SYS"]
    assert before == ["Hi! Ask us anything.", "Where is my parcel?", "CARD", "On its way!"]

    await page.reload()
    await expect(page.locator(".cs-them .cs-bubble").last).to_have_text("On its way!",
                                                                        timeout=SEEN_TIMEOUT_MS)
    assert [row for row in await page.evaluate(order) if row != "SYS"] == before
    # The choice was made before the reload: the articles stay, their buttons do not.
    await expect(card.locator("li a").first).to_be_visible()
    await expect(card.locator(".cs-btn")).to_have_count(0)
    await ann.close()


async def test_nobody_to_answer_offers_email_only_and_errors_speak_dutch(
    chat: Server, host: HostSite, browser: Any
) -> None:
    site = await chat.add_site("Acme", origins=[host.origin])
    host.site_key = site.public_key
    context = await browser.new_context(locale="nl-NL", viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    await page.goto(host.url())
    await page.locator(".cs-launcher").click()
    await _ask(page, "Waar is mijn pakket?")
    card = page.locator(".cs-card")
    await expect(card.locator("li a").first).to_be_visible(timeout=SEEN_TIMEOUT_MS)
    form = page.locator(".cs-notice form")
    await expect(form).to_contain_text("Er is nu niemand online")
    # Nobody can answer: the email form is the way on, not "Talk to a person" besides it.
    await expect(card.locator(".cs-btn", has_text="Met een medewerker praten")).to_be_hidden()
    await expect(card.locator(".cs-btn", has_text="Dit heeft me geholpen")).to_be_visible()

    # An address the browser lets through and the server refuses: what to fix, in Dutch.
    await form.locator("input[name=email]").fill("ann@example")
    await form.locator("button[name=go]").click()
    error = page.locator(".cs-notice .cs-err")
    await expect(error).to_have_text("Vul een e-mailadres in zoals naam@voorbeeld.nl.",
                                     timeout=SEEN_TIMEOUT_MS)
    await expect(page.locator(".cs-notice input[name=email]")).to_have_value("ann@example")
    await page.screenshot(path=str(SHOTS / "widget-offline-nl.png"))
    await page.locator(".cs-notice input[name=email]").fill("ann@example.com")
    await page.locator(".cs-notice button[name=go]").click()
    await expect(page.locator(".cs-notice")).to_contain_text("ann@example.com", timeout=SEEN_TIMEOUT_MS)
    await expect(page.locator(".cs-notice .cs-err")).to_have_count(0)


async def test_a_page_the_site_does_not_allow_pretends_nothing(
    chat: Server, host: HostSite, browser: Any
) -> None:
    site = await chat.add_site("Acme", origins=["https://shop.example"])
    host.site_key = site.public_key
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    # A message written on an earlier visit, still waiting in this browser's store.
    waiting = {"outbox": [{"cid": "wold1", "text": "Is anyone there?", "conv": None}], "ui": {}}
    await page.add_init_script(
        f"localStorage.setItem('chatserver:{site.public_key}', {json.dumps(json.dumps(waiting))})")
    await page.goto(host.url())
    await page.locator(".cs-launcher").click()
    sub = page.locator(".cs-sub")
    await expect(sub).to_have_text("Chat is not available on this page.", timeout=SEEN_TIMEOUT_MS)
    await expect(page.locator(".cs-panel")).not_to_have_class(re.compile(r"\bcs-on\b"))
    await expect(page.locator(".cs-launcher")).to_have_class(re.compile(r"\bcs-off\b"))
    await expect(page.locator(".cs-input")).to_be_disabled()
    # Nothing waits "to send when back online": the old message says it was not sent, and why.
    meta = page.locator(".cs-me .cs-meta")
    await expect(meta).to_have_text("Not sent: Chat is not available on this page.")
    await expect(page.locator(".cs-pending")).to_have_count(0)
    stored = await page.evaluate(f"JSON.parse(localStorage.getItem('chatserver:{site.public_key}'))")
    assert stored["outbox"] == []
    await page.screenshot(path=str(SHOTS / "widget-refused.png"))
