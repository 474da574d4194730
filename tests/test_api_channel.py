"""The API channel over real HTTP, sockets and webhooks: a messaging platform's user writes in
through the public API, an agent answers in the console, the reply goes out signed to the
integration's receiver on loopback (the instance allow-list names 127.0.0.0/8)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from browser import expect
from test_console_browser import SEEN_TIMEOUT_MS, _sign_in
from test_public_api import Api, refused, token
from test_webhooks import FAST, Admin, Receiver

from chatserver import site_settings
from chatserver.store import Store
from chatserver.webhooks import signing
from conftest import Chat, Client, Server, Template, agent, login

numbers = itertools.count(1)


@pytest.fixture(scope="module")
def hooked(tmp_path_factory: pytest.TempPathFactory, server_template: Template,
           request: pytest.FixtureRequest) -> Iterator[Server]:
    """One server for the module, allowed to deliver to loopback; tests keep apart by site."""
    data_dir = server_template.copy_data_dir(tmp_path_factory.mktemp("apichan") / "data")
    running = Server(data_dir, {**server_template.copy_database(request), **FAST,
                                "CHATSERVER_WEBHOOK_ALLOW": "127.0.0.0/8",
                                # A widget visitor silent this long, with an address, gets a ticket.
                                "CHATSERVER_TICKET_GRACE_SECONDS": "1"})
    running.start()
    yield running
    running.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


async def switch(server: Server, site_id: str, on: tuple[str, ...] = (), off: tuple[str, ...] = ()) -> None:
    store = Store(server.store_url)
    try:
        await site_settings.set_channels(store, site_id, on, off)
    finally:
        await store.close()


async def _site_with_admin(server: Server) -> Admin:
    n = next(numbers)
    site = await server.add_site(f"Bridged {n}")
    await server.add_agent(f"boss{n}@example.com", role="admin")
    return Admin(server, site, await login(server, f"boss{n}@example.com"))


def said(user_id: str, text: str, client_id: str, **user: Any) -> dict[str, Any]:
    return {"user": {"id": user_id, **user}, "text": text, "client_id": client_id}


async def test_a_platform_user_reaches_an_agent_and_the_reply_goes_out_signed(
    hooked: Server, receiver: Receiver, clients: list[Client]
) -> None:
    admin = await _site_with_admin(hooked)
    hook = await admin.subscribe(receiver.url, ["message.created", "conversation.closed"])
    n = next(numbers)
    await hooked.add_agent(f"ann{n}@example.com", admin.site, name="Ann")
    ann = await agent(hooked, f"ann{n}@example.com")
    clients.append(ann)
    await switch(hooked, admin.site.id, on=("api:telegram",))
    bot = Api(hooked, await token(hooked, admin.site, "write", name="Telegram"))

    first = await bot.call("POST", "/channels/telegram/messages",
                           said("81234567", "Where is my parcel?", "tg-1", name="Piet"))
    assert first.status_code == 201, first.text
    arrived = first.json()
    chat, contact = arrived["conversation"]["id"], arrived["contact"]["id"]
    assert arrived["conversation"]["channel"] == "api:telegram" and arrived["contact"]["created"]
    assert arrived["message"]["author"] == {"kind": "visitor", "id": contact, "name": "Piet"}
    # Queued and routed like a widget chat; the console's header reads "via Telegram".
    shown = await ann.expect("conversation", conversation=Chat(chat, "assigned", {"id": ann.me or ""}))
    assert shown["conversation"]["channel_name"] == "Telegram"
    assert shown["conversation"]["contact"]["name"] == "Piet"
    await ann.send(type="sync", conversation=chat, after=0)
    heard = await ann.expect("message", conversation=chat)
    assert heard["text"] == "Where is my parcel?" and heard["author"]["kind"] == "visitor"
    await ann.expect("synced", conversation=chat)

    await ann.send(type="message", conversation=chat, client_id="a1", text="It left today, Piet.")
    await ann.expect("ack")
    await receiver.wait(lambda: any(e["data"]["message"]["author"]["kind"] == "agent"
                                    for e in receiver.delivered() if e["type"] == "message.created"))
    got = next(r for r in receiver.got if r.event["type"] == "message.created"
               and r.event["data"]["message"]["author"]["kind"] == "agent")
    signing.verify(hook["secret"], got.body, got.headers["Chatserver-Signature"])
    reply = got.event["data"]
    assert reply["channel"] == {"name": "api:telegram", "user_id": "81234567"}
    assert reply["message"]["text"] == "It left today, Piet." and reply["message"]["conversation"] == chat

    # The same platform user goes on in the same conversation; a resend is stored once.
    more = await bot.call("POST", "/channels/telegram/messages", said("81234567", "Thanks!", "tg-2"))
    assert more.status_code == 201, more.text
    assert more.json()["conversation"]["id"] == chat and not more.json()["contact"]["created"]
    assert more.json()["contact"]["id"] == contact and more.json()["message"]["seq"] == 3
    await ann.expect("message", conversation=chat, text="Thanks!")
    again = await bot.call("POST", "/channels/telegram/messages", said("81234567", "Thanks!", "tg-2"))
    assert again.json()["duplicate"] and again.json()["message"]["seq"] == 3
    await ann.quiet("message", text="Thanks!")

    await ann.send(type="close", conversation=chat)
    await ann.expect("conversation", conversation=Chat(chat, "closed"))
    await receiver.wait(lambda: any(e["type"] == "conversation.closed" for e in receiver.delivered()))
    closed = next(e for e in receiver.delivered() if e["type"] == "conversation.closed")
    assert closed["data"]["channel"] == {"name": "api:telegram", "user_id": "81234567"}

    # After the close, the next message opens a new conversation for the same contact.
    later = await bot.call("POST", "/channels/telegram/messages", said("81234567", "One more thing", "tg-3"))
    assert later.status_code == 201, later.text
    assert later.json()["conversation"]["id"] != chat and later.json()["contact"]["id"] == contact

    # Both conversations in the customer's one history, with their channel; both sides' words kept.
    reader = Api(hooked, await token(hooked, admin.site, "read"))
    history = (await reader.call("GET", f"/contacts/{contact}")).json()["history"]
    assert [(h["channel"], h["channel_name"], h["summary"]) for h in history] == [
        ("api:telegram", "Telegram", "One more thing"), ("api:telegram", "Telegram", "Where is my parcel?")]
    words = (await reader.call("GET", f"/conversations/{chat}/messages")).json()["data"]
    assert [(m["author"]["kind"], m["text"]) for m in words] == [
        ("visitor", "Where is my parcel?"), ("agent", "It left today, Piet."), ("visitor", "Thanks!")]
    # Every event of the conversation names its channel: a bridge's filter can rely on the key.
    assert all(e["data"]["channel"]["name"] == "api:telegram" for e in receiver.delivered())


async def test_platform_ids_are_per_channel_and_an_off_channel_refuses_newcomers_only(
    hooked: Server,
) -> None:
    site = await hooked.add_site(f"Two platforms {next(numbers)}")
    telegram = Api(hooked, await token(hooked, site, "write", name="Telegram"))
    whatsapp = Api(hooked, await token(hooked, site, "write", name="WhatsApp"))
    reader = Api(hooked, await token(hooked, site, "read", name="Telegram"))

    # Off until switched on; nothing is stored by a refusal.
    refused(await telegram.call("POST", "/channels/telegram/messages", said("42", "hi", "m1")),
            409, "channel_off")
    assert (await reader.call("GET", "/contacts")).json()["data"] == []
    await switch(hooked, site.id, on=("api:telegram", "api:whatsapp"))

    on_telegram = (await telegram.call("POST", "/channels/telegram/messages", said("42", "hi", "m1"))).json()
    on_whatsapp = (await whatsapp.call("POST", "/channels/whatsapp/messages", said("42", "hoi", "m1"))).json()
    assert on_telegram["contact"]["created"] and on_whatsapp["contact"]["created"]
    assert on_telegram["contact"]["id"] != on_whatsapp["contact"]["id"]
    assert on_telegram["conversation"]["id"] != on_whatsapp["conversation"]["id"]
    assert on_whatsapp["conversation"]["channel"] == "api:whatsapp"

    # A read token, another integration's channel, and bad input: refused, nothing changed.
    refused(await reader.call("POST", "/channels/telegram/messages", said("42", "x", "m9")), 403, "forbidden")
    wrong = refused(await telegram.call("POST", "/channels/whatsapp/messages", said("42", "x", "m9")),
                    403, "forbidden")
    assert "/channels/telegram/messages" in wrong["message"]
    for body, code in ((said("42", "   ", "m9"), "invalid_message"),
                       (said(" ", "x", "m9"), "invalid_message"),
                       ({"text": "x", "client_id": "m9"}, "invalid_message"),
                       (said("42", "x", "m9", email="not an address"), "invalid_message"),
                       (said("42", "x", "m9", colour="red"), "invalid_message")):
        refused(await telegram.call("POST", "/channels/telegram/messages", body), 400, code)
    refused(await telegram.call("POST", "/channels/Tele gram/messages", said("42", "x", "m9")),
            400, "invalid_parameter")
    words = (await reader.call("GET", f"/conversations/{on_telegram['conversation']['id']}/messages")).json()
    assert [m["text"] for m in words["data"]] == ["hi"]
    assert len((await reader.call("GET", "/contacts")).json()["data"]) == 2

    # Switched off: a newcomer is refused and leaves nothing; an open conversation goes on.
    await switch(hooked, site.id, off=("api:telegram",))
    off = refused(await telegram.call("POST", "/channels/telegram/messages", said("77", "hello?", "n1")),
                  409, "channel_off")
    assert "Telegram" in off["message"]
    assert len((await reader.call("GET", "/contacts")).json()["data"]) == 2
    going_on = await telegram.call("POST", "/channels/telegram/messages", said("42", "still there?", "m2"))
    chat = on_telegram["conversation"]["id"]
    assert going_on.status_code == 201 and going_on.json()["conversation"]["id"] == chat
    assert (await telegram.call("POST", f"/conversations/{chat}/close")).json()["status"] == "closed"
    # Closed, the same user would need a new conversation: refused while the channel is off.
    refused(await telegram.call("POST", "/channels/telegram/messages", said("42", "again", "m3")),
            409, "channel_off")
    kept = (await reader.call("GET", f"/conversations/{chat}/messages")).json()["data"]
    assert [m["text"] for m in kept] == ["hi", "still there?"]
    assert (await reader.call("GET", f"/conversations/{chat}")).json()["channel"] == "api:telegram"

    # Merged into the WhatsApp contact, the Telegram id comes along: one person, one history.
    admin = Api(hooked, await token(hooked, site, "admin"))
    merged = await admin.call("POST", f"/contacts/{on_whatsapp['contact']['id']}/merge",
                              {"from": on_telegram["contact"]["id"]})
    assert merged.status_code == 200, merged.text
    await switch(hooked, site.id, on=("api:telegram",))
    back = (await telegram.call("POST", "/channels/telegram/messages", said("42", "me again", "m4"))).json()
    assert back["contact"] == {"id": on_whatsapp["contact"]["id"], "created": False}


async def test_a_waiting_platform_user_is_not_handed_over_to_email(hooked: Server) -> None:
    # A widget visitor who falls silent has left the page; a platform user is still there,
    # waiting for an answer where they wrote, however long it takes.
    site = await hooked.add_site(f"Nobody in {next(numbers)}")
    await switch(hooked, site.id, on=("api:telegram",))
    bot = Api(hooked, await token(hooked, site, "write", name="Telegram"))
    posted = await bot.call("POST", "/channels/telegram/messages",
                            said("9001", "Is the shop open on Sunday?", "q1", email="eve@example.com"))
    assert posted.status_code == 201, posted.text
    chat = posted.json()["conversation"]["id"]
    await asyncio.sleep(3)  # the grace period and a few sweeps of the unanswered-chat timer
    assert (await bot.call("GET", f"/conversations/{chat}")).json()["status"] == "queued"
    assert (await bot.call("GET", "/tickets")).json()["data"] == []


async def test_the_console_says_which_platform_a_chat_came_by(hooked: Server, browser: Any) -> None:
    n = next(numbers)
    site = await hooked.add_site(f"Seen {n}")
    await hooked.add_agent(f"cleo{n}@example.com", site, name="Cleo")
    await switch(hooked, site.id, on=("api:telegram",))
    page = await browser.new_page()
    await _sign_in(page, hooked, f"cleo{n}@example.com")
    bot = Api(hooked, await token(hooked, site, "write", name="Telegram"))
    posted = await bot.call("POST", "/channels/telegram/messages", said("31", "Hoi!", "c1", name="Mies"))
    assert posted.status_code == 201, posted.text
    mine = page.locator("#list-mine .conv-open")
    await expect(mine).to_have_count(1, timeout=SEEN_TIMEOUT_MS)
    await mine.click()
    await expect(page.locator("#chat-title")).to_have_text("Mies")
    await expect(page.locator("#chat-sub")).to_have_text("With you · via Telegram")
    await expect(page.locator(".msg-visitor .msg-text")).to_have_text(["Hoi!"])
