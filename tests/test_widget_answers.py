"""The answer, not just a link, in Chromium: the passage shown inline, suggestions while typing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from browser import HostSite, expect

from conftest import Server

SEEN_TIMEOUT_MS = 8000
TITLE = "A product is out of stock. When will it be back?"
STRIP = "document.querySelector('chatserver-widget').shadowRoot.querySelector('.cs-strip')"


@pytest.fixture
def host(server: Server) -> Iterator[HostSite]:
    with HostSite(server).running() as site:
        yield site


async def _open(server: Server, host: HostSite, browser: Any) -> tuple[Any, list[dict[str, Any]]]:
    """Open the widget on the host page; return the page and every frame it sends."""
    site = await server.add_site("Acme", origins=[host.origin])
    host.site_key = site.public_key
    page = await browser.new_page()
    sent: list[dict[str, Any]] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda text: sent.append(json.loads(text))))
    await page.goto(host.url())
    await page.locator(".cs-launcher").click()
    return page, sent


@pytest.mark.shared_server
async def test_the_passage_that_answers_is_shown_inline_with_both_ways_forward(
    server: Server, host: HostSite, browser: Any
) -> None:
    page, sent = await _open(server, host, browser)
    await page.locator(".cs-input").fill("how do i set an alert for when a sold out product is back in stock")
    await page.keyboard.press("Enter")
    card = page.locator(".cs-log .cs-card")
    top = card.locator("li").first.locator(".cs-ans")
    await expect(card.locator("li > a").first).to_have_text(TITLE, timeout=SEEN_TIMEOUT_MS)
    await expect(top).to_be_visible()
    await expect(top.locator("b")).to_have_text("Set a back-in-stock alert")
    await expect(top.locator("ol li")).to_have_text(
        ["Go to the product page.", "Click Email me when it's back in stock.", "Enter your email address."]
    )
    whole = top.locator("a", has_text="Read the whole article")
    section = f"{server.http}/help/en/back-in-stock-alert#set-a-back-in-stock-alert"
    assert await whole.get_attribute("href") == section
    # The section the link opens has that id on the help-centre page.
    help_page = await browser.new_page()
    await help_page.goto(section)
    await expect(help_page.locator("h2#set-a-back-in-stock-alert")).to_have_text("Set a back-in-stock alert")
    # Both ways forward stay; a second suggestion, if any, is a title whose answer opens on a click.
    await expect(card.locator(".cs-btn")).to_have_text(["This helped", "Talk to a person"])
    others = card.locator("li:has(> .cs-more)")
    for i in range(await others.count()):
        item = others.nth(i)
        await expect(item.locator(".cs-ans")).to_be_hidden()
        await item.locator(".cs-more").click()
        await expect(item.locator(".cs-ans")).to_be_visible()
        await expect(item.locator(".cs-more")).to_have_attribute("aria-expanded", "true")
    await card.locator(".cs-btn", has_text="This helped").click()
    await expect(page.locator(".cs-sys .cs-bubble")).to_have_count(1)
    assert [f["type"] for f in sent if f["type"] in ("start", "resolve")] == ["start", "resolve"]


@pytest.mark.shared_server
async def test_typing_shows_suggestions_once_and_the_strip_never_blinks(
    server: Server, host: HostSite, browser: Any
) -> None:
    page, sent = await _open(server, host, browser)
    strip = page.locator(".cs-strip")
    await page.locator(".cs-input").press_sequentially("how do i set a back in stock alert", delay=40)
    await expect(strip.locator("p")).to_have_text("Maybe this helps:", timeout=SEEN_TIMEOUT_MS)
    await expect(strip.locator("li > a").first).to_have_text(TITLE)
    await expect(strip.locator(".cs-ans ol li").first).to_have_text("Go to the product page.")
    # One search for one pause in typing, not one a keystroke.
    searches = [f for f in sent if f["type"] == "search"]
    assert [f["text"] for f in searches] == ["how do i set a back in stock alert"]

    # Typing on to the same answer changes nothing on screen: the same nodes, never emptied.
    await page.evaluate("""() => {
        const strip = """ + STRIP + """;
        window.stripNode = strip.firstChild;
        window.stripChanges = 0;
        new MutationObserver(r => { window.stripChanges += r.length; })
            .observe(strip, {childList: true, subtree: true, attributes: true, characterData: true});
    }""")
    await page.locator(".cs-input").press_sequentially(" please", delay=40)
    for _ in range(40):
        if len([f for f in sent if f["type"] == "search"]) == 2:
            break
        await page.wait_for_timeout(100)
    await page.wait_for_timeout(500)  # the answer to the second search has come and gone
    searches = [f["text"] for f in sent if f["type"] == "search"]
    assert searches[1:] == ["how do i set a back in stock alert please"]
    assert await page.evaluate(f"() => window.stripChanges === 0 && {STRIP}.firstChild === window.stripNode")

    # Sending the question puts the answer in the chat and the strip away.
    await page.keyboard.press("Enter")
    await expect(page.locator(".cs-log .cs-card .cs-ans").first).to_be_visible(timeout=SEEN_TIMEOUT_MS)
    await expect(strip).to_be_hidden()


@pytest.mark.shared_server
async def test_an_answer_to_text_typed_on_from_is_ignored(
    server: Server, host: HostSite, browser: Any
) -> None:
    # A route holds the server's answer to the first search until the second is sent, then
    # delivers it marked "Stale": the strip must show only the answer to what is typed now.
    site = await server.add_site("Acme", origins=[host.origin])
    host.site_key = site.public_key
    page = await browser.new_page()
    held: list[str] = []
    searches: list[str] = []

    async def relay(ws: Any) -> None:
        server_side = ws.connect_to_server()

        def from_page(text: str | bytes) -> None:
            frame = json.loads(text)
            if frame["type"] == "search":
                searches.append(frame["text"])
            server_side.send(text)

        def from_server(text: str | bytes) -> None:
            frame = json.loads(text)
            if frame["type"] != "suggestions" or frame["conversation"] is not None:
                ws.send(text)
            elif len(searches) == 1:
                for article in frame["articles"]:
                    article["title"] = "Stale"
                held.append(json.dumps(frame))
            else:
                for stale in held:
                    ws.send(stale)
                ws.send(text)

        ws.on_message(from_page)
        server_side.on_message(from_server)

    await page.route_web_socket("**/ws/visitor*", relay)
    await page.goto(host.url())
    await page.locator(".cs-launcher").click()
    strip = page.locator(".cs-strip")
    await page.evaluate("""() => {
        window.stale = false;
        new MutationObserver(() => { window.stale = window.stale || """ + STRIP + """.textContent
            .includes('Stale'); }).observe(""" + STRIP + """, {childList: true, subtree: true});
    }""")
    await page.locator(".cs-input").press_sequentially("how do i set a back in stock alert", delay=30)
    for _ in range(50):
        if held:
            break
        await page.wait_for_timeout(100)
    await page.locator(".cs-input").press_sequentially(" today", delay=30)
    await expect(strip.locator("li > a").first).to_have_text(TITLE, timeout=SEEN_TIMEOUT_MS)
    assert searches == ["how do i set a back in stock alert", "how do i set a back in stock alert today"]
    assert await page.evaluate("window.stale") is False


@pytest.mark.shared_server
async def test_a_search_refused_by_the_rate_limit_waits_as_told(
    server: Server, host: HostSite, browser: Any
) -> None:
    # A route answers the first search as the server's search budget would when spent.
    site = await server.add_site("Acme", origins=[host.origin])
    host.site_key = site.public_key
    page = await browser.new_page()
    searches: list[tuple[float, str]] = []

    async def relay(ws: Any) -> None:
        server_side = ws.connect_to_server()

        def from_page(text: str | bytes) -> None:
            frame = json.loads(text)
            if frame["type"] != "search":
                server_side.send(text)
                return
            searches.append((time.monotonic(), frame["text"]))
            if len(searches) == 1:
                ws.send(json.dumps({"type": "error", "code": "rate_limited", "ref": None,
                                    "message": "too many searches", "retry_after": 3}))
            else:
                server_side.send(text)

        ws.on_message(from_page)
        server_side.on_message(lambda text: ws.send(text))

    await page.route_web_socket("**/ws/visitor*", relay)
    await page.goto(host.url())
    await page.locator(".cs-launcher").click()
    await page.locator(".cs-input").press_sequentially("how do i set a back in stock alert", delay=30)
    # The same text is asked again once the time the server gave has passed, not before.
    await expect(page.locator(".cs-strip li > a").first).to_have_text(TITLE, timeout=SEEN_TIMEOUT_MS)
    assert [text for _, text in searches] == ["how do i set a back in stock alert"] * 2
    assert searches[1][0] - searches[0][0] >= 2.9
