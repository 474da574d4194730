"""The widget's hand-over to email, business hours, transcripts, several tabs and Dutch, in
Chromium on a host page of another origin, against a chat server that mails a real SMTP sink."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser import HostSite, expect
from mail_fixtures import MailServer, Sink
from test_visitor_status import closed_now

from conftest import Chat, Client, agent, visitor

SEEN_TIMEOUT_MS = 8000
STATIC = Path(__file__).resolve().parent.parent / "widget" / "static"
# docs/widget.md promises these; the figures are printed on every run (pytest -s shows them).
LOADER_BUDGET = 2048
TOTAL_BUDGET = 20 * 1024


@pytest.fixture
def host(mail_server: MailServer) -> Iterator[HostSite]:
    with HostSite(mail_server).running() as site:
        yield site


async def _site(server: MailServer, host: HostSite, **settings: Any) -> Any:
    site = await server.add_site("Acme", origins=[host.origin])
    if settings:
        await server.set_site(site, **settings)
    host.site_key = site.public_key
    return site


async def _ask(page: Any, text: str) -> None:
    await page.locator(".cs-input").fill(text)
    await page.keyboard.press("Enter")
    # Past the help articles, if the server suggests some: the visitor wants a person.
    person = page.locator(".cs-card .cs-btn").last
    # Whichever comes first: articles, a notice (queued, nobody there), or an agent joining.
    next_step = page.locator(".cs-card, .cs-notice p, .cs-sys")
    await expect(next_step.first).to_be_visible(timeout=SEEN_TIMEOUT_MS)
    if await person.count() and await person.is_enabled():
        await person.click()


async def test_nobody_online_the_question_becomes_an_email_ticket(
    mail_server: MailServer, sink: Sink, host: HostSite, browser: Any
) -> None:
    await _site(mail_server, host, locale="en")
    page = await browser.new_page()
    await page.goto(host.url())
    await page.locator(".cs-launcher").click()
    await expect(page.locator(".cs-sub")).to_have_text("We are away right now", timeout=SEEN_TIMEOUT_MS)
    await _ask(page, "My tent pole snapped on the first night")
    form = page.locator(".cs-notice form")
    await expect(form.locator("p").first).to_have_text(
        "Nobody is online right now. Leave your email address and we will answer there; "
        "your question is kept."
    )
    await form.get_by_label("Name").fill("Ann de Vries")
    # The browser lets this through; the server refuses it, and nothing typed is lost.
    await form.get_by_label("Email address").fill("ann@example")
    await form.locator("button").click()
    await expect(form.locator(".cs-err")).to_have_text("Enter an email address like name@example.com.")
    await expect(form.get_by_label("Name")).to_have_value("Ann de Vries")
    await expect(form.get_by_label("Email address")).to_have_value("ann@example")
    await form.get_by_label("Email address").fill("ann@example.com")
    await form.locator("button").click()

    notice = page.locator(".cs-notice")
    await expect(notice.locator("p")).to_have_text(
        ["This chat has ended.", "We will answer by email at ann@example.com."],
        timeout=SEEN_TIMEOUT_MS,
    )
    mail = await sink.to("ann@example.com")
    assert "My tent pole snapped on the first night" in mail.text
    assert "Ann de Vries" in str(mail.message["To"])

    # What the visitor sees afterwards survives a reload; a new chat can start.
    await page.reload()
    await expect(page.locator(".cs-notice p").last).to_have_text(
        "We will answer by email at ann@example.com.", timeout=SEEN_TIMEOUT_MS
    )
    await expect(page.locator(".cs-me .cs-bubble")).to_have_text(
        ["My tent pole snapped on the first night"]
    )
    await page.locator(".cs-notice .cs-btn", has_text="Start a new chat").click()
    await expect(page.locator(".cs-me")).to_have_count(0)


async def test_a_waiting_visitor_sees_their_place_in_line_in_dutch_and_switches_to_email(
    mail_server: MailServer, sink: Sink, host: HostSite, browser: Any, clients: list[Client]
) -> None:
    site = await _site(mail_server, host, locale="nl")
    await mail_server.add_agent("ann@example.com", site, max_chats=1)
    ann = await agent(mail_server, "ann@example.com")
    first = await visitor(mail_server, site)
    clients.extend([ann, first])
    # The only agent is busy with someone else: the browser's visitor waits in line.
    await first.send(type="start", client_id="f1", text="Kan ik mijn bestelling nog wijzigen?")
    taken = (await first.expect("ack", ref="f1"))["conversation"]
    await first.send(type="escalate", conversation=taken)
    await first.expect("conversation", conversation=Chat(taken, "assigned"), timeout=10)

    context = await browser.new_context(locale="nl-NL")
    page = await context.new_page()
    await page.goto(host.url())
    await page.locator(".cs-launcher").click()
    await _ask(page, "Mijn tentstok is bij de eerste nacht geknapt")
    notice = page.locator(".cs-notice")
    await expect(notice.locator("p").first).to_have_text(
        "Je bent nummer 1 in de rij.", timeout=SEEN_TIMEOUT_MS
    )
    await expect(page.locator(".cs-sub")).to_have_text("Wachten op de eerstvolgende medewerker…")
    await notice.locator("button", has_text="Stuur het antwoord liever per e-mail").click()
    form = notice.locator("form")
    await expect(form.locator("p").first).to_have_text(
        "Laat je e-mailadres achter, dan antwoorden we daar; de chat stopt en je vraag blijft bewaard."
    )
    await form.get_by_label("E-mailadres").fill("kim@example.com")
    await form.locator("button", has_text="Versturen").click()
    await expect(notice.locator("p")).to_have_text(
        ["Deze chat is beëindigd.", "We antwoorden per e-mail op kim@example.com."],
        timeout=SEEN_TIMEOUT_MS,
    )
    ticket = await ann.expect("ticket", timeout=10)
    assert ticket["ticket"]["source"] == "waited"
    assert ticket["ticket"]["contact"]["email"] == "kim@example.com"
    mail = await sink.to("kim@example.com")
    assert "Mijn tentstok" in mail.text
    await context.close()


async def _rewrite_welcome(page: Any, **keys: Any) -> None:
    """Change keys of the welcome frame on its way to the page (the rest passes untouched)."""

    async def relay(ws: Any) -> None:
        server = ws.connect_to_server()

        def from_server(text: str | bytes) -> None:
            frame = json.loads(text)
            ws.send(json.dumps({**frame, **keys}) if frame["type"] == "welcome" else text)

        ws.on_message(lambda text: server.send(text))
        server.on_message(from_server)

    await page.route_web_socket("**/ws/visitor*", relay)


async def test_outside_business_hours_the_panel_says_so_and_opens_on_time(
    mail_server: MailServer, host: HostSite, browser: Any, clients: list[Client]
) -> None:
    closed, _ = closed_now()
    site = await _site(mail_server, host, locale="en", hours=closed)
    # Someone is online, yet the site is closed: the panel tells the truth about the hours.
    await mail_server.add_agent("ann@example.com", site)
    clients.append(await agent(mail_server, "ann@example.com"))
    page = await browser.new_page()
    # The server says the site opens in 3 seconds (the real answer is hours away).
    await _rewrite_welcome(page, next_change_in=3)
    await page.goto(host.url())
    await page.locator(".cs-launcher").click()
    await expect(page.locator(".cs-sub")).to_contain_text("Closed now, back ", timeout=SEEN_TIMEOUT_MS)
    await expect(page.locator(".cs-notice p")).to_have_text(
        "We are closed right now. Ask your question anyway: we will answer by email."
    )
    await expect(page.locator(".cs-panel")).not_to_have_class("cs-panel cs-on")
    await expect(page.locator(".cs-sub")).to_have_text(
        "We typically reply in a few minutes", timeout=SEEN_TIMEOUT_MS
    )
    await expect(page.locator(".cs-notice")).to_have_text("")


async def test_the_transcript_is_mailed_after_the_chat(
    mail_server: MailServer, sink: Sink, host: HostSite, browser: Any, clients: list[Client]
) -> None:
    site = await _site(mail_server, host, locale="en")
    await mail_server.add_agent("ann@example.com", site)
    ann = await agent(mail_server, "ann@example.com")
    clients.append(ann)
    page = await browser.new_page()
    await page.goto(host.url())
    await page.locator(".cs-launcher").click()
    await _ask(page, "Do the boots come in size 47?")
    event = await ann.expect("conversation", timeout=10)
    while event["conversation"]["status"] != "assigned":
        event = await ann.expect("conversation", timeout=10)
    chat = event["conversation"]["id"]
    await ann.send(type="message", conversation=chat, client_id="a1", text="Yes, in brown.")
    await expect(page.locator(".cs-them .cs-bubble").last).to_have_text("Yes, in brown.",
                                                                         timeout=SEEN_TIMEOUT_MS)
    await ann.send(type="close", conversation=chat)
    notice = page.locator(".cs-notice")
    await expect(notice.locator("p").first).to_have_text("This chat has ended.",
                                                          timeout=SEEN_TIMEOUT_MS)
    await notice.locator("button", has_text="Email me the transcript").click()
    await notice.get_by_label("Email address").last.fill("bob@example.com")
    await notice.locator("form button", has_text="Send").click()
    await expect(notice.locator("p", has_text="transcript")).to_have_text(
        "The transcript is on its way to bob@example.com.", timeout=SEEN_TIMEOUT_MS
    )
    mail = await sink.to("bob@example.com")
    assert "Do the boots come in size 47?" in mail.text and "Yes, in brown." in mail.text


async def test_a_chat_started_in_one_tab_shows_in_the_other_and_unread_counts_agree(
    mail_server: MailServer, host: HostSite, browser: Any, clients: list[Client]
) -> None:
    site = await _site(mail_server, host, locale="en")
    await mail_server.add_agent("ann@example.com", site)
    ann = await agent(mail_server, "ann@example.com")
    clients.append(ann)
    context = await browser.new_context()
    second = await context.new_page()
    await second.goto(host.url())
    await expect(second.locator("#log")).to_contain_text("ready", timeout=SEEN_TIMEOUT_MS)
    # The widget fetches its token as the page loads: a tab opened after that shares it (two
    # tabs opened in the same instant would be two visitors).
    await second.wait_for_function("Object.values(localStorage).some(v => v.includes('\"token\":\"'))",
                                   timeout=SEEN_TIMEOUT_MS)
    first = await context.new_page()
    await first.goto(host.url())
    await first.locator(".cs-launcher").click()
    await _ask(first, "Is the blue tent waterproof?")
    event = await ann.expect("conversation", timeout=10)
    while event["conversation"]["status"] != "assigned":
        event = await ann.expect("conversation", timeout=10)
    chat = event["conversation"]["id"]
    await ann.send(type="sync", conversation=chat, after=0)
    await ann.expect("synced", conversation=chat)

    # The other tab was never reloaded, and its panel never opened.
    await expect(second.locator(".cs-me .cs-bubble")).to_have_text(
        ["Is the blue tent waterproof?"], timeout=SEEN_TIMEOUT_MS
    )
    await first.keyboard.press("Escape")
    for n in (1, 2):
        await ann.send(type="message", conversation=chat, client_id=f"a{n}", text=f"Answer {n}")
    for page in (first, second):
        await expect(page.locator(".cs-badge")).to_have_text("2", timeout=SEEN_TIMEOUT_MS)
        await expect(page.locator("#unread")).to_have_text("2")
    await first.locator(".cs-launcher").click()
    for page in (first, second):
        await expect(page.locator(".cs-badge")).to_have_text("", timeout=SEEN_TIMEOUT_MS)
        assert not (await page.title()).startswith("(")
    await second.locator(".cs-launcher").click()
    await expect(second.locator(".cs-them .cs-bubble")).to_have_text(
        ["Hi! Ask us anything.", "Answer 1", "Answer 2"]
    )
    await context.close()


@pytest.mark.parametrize(
    ("browser_locale", "site_locale", "greeting"),
    [
        # The browser's language wins when the widget speaks it; the site's otherwise.
        ("de-DE", "nl", "Welkom bij Acme! Waarmee kunnen we helpen?"),
        ("nl-NL", "en", "Hoi! Stel ons gerust een vraag."),
    ],
)
async def test_the_panel_speaks_dutch_from_the_site_setting_or_the_browser(
    mail_server: MailServer, host: HostSite, browser: Any,
    browser_locale: str, site_locale: str, greeting: str,
) -> None:
    await _site(mail_server, host, locale=site_locale,
                greeting="Welkom bij Acme! Waarmee kunnen we helpen?")
    context = await browser.new_context(locale=browser_locale)
    page = await context.new_page()
    await page.goto(host.url())
    await page.locator(".cs-launcher").click()
    panel = page.locator(".cs-panel")
    await expect(page.locator(".cs-sub")).to_have_text("We zijn er nu even niet",
                                                        timeout=SEEN_TIMEOUT_MS)
    await expect(panel).to_have_attribute("lang", "nl")
    await expect(page.locator(".cs-greeting .cs-bubble")).to_have_text(greeting)
    await expect(page.locator(".cs-input")).to_have_attribute("placeholder", "Schrijf een bericht…")
    await expect(page.locator(".cs-x")).to_have_attribute("aria-label", "Chat sluiten")
    await expect(page.locator(".cs-launcher")).to_have_attribute("aria-label", "Chat openen")
    await context.close()


async def test_the_widget_stays_within_its_size_budget(mail_server: MailServer) -> None:
    async with httpx.AsyncClient(base_url=mail_server.http) as http:
        loader = await http.get("/widget.js")
        version = loader.text.split("/widget/widget.js?v=", 1)[1][:16]
        panel = await http.get(f"/widget/widget.js?v={version}")
    sizes = {name: (len(body), len(gzip.compress(body, 9, mtime=0)))
             for name, body in (("loader", loader.content), ("panel", panel.content))}
    total = sizes["loader"][1] + sizes["panel"][1]
    print(f"\nwidget size: loader {sizes['loader'][1]:,} B gzipped (budget {LOADER_BUDGET:,}); "
          f"panel {sizes['panel'][1]:,} B; total {total:,} B (budget {TOTAL_BUDGET:,})")
    assert sizes["loader"][1] <= LOADER_BUDGET
    assert total <= TOTAL_BUDGET
    # What the server serves is the file in the repository without its whole-line comments
    # and indentation, with the version and one language's strings (chatserver/i18n.py) put in.
    lines = (STATIC / "widget.js").read_bytes().splitlines(keepends=True)
    source = b"".join(line.lstrip(b" \t") for line in lines if not line.lstrip().startswith(b"//"))
    before, after = source.split(b"__I18N__")
    assert panel.content.startswith(before) and b'"lang":"en","strings":{"widget_chat"' in panel.content
    assert panel.content.endswith(after.replace(b"__VERSION__", version.encode()))
