"""The widget in a real browser (Debian's Chromium via Playwright) on a host page of another origin."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser import HostSite, expect
from sqlalchemy import update

from chatserver.store import Store
from chatserver.store.schema import sites as sites_table
from conftest import Client, Server, agent

# Every wait on the page ends by itself: a widget that does not show something fails the test.
SEEN_TIMEOUT_MS = 8000
SHOTS = Path("/tmp")


@pytest.fixture
def chat(server: Server) -> Server:
    """The chat server, named apart from the host page's server."""
    return server


@pytest.fixture
def host(chat: Server) -> Iterator[HostSite]:
    with HostSite(chat).running() as site:
        yield site


async def _site_with_agent(chat: Server, host: HostSite, name: str = "Ann") -> Client:
    site = await chat.add_site("Acme", origins=[host.origin])
    host.site_key = site.public_key
    await chat.add_agent("ann@example.com", site, name=name)
    return await agent(chat, "ann@example.com")


async def _assigned(ann: Client) -> str:
    """Wait until the agent has the visitor's chat; follow it and return its id."""
    event = await ann.expect("conversation", timeout=10)
    while event["conversation"]["status"] != "assigned":
        event = await ann.expect("conversation", timeout=10)
    conversation = str(event["conversation"]["id"])
    await ann.send(type="sync", conversation=conversation, after=0)
    await ann.expect("synced", conversation=conversation)
    return conversation


async def _ask(page: Any, text: str) -> None:
    await page.locator(".cs-input").fill(text)
    await page.keyboard.press("Enter")


@pytest.mark.shared_server
async def test_visitor_asks_an_agent_answers_and_a_reload_keeps_the_chat(
    chat: Server, host: HostSite, browser: Any
) -> None:
    ann = await _site_with_agent(chat, host)
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    await page.goto(host.url())
    await page.locator(".cs-launcher").click()
    panel = page.locator(".cs-panel")
    await expect(panel).to_be_visible()
    await expect(page.locator(".cs-title")).to_have_text("Acme", timeout=SEEN_TIMEOUT_MS)
    await expect(page.locator(".cs-input")).to_be_focused()

    await _ask(page, "Where is my parcel?")
    # Self-service first: articles answer before anyone is asked; the visitor wants a person.
    card = page.locator(".cs-card")
    await expect(card.locator("li a").first).to_have_text("How can I track my parcel?",
                                                            timeout=SEEN_TIMEOUT_MS)
    await card.locator(".cs-btn", has_text="Talk to a person").click()
    conversation = await _assigned(ann)
    first = next(frame for frame in ann.seen if frame["type"] == "message")
    assert first["text"] == "Where is my parcel?"
    await expect(page.locator(".cs-sub")).to_have_text("You are chatting with Ann")
    await expect(page.locator(".cs-sys .cs-bubble")).to_have_text("Ann joined the chat")
    # The choice is made: the articles stay in the log, their two buttons are gone.
    await expect(card.locator("li a").first).to_be_visible()
    await expect(card.locator(".cs-btn")).to_have_count(0)

    await ann.send(type="typing", conversation=conversation, active=True)
    await expect(page.locator(".cs-typing")).to_have_text("Ann is typing…")
    await ann.send(type="message", conversation=conversation, client_id="a1", text="On its way!")
    reply = page.locator(".cs-them .cs-bubble").last
    await expect(reply).to_have_text("On its way!", timeout=SEEN_TIMEOUT_MS)
    await expect(page.locator(".cs-them .cs-who").last).to_have_text("Ann")
    await expect(page.locator(".cs-typing")).to_have_text("")
    # The panel is open and the tab visible, so the visitor has read it.
    assert (await ann.expect("receipt", conversation=conversation, status="read"))["seq"] == 2
    await ann.send(type="receipt", conversation=conversation, seq=1, status="read")
    await expect(page.locator(".cs-me .cs-meta").first).to_contain_text("Read")
    await expect(page.locator("#log")).to_have_text(
        "ready\nopen\nmessage from visitor\nmessage from agent\n"
    )
    await page.screenshot(path=str(SHOTS / "widget-desktop.png"))

    await page.reload()
    await expect(page.locator(".cs-panel")).to_be_visible(timeout=SEEN_TIMEOUT_MS)
    bubbles = page.locator(".cs-row:not(.cs-sys) .cs-bubble")
    await expect(bubbles).to_have_text(
        ["Hi! Ask us anything.", "Where is my parcel?", "On its way!"], timeout=SEEN_TIMEOUT_MS
    )
    await _ask(page, "Thanks!")
    message = await ann.expect("message", conversation=conversation, seq=3)
    assert message["text"] == "Thanks!" and message["author"]["kind"] == "visitor"
    await ann.close()


@pytest.mark.shared_server
async def test_unread_messages_show_on_the_launcher_and_in_the_title(
    chat: Server, host: HostSite, browser: Any
) -> None:
    ann = await _site_with_agent(chat, host)
    page = await browser.new_page()
    await page.goto(host.url())
    await page.locator(".cs-launcher").click()
    await _ask(page, "Hello?")
    conversation = await _assigned(ann)
    await page.keyboard.press("Escape")
    await expect(page.locator(".cs-panel")).to_be_hidden()
    await expect(page.locator(".cs-launcher")).to_be_focused()

    for n in (1, 2):
        await ann.send(type="message", conversation=conversation, client_id=f"a{n}", text=f"#{n}")
    await expect(page.locator(".cs-badge")).to_have_text("2", timeout=SEEN_TIMEOUT_MS)
    await expect(page.locator("#unread")).to_have_text("2")
    assert (await page.title()).startswith("(2) ")
    await ann.expect("receipt", conversation=conversation, status="delivered")

    await page.locator(".cs-launcher").click()
    await expect(page.locator(".cs-badge")).to_have_text("")
    assert not (await page.title()).startswith("(")
    assert (await ann.expect("receipt", conversation=conversation, status="read"))["seq"] == 3
    await ann.close()


@pytest.mark.shared_server
async def test_a_390px_phone_gets_a_full_screen_panel(
    chat: Server, host: HostSite, browser: Any
) -> None:
    site = await chat.add_site("Acme", origins=[host.origin])
    host.site_key = site.public_key
    page = await browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    await page.goto(host.url())
    launcher = page.locator(".cs-launcher")
    await launcher.click()
    panel = page.locator(".cs-panel")
    await expect(page.locator(".cs-title")).to_have_text("Acme", timeout=SEEN_TIMEOUT_MS)
    await panel.evaluate("e => Promise.all(e.getAnimations().map(a => a.finished))")
    assert await panel.bounding_box() == {"x": 0, "y": 0, "width": 390, "height": 844}
    await expect(launcher).to_be_hidden()
    await _ask(page, "Do you ship to Belgium?")
    await expect(page.locator(".cs-me .cs-bubble")).to_have_text("Do you ship to Belgium?")
    await page.screenshot(path=str(SHOTS / "widget-phone.png"))
    await page.locator(".cs-x").click()
    await expect(panel).to_be_hidden()
    await expect(launcher).to_be_visible()


HOSTILE = [
    "<script>window.pwned = 1</script>",
    '<img src=x onerror="window.pwned = 1">',
    "javascript:window.pwned=1",
    "[click](javascript:window.pwned=1) and https://example.com/a?b=1&c=<2>.",
]


@pytest.mark.shared_server
async def test_hostile_names_and_messages_render_as_inert_text(
    chat: Server, host: HostSite, browser: Any
) -> None:
    evil = '<img src=x onerror="window.pwned=1">'
    ann = await _site_with_agent(chat, host, name=evil)
    page = await browser.new_page()
    await page.goto(host.url())
    await page.locator(".cs-launcher").click()
    await _ask(page, HOSTILE[0])
    conversation = await _assigned(ann)
    for n, text in enumerate(HOSTILE):
        await ann.send(type="message", conversation=conversation, client_id=f"h{n}", text=text)
    await expect(page.locator(".cs-them:not(.cs-greeting) .cs-bubble")).to_have_text(
        HOSTILE, timeout=SEEN_TIMEOUT_MS
    )
    await expect(page.locator(".cs-me .cs-bubble")).to_have_text([HOSTILE[0]])
    await expect(page.locator(".cs-them .cs-who").first).to_have_text(evil)
    await expect(page.locator(".cs-sub")).to_have_text(f"You are chatting with {evil}")
    assert await page.evaluate("window.pwned") is None
    assert await page.locator("chatserver-widget img, chatserver-widget script").count() == 0
    links = page.locator(".cs-bubble a")
    await expect(links).to_have_count(1)
    assert await links.get_attribute("href") == "https://example.com/a?b=1&c="
    assert await links.get_attribute("rel") == "noopener noreferrer"
    assert await links.get_attribute("target") == "_blank"
    await ann.close()


AGGRESSIVE_CSS = """<style>
* { font: italic 31px/3 "Comic Sans MS", cursive !important; color: red !important;
    box-sizing: content-box !important; margin: 7px !important; padding: 9px !important;
    letter-spacing: 4px !important; }
div, button, textarea, form, h2 { display: inline !important; width: 13px !important;
    background: lime !important; border: 5px dotted blue !important; position: static !important; }
html { font-size: 5px !important; } body { zoom: 1 !important; }
chatserver-widget { display: none !important; opacity: .1 !important; }
</style>"""


async def _measure(page: Any) -> dict[str, Any]:
    result: dict[str, Any] = {}
    await page.locator(".cs-panel").evaluate(
        "e => Promise.all(e.getAnimations().map(a => a.finished))"
    )
    for selector in (".cs-launcher", ".cs-panel", ".cs-head", ".cs-input", ".cs-send",
                     ".cs-me .cs-bubble", ".cs-row:not(.cs-me) .cs-bubble"):
        box = await page.locator(selector).first.bounding_box()
        style = await page.locator(selector).first.evaluate(
            "e => { const s = getComputedStyle(e); return [s.fontFamily, s.fontSize, s.color,"
            " s.backgroundColor, s.padding, s.margin, s.display, s.letterSpacing, s.opacity] }"
        )
        result[selector] = (box, style)
    return result


@pytest.mark.shared_server
async def test_aggressive_host_css_does_not_change_the_widget(
    chat: Server, host: HostSite, browser: Any
) -> None:
    site = await chat.add_site("Acme", origins=[host.origin])
    host.site_key = site.public_key
    measured = []
    for extra in ("", AGGRESSIVE_CSS):
        host.extra_head = extra
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        page = await context.new_page()
        await page.goto(host.url())
        await page.locator(".cs-launcher").click()
        await expect(page.locator(".cs-title")).to_have_text("Acme", timeout=SEEN_TIMEOUT_MS)
        await _ask(page, "Same look?")
        await expect(page.locator(".cs-me .cs-meta")).to_contain_text("Sent")
        measured.append(await _measure(page))
        if extra:
            await page.screenshot(path=str(SHOTS / "widget-aggressive-css.png"))
        await context.close()
    plain, styled = measured
    for selector in plain:
        assert styled[selector] == plain[selector], selector


async def test_messages_typed_while_the_server_is_down_arrive_once(
    chat: Server, host: HostSite, browser: Any
) -> None:
    ann = await _site_with_agent(chat, host)
    page = await browser.new_page()
    await page.goto(host.url())
    await page.locator(".cs-launcher").click()
    await _ask(page, "First")
    conversation = await _assigned(ann)
    await expect(page.locator(".cs-me .cs-meta")).to_contain_text("Sent")
    await ann.close()

    chat.stop()
    await expect(page.locator(".cs-banner")).to_have_text("Reconnecting…", timeout=SEEN_TIMEOUT_MS)
    await _ask(page, "Second")
    await _ask(page, "Third")
    pending = page.locator(".cs-me.cs-pending .cs-meta")
    await expect(pending).to_have_text(["Not sent yet, will send when back online"] * 2)
    chat.start()

    await expect(page.locator(".cs-banner")).to_have_text("", timeout=40_000)
    await expect(page.locator(".cs-me .cs-bubble")).to_have_text(["First", "Second", "Third"])
    await expect(page.locator(".cs-me.cs-pending")).to_have_count(0, timeout=SEEN_TIMEOUT_MS)
    back = await agent(chat, "ann@example.com")
    await back.send(type="sync", conversation=conversation, after=0)
    texts = [(await back.expect("message", conversation=conversation))["text"] for _ in range(3)]
    assert texts == ["First", "Second", "Third"]
    assert (await back.expect("synced", conversation=conversation))["last_seq"] == 3

    # Offline in the browser itself: the socket drops, the note is kept and sent once back.
    await page.context.set_offline(True)
    await page.evaluate("window.dispatchEvent(new Event('offline'))")
    await _ask(page, "Fourth")
    await page.context.set_offline(False)
    fourth = await back.expect("message", conversation=conversation, timeout=40)
    assert fourth["text"] == "Fourth" and fourth["seq"] == 4
    await back.quiet("message", seconds=1.0)
    await expect(page.locator(".cs-me .cs-bubble")).to_have_count(4)
    await back.close()


@pytest.mark.shared_server
async def test_the_api_queues_calls_and_reports_events(
    chat: Server, host: HostSite, browser: Any
) -> None:
    site = await chat.add_site("Acme", origins=[host.origin])
    host.site_key = site.public_key
    host.extra_head = (
        "<script>chatserver('prefill', 'Before load'); chatserver('locale', 'nl');"
        "chatserver('on', 'open', function () { window.opened = (window.opened || 0) + 1 });"
        "</script>"
    )
    page = await browser.new_page()
    await page.goto(host.url())
    await expect(page.locator("#log")).to_contain_text("ready", timeout=SEEN_TIMEOUT_MS)
    await page.evaluate("chatserver.open()")
    await expect(page.locator(".cs-input")).to_have_value("Before load")
    await expect(page.locator(".cs-input")).to_have_attribute("placeholder", "Schrijf een bericht…")
    assert await page.evaluate("window.opened") == 1
    await page.evaluate("""() => {
        window.closes = 0;
        const off = chatserver.on('close', () => window.closes++);
        chatserver('close'); off(); chatserver.open(); chatserver.close();
    }""")
    assert await page.evaluate("window.closes") == 1
    await page.evaluate("chatserver('hideLauncher')")
    await expect(page.locator(".cs-launcher")).to_be_hidden()
    await page.evaluate("chatserver.showLauncher(); chatserver.locale('en')")
    await expect(page.locator(".cs-launcher")).to_have_attribute("aria-label", "Open chat")


@pytest.mark.shared_server
async def test_the_widget_works_by_keyboard_alone_and_without_motion(
    chat: Server, host: HostSite, browser: Any
) -> None:
    site = await chat.add_site("Acme", origins=[host.origin])
    host.site_key = site.public_key
    page = await browser.new_page()
    await page.emulate_media(reduced_motion="reduce")
    await page.goto(host.url())
    launcher = page.locator(".cs-launcher")
    await launcher.focus()
    await page.keyboard.press("Enter")
    panel = page.locator(".cs-panel")
    await expect(panel).to_have_attribute("role", "dialog")
    await expect(page.locator(".cs-input")).to_be_focused()
    assert await panel.evaluate("e => getComputedStyle(e).animationName") == "none"
    await page.keyboard.type("Line one")
    await page.keyboard.press("Shift+Enter")
    await page.keyboard.type("line two")
    await page.keyboard.press("Enter")
    await expect(page.locator(".cs-me .cs-bubble")).to_have_text("Line one\nline two")
    await page.keyboard.press("Tab")
    send = page.locator(".cs-send")
    await expect(send).to_be_focused()
    assert await send.evaluate("e => getComputedStyle(e).outlineStyle") == "solid"
    await expect(page.locator(".cs-log")).to_have_attribute("aria-live", "polite")
    await page.keyboard.press("Escape")
    await expect(panel).to_be_hidden()
    await expect(launcher).to_be_focused()
    await expect(launcher).to_have_attribute("aria-expanded", "false")


@pytest.mark.shared_server
async def test_suggested_articles_show_marked_snippets_and_both_ways_forward(
    chat: Server, host: HostSite, browser: Any
) -> None:
    # A route in the browser swaps the server's real suggestions for hostile ones and keeps
    # every frame the widget sends.
    site = await chat.add_site("Acme", origins=[host.origin])
    host.site_key = site.public_key
    # Someone can answer: "Talk to a person" is offered only then.
    await chat.add_agent("ann@example.com", site)
    ann = await agent(chat, "ann@example.com")
    page = await browser.new_page()
    sent: list[dict[str, Any]] = []

    async def relay(ws: Any) -> None:
        server = ws.connect_to_server()

        def from_page(text: str | bytes) -> None:
            sent.append(json.loads(text))
            server.send(text)

        def from_server(text: str | bytes) -> None:
            frame = json.loads(text)
            if frame["type"] != "suggestions":
                ws.send(text)
            else:
                ws.send(json.dumps({
                    "type": "suggestions", "conversation": frame["conversation"],
                    "articles": [
                        {"slug": "track", "title": "Track your <b>parcel</b>",
                         "snippet": "Use the [[parcel]] link <img src=x onerror=window.pwned=1>",
                         "url": "/help/en/track"},
                        {"slug": "evil", "title": "Evil", "snippet": "x",
                         "url": "javascript:window.pwned=1"},
                    ],
                }))

        ws.on_message(from_page)
        server.on_message(from_server)

    await page.route_web_socket("**/ws/visitor*", relay)
    await page.goto(host.url())
    await page.locator(".cs-launcher").click()
    await _ask(page, "Where is my parcel?")
    card = page.locator(".cs-card")
    await expect(card.locator("li a")).to_have_text(["Track your <b>parcel</b>"])
    assert await card.locator("li a").get_attribute("href") == f"{chat.http}/help/en/track"
    await expect(card.locator("li strong")).to_have_text(["Evil"])
    await expect(card.locator("mark")).to_have_text(["parcel"])
    await expect(card.locator(".cs-snip").first).to_have_text(
        "Use the parcel link <img src=x onerror=window.pwned=1>"
    )
    await page.locator(".cs-card .cs-btn", has_text="Talk to a person").click()
    # Both ways forward are spent at once (disabled, then gone once the chat is queued).
    await expect(card.locator("button:enabled")).to_have_count(0)
    for _ in range(50):
        if any(frame["type"] == "escalate" for frame in sent):
            break
        await asyncio.sleep(0.1)
    assert [frame["type"] for frame in sent][-1] == "escalate"
    assert await page.evaluate("window.pwned") is None
    await ann.close()


@pytest.mark.shared_server
async def test_a_page_on_an_origin_the_site_does_not_allow_gets_no_chat(
    chat: Server, host: HostSite, browser: Any
) -> None:
    site = await chat.add_site("Acme", origins=["https://shop.example"])
    host.site_key = site.public_key
    page = await browser.new_page()
    await page.goto(host.url())
    await page.locator(".cs-launcher").click()
    await expect(page.locator(".cs-sub")).to_have_text(
        "Chat is not available on this page.", timeout=SEEN_TIMEOUT_MS
    )
    # Nothing can be written to wait "until back online": the composer is off.
    await expect(page.locator(".cs-input")).to_be_disabled()


@pytest.mark.shared_server
async def test_the_demo_page_and_the_widget_files_are_served_for_caching(
    chat: Server,
) -> None:
    site = await chat.add_site("Second")
    async with httpx.AsyncClient(base_url=chat.http) as http:
        demo = await http.get("/")
        assert demo.status_code == 200
        # bootstrap's demo site comes first; this one is not on the page.
        assert 'data-site="site_' in demo.text and site.public_key not in demo.text
        assert f'src="{chat.http}/widget.js"' in demo.text and 'href="/console"' in demo.text

        loader = await http.get("/widget.js", headers={"Accept-Encoding": "gzip"})
        assert loader.headers["cache-control"] == "public, max-age=300"
        assert loader.headers["content-encoding"] == "gzip"
        version = loader.text.split("/widget/widget.js?v=", 1)[1][:16]
        panel = await http.get(f"/widget/widget.js?v={version}")
        assert "immutable" in panel.headers["cache-control"]
        again = await http.get(
            f"/widget/widget.js?v={version}", headers={"If-None-Match": panel.headers["etag"]}
        )
        assert again.status_code == 304
        assert (await http.get("/widget/widget.js")).headers["cache-control"] == (
            "public, max-age=3600"
        )
        assert (await http.get("/widget/..%2Fdemo%2Findex.html")).status_code == 404

        # One language comes inside the panel; another is fetched when a visitor switches.
        dutch = await http.get(f"/widget/widget.js?v={version}&l=de,nl-NL,en")
        assert '"lang":"nl"' in dutch.text and "Versturen" in dutch.text and "immutable" in (
            dutch.headers["cache-control"])
        strings = await http.get(f"/widget/strings/nl.json?v={version}")
        assert strings.json()["widget_send"] == "Versturen"
        assert "immutable" in strings.headers["cache-control"]
        assert (await http.get("/widget/strings/xx.json")).status_code == 404


@pytest.mark.shared_server
async def test_an_address_the_server_refuses_in_the_pre_chat_form_is_explained(
    chat: Server, host: HostSite, browser: Any
) -> None:
    site = await chat.add_site("Acme", origins=[host.origin])
    store = Store(chat.store_url)
    try:
        async with store.write() as conn:
            await conn.execute(
                update(sites_table).where(sites_table.c.id == site.id)
                .values(settings={"prechat": "optional"})
            )
    finally:
        await store.close()
    host.site_key = site.public_key
    page = await browser.new_page()
    await page.goto(host.url())
    await page.locator(".cs-launcher").click()
    form = page.locator(".cs-panel form", has=page.locator("input[type=email]"))
    # A browser takes "ann@example" as an address; the server does not.
    await form.locator("input[type=email]").fill("ann@example", timeout=SEEN_TIMEOUT_MS)
    await form.locator("button[name=go]").click()
    await expect(page.locator(".cs-err")).to_have_text("Enter an email address like name@example.com.",
                                                         timeout=SEEN_TIMEOUT_MS)
    # The visitor can still chat: the refusal did not keep the widget from connecting.
    await _ask(page, "Hello?")
    await expect(page.locator(".cs-me .cs-meta").last).to_contain_text("Sent",
                                                                        timeout=SEEN_TIMEOUT_MS)
