"""The help centre people browse: categories, a language switch, search, votes and the chat widget."""

from __future__ import annotations

import re
from typing import Any

import httpx
from browser import expect

from chatserver import articles, site_settings, sites
from chatserver.articles import Article
from chatserver.helpcenter import votes
from chatserver.sites import Site
from chatserver.store import Store
from conftest import Server, login

SEEN_TIMEOUT_MS = 15_000

HELP = [
    Article.build(slug="track-parcel", locale="en", title="How do I track my parcel?", category="Orders",
                  body="Open the link in your shipping mail to see where your parcel is."),
    Article.build(slug="change-address", locale="en", title="Can I change the delivery address?",
                  category="Orders", body="Until we ship, change it under My orders."),
    Article.build(slug="return-item", locale="en", title="How do I return an item?", category="Returns",
                  body="Print the return label and drop the parcel at a post office."),
    Article.build(slug="track-parcel", locale="nl", title="Waar is mijn pakket?", category="Bestellingen",
                  body="Open de link in de verzendmail om je pakket te volgen."),
]


async def _help_site(server: Server) -> Site:
    """The installation's first site (the demo's), renamed and in red, with these articles."""
    store = Store(server.store_url)
    try:
        site = (await sites.all_sites(store))[0]
        await site_settings.save(store, site.id, "Acme", [], {**site.settings, "color": "#b91c1c"})
        await articles.replace_all(store, HELP)
    finally:
        await store.close()
    return site


async def test_categories_language_switch_search_votes_and_the_widget_in_chromium(
    server: Server, browser: Any
) -> None:
    await _help_site(server)
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text)
            if "Content Security Policy" in message.text else None)
    await page.goto(f"{server.http}/help/en")
    header = page.locator("header.top")
    await expect(header.locator(".site-name")).to_have_text("Acme")
    assert await header.evaluate("h => getComputedStyle(h).backgroundColor") == "rgb(185, 28, 28)"
    await expect(page.locator(".category h2")).to_have_text(["Orders", "Returns"])

    await page.locator(".category h2 a", has_text="Orders").click()
    await expect(page.locator("main h1")).to_have_text("Orders")
    await expect(page.locator(".articles li")).to_have_text(
        ["Can I change the delivery address?", "How do I track my parcel?"])
    await page.locator("a", has_text="How do I track my parcel?").click()
    await expect(page.locator(".crumbs")).to_have_text("Help centre › Orders")

    # The switch offers the languages that have articles, and this article in Dutch.
    switch = page.locator("nav.languages a")
    await expect(switch).to_have_text(["Nederlands"])
    await switch.click()
    assert page.url.endswith("/help/nl/track-parcel")
    await expect(page.locator("article h1")).to_have_text("Waar is mijn pakket?")
    await expect(page.locator("header .help-name")).to_have_text("Helpcentrum")
    await expect(page.locator("nav.languages a")).to_have_text(["English"])

    # Search uses the widget's engine, which takes in the stored articles within seconds
    # (suggestions.REFRESH_SECONDS): until then the shipped ones answer.
    results = page.locator(".results li a").first
    for _ in range(20):
        await page.goto(f"{server.http}/help/en")
        await page.locator("header input[name=q]").fill("return label")
        await page.locator("header button").click()
        if await results.text_content(timeout=5000) == "How do I return an item?":
            break
        await page.wait_for_timeout(500)
    await expect(results).to_have_text("How do I return an item?")

    # Was this helpful? Counted once, and the page says so.
    await page.goto(f"{server.http}/help/en/return-item")
    await expect(page.locator(".vote span")).to_have_text("Was this article helpful?")
    await page.locator(".vote button", has_text="Yes").click()
    await expect(page.locator(".vote [role=status]")).to_have_text(
        "Thanks for telling us. Changed your mind?")
    await expect(page.locator(".vote button", has_text="Yes")).to_have_attribute("aria-pressed", "true")

    # The chat widget is on the page, and this origin may use it.
    await page.locator(".cs-launcher").click()
    await expect(page.locator(".cs-panel")).to_be_visible()
    await expect(page.locator(".cs-title")).to_have_text("Acme", timeout=SEEN_TIMEOUT_MS)
    await expect(page.locator(".cs-input")).to_be_enabled()
    assert refused == []


async def _vote(http: httpx.AsyncClient, helpful: str, token: str | None = None) -> httpx.Response:
    page = await http.get("/help/en/return-item")
    found = re.search(r'name="token" value="([^"]+)"', page.text)
    assert found is not None
    return await http.post("/help/en/return-item/vote",
                           data={"helpful": helpful, "token": token or found.group(1)})


async def _report(server: Server, cookie: str, key: str) -> list[list[Any]]:
    async with httpx.AsyncClient(cookies={"chatserver_session": cookie}) as http:
        answer = await http.get(f"{server.http}/api/v1/reports/votes", params={"site": key})
    assert answer.status_code == 200, answer.text
    return [row for row in answer.json()["rows"]]


async def test_one_vote_per_browser_bad_votes_refused_a_flood_bounded_and_reported(server: Server) -> None:
    site = await _help_site(server)
    await server.add_agent("boss@example.com", site, role="admin")
    cookie = await login(server, "boss@example.com")
    async with httpx.AsyncClient(base_url=server.http) as http:
        assert (await _vote(http, "yes")).status_code == 303
        again = await _vote(http, "no")  # a change of mind, still one vote
        assert again.status_code == 303 and again.headers["location"] == "/help/en/return-item#vote"
        wrong = await _vote(http, "maybe")
        assert wrong.status_code == 400 and "choose Yes or No" in wrong.text
        forged = await _vote(http, "yes", token="0" * 64)
        assert forged.status_code == 403 and "open the article again" in forged.text
    assert await _report(server, cookie, site.public_key) == [
        ["en", "return-item", "How do I return an item?", 0, 1, 0.0]]

    async with httpx.AsyncClient(base_url=server.http) as stranger:
        # Another site's form: no cookie comes with it, so no token can match.
        posted = await stranger.post("/help/en/return-item/vote", data={"helpful": "yes", "token": "x"})
        assert posted.status_code == 403

    # A script that drops its cookie before each vote: bounded per network and article.
    answers = []
    for _ in range(votes.VOTES_PER_NETWORK + 2):
        async with httpx.AsyncClient(base_url=server.http) as fresh:
            answers.append((await _vote(fresh, "yes")).status_code)
    assert answers.count(303) == votes.VOTES_PER_NETWORK - 1 and answers[-1] == 429
    rows = await _report(server, cookie, site.public_key)
    assert rows == [["en", "return-item", "How do I return an item?", votes.VOTES_PER_NETWORK - 1, 1, 0.95]]

    async with httpx.AsyncClient(cookies={"chatserver_session": cookie}, base_url=server.http) as admin:
        shown = await admin.get("/console/reports", params={"site": site.public_key})
    assert shown.status_code == 200 and "Was this helpful?" in shown.text
    assert re.search(r'id="table-votes".*return-item.*How do I return an item\?.*95%', shown.text, re.S)
