"""A finished console in Chromium: agents renamed and given sites, one's own account, canned
replies edited live, tabs kept over a reload, and the reports page in English and Dutch."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from browser import expect
from test_reports import seed_chat, seed_ticket, utc

from chatserver import agents
from chatserver.console import canned
from chatserver.store import Store
from conftest import PASSWORD, Chat, Server, visitor

SEEN_TIMEOUT_MS = 8000
SHOTS = Path("/tmp")
NEW_PASSWORD = "a much longer secret"


async def _sign_in(page: Any, server: Server, email: str, password: str = PASSWORD) -> None:
    await page.goto(f"{server.http}/console/signin")
    await page.fill("#email", email)
    await page.fill("#password", password)
    await page.click("button[type=submit]")
    await expect(page.locator("#availability")).to_be_enabled(timeout=SEEN_TIMEOUT_MS)


async def test_an_admin_renames_an_agent_and_gives_them_sites(server: Server, browser: Any) -> None:
    shop = await server.add_site("Shop")
    outlet = await server.add_site("Outlet")
    await server.add_agent("boss@example.com", role="admin")
    bob = await server.add_agent("bob@example.com", shop)
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await _sign_in(page, server, "boss@example.com")
    await page.goto(f"{server.http}/console/admin/agents")
    row = page.locator("tr[data-email='bob@example.com']")
    await row.locator("input[name=name]").fill("Robert de Vries")
    await row.locator(f"input[name='site:{shop.id}']").uncheck()
    await row.locator(f"input[name='site:{outlet.id}']").check()
    await row.locator("button[value=save]").click()
    await expect(page.locator("#notice")).to_have_text("Robert de Vries was saved.")
    row = page.locator("tr[data-email='bob@example.com']")
    await expect(row.locator("input[name=name]")).to_have_value("Robert de Vries")
    await expect(row.locator(f"input[name='site:{outlet.id}']")).to_be_checked()
    await expect(row.locator(f"input[name='site:{shop.id}']")).not_to_be_checked()
    assert await page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    await page.screenshot(path=str(SHOTS / "console-agents.png"), full_page=True)
    store = Store(server.store_url)
    try:
        renamed = await agents.by_id(store, bob.id)
        assert renamed is not None and renamed.name == "Robert de Vries"
        assert await agents.site_ids(store, renamed) == [outlet.id]
    finally:
        await store.close()

    # A blank name is refused with the reason; nothing changes.
    row = page.locator("tr[data-email='bob@example.com']")
    await row.locator("input[name=name]").evaluate("i => { i.required = false; i.value = '  '; }")
    await row.locator("button[value=save]").click()
    await expect(page.locator("#error")).to_contain_text("name must be 1-200 characters")
    await expect(page.locator("tr[data-email='bob@example.com'] input[name=name]")).to_have_value(
        "Robert de Vries")


async def test_an_agent_changes_their_own_name_and_password(server: Server, browser: Any) -> None:
    site = await server.add_site()
    await server.add_agent("ann@example.com", site)
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await _sign_in(page, server, "ann@example.com")
    await page.click("#account-link")
    await page.fill("#me-name", "Ann Jansen")
    await page.click("#account-name button")
    await expect(page.locator("#notice")).to_have_text("Your name was saved.")
    await expect(page.locator("#account-link")).to_have_text("Ann Jansen")

    # A wrong current password, or two new ones that differ, say what to fix.
    await page.fill("#me-current", "not my password")
    await page.fill("#me-new", NEW_PASSWORD)
    await page.fill("#me-again", NEW_PASSWORD)
    await page.click("#account-password button")
    await expect(page.locator("#error")).to_have_text("Your current password is not right.")
    await page.fill("#me-current", PASSWORD)
    await page.fill("#me-new", NEW_PASSWORD)
    await page.fill("#me-again", NEW_PASSWORD + "!")
    await page.click("#account-password button")
    await expect(page.locator("#error")).to_contain_text("The two new passwords differ")

    await page.fill("#me-current", PASSWORD)
    await page.fill("#me-new", NEW_PASSWORD)
    await page.fill("#me-again", NEW_PASSWORD)
    await page.click("#account-password button")
    await expect(page.locator("#signin-changed")).to_be_visible()
    await page.fill("#email", "ann@example.com")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page.locator("#signin-error")).to_be_visible()
    await _sign_in(page, server, "ann@example.com", NEW_PASSWORD)
    await expect(page.locator("#account-link")).to_have_text("Ann Jansen")


async def test_canned_edits_reach_open_consoles_and_tabs_survive_a_reload(
    server: Server, browser: Any
) -> None:
    site = await server.add_site()
    await server.add_agent("boss@example.com", site, role="admin")
    store = Store(server.store_url)
    try:
        await canned.add(store, site.id, "hello", "Hello, how can I help?")
    finally:
        await store.close()
    guests = [await visitor(server, site) for _ in range(2)]
    conversations = []
    for i, guest in enumerate(guests):
        await guest.send(type="start", client_id=f"q{i}", text=f"agent please, question {i}")
        conversations.append((await guest.expect("ack"))["conversation"])

    agent_page = await browser.new_page(viewport={"width": 1280, "height": 900})
    agent_page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await _sign_in(agent_page, server, "boss@example.com")
    # Online with room for both, the admin is given both chats; each opens as a tab.
    mine = agent_page.locator("#list-mine .conv")
    await expect(mine).to_have_count(2, timeout=SEEN_TIMEOUT_MS)
    for conversation in conversations:
        await agent_page.locator(f"#list-mine .conv[data-conversation='{conversation}'] .conv-open").click()
    await expect(agent_page.locator("#tabs .tab")).to_have_count(2)
    await agent_page.locator("#text").press_sequentially("/hel")
    await expect(agent_page.locator("#canned li")).to_contain_text("Hello, how can I help?")
    await agent_page.locator("#text").fill("")

    # The admin changes the reply in another window; the open console has it at once.
    admin_page = await (await browser.new_context()).new_page()
    await _sign_in(admin_page, server, "boss@example.com")
    await admin_page.goto(f"{server.http}/console/admin/canned")
    row = admin_page.locator("tr[data-shortcut=hello]")
    await row.locator("summary").click()
    await row.locator("textarea[name=body]").fill("Good morning! What can I do for you?")
    await row.locator("button.btn-primary").click()
    await expect(admin_page.locator("tr[data-shortcut=hello] .pre")).to_have_text(
        "Good morning! What can I do for you?")
    await agent_page.locator("#text").press_sequentially("/hel")
    await expect(agent_page.locator("#canned li")).to_contain_text(
        "Good morning! What can I do for you?", timeout=SEEN_TIMEOUT_MS)
    await agent_page.locator("#text").press("Tab")
    await expect(agent_page.locator("#text")).to_have_value("Good morning! What can I do for you?")
    await agent_page.locator("#text").fill("")

    # Both tabs come back after a reload, the one shown still shown; a closed chat's tab goes.
    await agent_page.locator("#tabs .tab-label").nth(0).click()
    await agent_page.locator("#close").click()
    await guests[0].expect("conversation", conversation=Chat(conversations[0], "closed"))
    await agent_page.locator("#tabs .tab-label").nth(1).click()
    await agent_page.reload()
    await expect(agent_page.locator("#tabs .tab")).to_have_count(1, timeout=SEEN_TIMEOUT_MS)
    await expect(agent_page.locator("#tabs .tab.is-active")).to_have_count(1)
    await expect(agent_page.locator(".msg-visitor .msg-text")).to_have_text(["agent please, question 1"])
    for guest in guests:
        await guest.close()


async def _seeded_reports(server: Server) -> tuple[Any, str]:
    site = await server.add_site("Shop <&> Co")
    admin = await server.add_agent("boss@example.com", site, role="admin")
    store = Store(server.store_url)
    try:
        chat = await seed_chat(store, site.id, utc(16, 10), queued=utc(16, 10), reply=utc(16, 10, 2),
                               closed=utc(16, 10, 20), agent_id=admin.id, rating="good",
                               comment="Quick and kind")
        await seed_chat(store, site.id, utc(17, 9), closed=utc(17, 9, 1), resolution="self_served")
        await seed_chat(store, site.id, utc(18, 14), queued=utc(18, 14), reply=utc(18, 14, 40),
                        closed=utc(18, 16), agent_id=admin.id, rating="bad", comment="Too slow")
        await seed_ticket(store, site.id, utc(18, 8), utc(18, 12), None)
    finally:
        await store.close()
    return site, chat


# Text in a chart smaller than this on screen is hard to read.
MIN_CHART_TEXT_PX = 11
_SMALLEST_CHART_TEXT = """() => Math.min(...[...document.querySelectorAll('svg.chart text')]
    .map(t => parseFloat(t.getAttribute('font-size')) * t.ownerSVGElement.getBoundingClientRect().width
               / t.ownerSVGElement.viewBox.baseVal.width))"""


async def test_the_reports_page_reads_like_a_product_in_english_and_dutch(
    server: Server, browser: Any
) -> None:
    site, chat = await _seeded_reports(server)
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await _sign_in(page, server, "boss@example.com")
    url = f"{server.http}/console/reports?site={site.public_key}&from=2026-11-16&to=2026-11-20"
    await page.goto(url)
    await expect(page.locator("#table-forecast")).to_be_visible()
    headings = await page.locator("table.report th").all_inner_texts()
    assert "Median" in headings and "Within target" in headings and "Agents needed" in headings
    assert not [h for h in headings if "_" in h], headings
    times = page.locator("#table-times tbody tr").first
    await expect(times).to_contain_text("Chat")
    await expect(times).to_contain_text("First response")
    await expect(times).to_contain_text("2 min")
    await expect(page.locator("#table-volume")).to_contain_text("Mon 16 Nov")
    await expect(page.locator("#share-good")).to_contain_text("50%")
    link = page.locator("#table-comments tr", has_text="Quick and kind").locator("a")
    assert await link.get_attribute("href") == f"/console#c={chat}"
    await expect(page.locator("#chart-chat-first_response")).to_contain_text("Minutes (business time)")
    await expect(page.locator("#chart-volume")).to_contain_text("Day")
    assert await page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    assert await page.evaluate(_SMALLEST_CHART_TEXT) >= MIN_CHART_TEXT_PX
    await page.screenshot(path=str(SHOTS / "reports-en.png"), full_page=True)

    # The chat linked from the report opens in the inbox, closed as it is.
    await link.click()
    await expect(page.locator("#chat-title")).to_be_visible(timeout=SEEN_TIMEOUT_MS)
    await expect(page.locator("#chat-sub")).to_have_text("Closed")

    await page.goto(url)
    await page.select_option("#pref-locale", "nl")
    await expect(page.locator("h1")).to_have_text("Rapporten", timeout=SEEN_TIMEOUT_MS)
    # The language changed, the report shown did not (its site and range are kept).
    assert page.url == url
    await expect(page.locator("#table-forecast")).to_contain_text("Benodigde medewerkers")
    headings = await page.locator("table.report th").all_inner_texts()
    assert {"Mediaan", "Binnen het doel", "Benodigde medewerkers"} <= set(headings), str(headings)
    await expect(page.locator("#table-volume")).to_contain_text("ma 16 nov")
    await expect(page.locator("#chart-hours")).to_contain_text("woensdag")
    await expect(page.locator("#table-times tbody tr").first).to_contain_text("Eerste reactie")
    await expect(page.locator("#table-forecast")).to_contain_text("maandag")
    await expect(page.locator("#share-good")).to_contain_text("50%")
    assert await page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    assert await page.evaluate(_SMALLEST_CHART_TEXT) >= MIN_CHART_TEXT_PX
    await page.screenshot(path=str(SHOTS / "reports-nl.png"), full_page=True)


async def test_relative_times_in_the_sidebar_keep_moving(server: Server, browser: Any) -> None:
    site = await server.add_site()
    await server.add_agent("ann@example.com", site)
    guest = await visitor(server, site)
    await guest.send(type="search", text="return a tent")
    await guest.expect("suggestions")
    await guest.send(type="start", client_id="q1", text="agent please")
    conversation = (await guest.expect("ack"))["conversation"]
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await page.clock.install()
    await _sign_in(page, server, "ann@example.com")
    await page.locator(f"#list-mine .conv[data-conversation='{conversation}'] .conv-open").click()
    searched = page.locator("#cust-searches .past-when")
    await expect(searched).to_have_text("this minute", timeout=SEEN_TIMEOUT_MS)
    await page.clock.fast_forward("05:00")
    await expect(searched).to_have_text("5 minutes ago")
    await guest.close()
