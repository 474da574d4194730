"""Channels (chatserver/channels.py): the pure rules, and a real server whose site switches
them off and on: new conversations refused with channel_off, everything stored kept."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser import expect
from dns_zone import signed
from mail_fixtures import INBOUND_SECRET, MailServer, Sink
from sqlalchemy import update
from test_mail_smtp import _reply_to

from chatserver import channels, site_settings
from chatserver.site_settings import SettingsError
from chatserver.store import Store
from chatserver.store.schema import tickets
from conftest import PASSWORD, Chat, Client, Server, agent, assigned_chat, login, visitor

SHOTS = Path("/tmp")
SEEN_MS = 8000

# The pure rules -----------------------------------------------------------------------------


def test_channel_names_are_parsed_and_bad_ones_refused_with_what_a_channel_looks_like() -> None:
    assert [channels.parse(v) for v in ("chat", " Email ", "form", "api:telegram")] == [
        "chat", "email", "form", "api:telegram"]
    assert channels.api("whatsapp") == "api:whatsapp"
    for bad in ("sms", "api:", "api:Tele gram", "api:" + "x" * 41, 3, None, "api:-x"):
        with pytest.raises(channels.ChannelError, match="chat, email, form or api:<name>|string"):
            channels.parse(bad)
    assert channels.integration("api:telegram") == "telegram" and channels.integration("chat") is None
    assert channels.display_name("api:whatsapp") == "WhatsApp"
    assert channels.display_name("api:telegram") == "Telegram"
    assert channels.display_name("api:my_shop-app") == "My Shop App"
    assert channels.display_name("form") is None


def test_chat_email_and_form_are_on_by_default_an_integration_only_once_switched_on() -> None:
    assert channels.switches({}) == {"chat": True, "email": True, "form": True}
    assert all(channels.is_on({}, c) for c in ("chat", "email", "form"))
    assert not channels.is_on({}, "api:telegram")
    on = {"channels": channels.switched({}, on=["api:telegram"], off=["email"])}
    assert on["channels"] == {"chat": True, "email": False, "form": True, "api:telegram": True}
    assert channels.is_on(on, "api:telegram") and not channels.is_on(on, "email")
    # Only true is on: a stored "yes" or 1 is not a switch anyone set.
    assert not channels.is_on({"channels": {"form": "yes"}}, "form")
    with pytest.raises(channels.ChannelError, match="switched on and off at once"):
        channels.switched({}, on=["form"], off=["form"])
    with pytest.raises(channels.ChannelOff) as off:
        channels.check(on, "email")
    assert off.value.code == "channel_off" and "by email" in str(off.value)
    assert "by Telegram" in channels.refusal("api:telegram")


def _site_form(**more: str) -> dict[str, str]:
    return {"color": "#2563eb", "greeting": "Hi", "locale": "en", "position": "right",
            "prechat": "off", "sla_chat_first_response": "1", "sla_chat_resolution": "30",
            "sla_ticket_first_response": "8", "sla_ticket_resolution": "72", **more}


def test_the_settings_form_saves_the_switches_it_shows_and_leaves_the_others() -> None:
    # The admin page lists what it shows; an unticked box is off.
    shown = site_settings.check(_site_form(**{"channels_listed": "chat,email,form,api:telegram",
                                              "channel:chat": "on", "channel:api:telegram": "on"}))
    assert shown["channels"] == {"api:telegram": True, "chat": True, "email": False, "form": False}
    # A form that shows no switches (a script, an older page) changes none.
    assert "channels" not in site_settings.check(_site_form())
    with pytest.raises(SettingsError, match="is not a channel") as bad:
        site_settings.check(_site_form(channels_listed="chat,fax"))
    assert bad.value.field == "channels"
    assert site_settings.with_defaults({})["channels"] == channels.DEFAULTS


# A real server ------------------------------------------------------------------------------


async def _switch(server: Server, site_id: str, on: list[str] | None = None,
                  off: list[str] | None = None) -> dict[str, bool]:
    store = Store(server.store_url)
    try:
        return await site_settings.set_channels(store, site_id, on or [], off or [])
    finally:
        await store.close()


@pytest.mark.shared_server
async def test_a_channel_switched_off_refuses_new_chats_and_keeps_old_ones(
    server: Server, clients: list[Client]
) -> None:
    site = await server.add_site("Acme")
    await server.add_agent("ann@example.com", site)
    ann = await agent(server, "ann@example.com")
    guest = await visitor(server, site)
    clients += [ann, guest]
    old = await assigned_chat(ann, guest, "zxqv my blender hums")

    assert await _switch(server, site.id, off=["chat"]) == {"chat": False, "email": True, "form": True}
    # A visitor connected before the switch is refused too: the settings are read at start.
    await guest.send(type="start", client_id="s2", text="zxqv a second question")
    refused = await guest.expect("error", ref="s2")
    assert refused["code"] == "channel_off"
    assert refused["message"] == (
        "this site does not take new conversations by chat just now; nothing stored is lost")
    # The widget's offline form starts something new too: refused alike.
    await guest.send(type="leave_email", email="kim@example.com", text="Call me", client_id="f1")
    assert (await guest.expect("error", ref="f1"))["code"] == "channel_off"
    # The socket stays open; agents still read the chat, and it goes on both ways.
    await guest.send(type="ping")
    await guest.expect("pong")
    await ann.send(type="sync", conversation=old, after=0)
    synced = await ann.expect("conversation", conversation=Chat(old, "assigned"))
    assert synced["conversation"]["channel"] == "chat"
    assert (await ann.expect("message", conversation=old))["text"] == "zxqv my blender hums"
    await guest.send(type="message", conversation=old, client_id="m2", text="still there?")
    assert (await guest.expect("ack", ref="m2"))["conversation"] == old
    await ann.expect("message", conversation=old, text="still there?")
    await ann.send(type="message", conversation=old, client_id="a1", text="Yes!")
    await guest.expect("message", conversation=old, text="Yes!")

    # It is in the customer's history, with its channel.
    contact = synced["conversation"]["contact"]["id"]
    cookie = await login(server, "ann@example.com")
    async with httpx.AsyncClient(base_url=server.http, cookies={"chatserver_session": cookie}) as http:
        history = (await http.get(f"/api/v1/contacts/{contact}/history")).json()["history"]
    assert [(h["kind"], h["channel"], h["summary"]) for h in history] == [
        ("chat", "chat", "zxqv my blender hums")]
    assert "event=channel_off" in server.log.read_text()

    # Switched back on, a new chat starts.
    await _switch(server, site.id, on=["chat"])
    await guest.send(type="start", client_id="s3", text="zxqv a third question")
    assert (await guest.expect("ack", ref="s3"))["conversation"] != old


async def test_mail_to_a_site_with_email_off_is_held_with_the_reason_while_replies_thread(
    mail_server: MailServer, sink: Sink, clients: list[Client]
) -> None:
    site = await mail_server.add_site()
    await mail_server.add_agent("anna@shop.example", site)
    guest = await visitor(mail_server, site)
    clients.append(guest)
    await guest.send(type="leave_email", email="ann@example.com", name="Ann", text="Where is it?",
                     client_id="form")
    ticket = (await guest.expect("ticket"))["ticket"]
    confirmation = await sink.to("ann@example.com")
    await mail_server.set_site(site, tickets_from_new_senders=True, channels={"email": False})
    secret = {"Authorization": f"Bearer {INBOUND_SECRET}"}

    # A new sender would start a ticket: email is off, so it is held, with the reason.
    stranger = _reply_to(confirmation, "Col <col@example.com>", "I have the same problem.")
    held = await mail_server.api(
        "POST", "/api/v1/inbound-mail", content=signed(stranger.as_bytes(), "example.com"),
        headers=secret)
    assert held.status_code == 202 and held.json()["reason"] == "channel_off"
    # The ticket's own customer still threads in.
    reply = _reply_to(confirmation, "Ann <ann@example.com>", "Any news?")
    appended = await mail_server.api(
        "POST", "/api/v1/inbound-mail", content=signed(reply.as_bytes(), "example.com"),
        headers=secret)
    assert appended.json() == {"outcome": "appended", "ticket": ticket["id"]}
    cookie = await login(mail_server, "anna@shop.example")
    detail = (await mail_server.api("GET", f"/api/v1/tickets/{ticket['id']}", cookie)).json()
    assert [e["text"] for e in detail["entries"]] == ["Where is it?", "Any news?"]
    assert detail["ticket"]["channel"] == "chat"

    # Email back on: the same stranger's next mail opens a ticket of the email channel.
    await mail_server.set_site(site, tickets_from_new_senders=True)
    del stranger["Message-ID"]
    stranger["Message-ID"] = "<again@customer.example>"
    opened = await mail_server.api(
        "POST", "/api/v1/inbound-mail", content=signed(stranger.as_bytes(), "example.com"),
        headers=secret)
    assert opened.json()["outcome"] == "opened"
    new = (await mail_server.api("GET", f"/api/v1/tickets/{opened.json()['ticket']}", cookie)).json()
    assert new["ticket"]["channel"] == "email"
    assert [(h["kind"], h["channel"]) for h in new["history"]] == [("ticket", "email")]


def test_the_command_line_switches_channels_and_refuses_a_bad_name(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "chatserver", *args, "--data-dir", str(tmp_path)],
                              capture_output=True, text=True, timeout=60)

    assert run("sites", "add", "--name", "Shop").returncode == 0
    key = json.loads(run("sites", "list", "--json").stdout)[0]["key"]
    switched = run("sites", "channels", key, "--on", "api:telegram", "--off", "email")
    assert switched.returncode == 0, switched.stderr
    assert switched.stdout.split("\n")[:4] == [
        "chat                     on", "email                    off", "form                     on",
        "api:telegram             on"]
    bad = run("sites", "channels", key, "--off", "fax")
    assert bad.returncode == 2 and "'fax' is not a channel" in bad.stderr
    assert "email                    off" in run("sites", "channels", key).stdout
    unknown = run("sites", "channels", "site_nope", "--off", "chat")
    assert unknown.returncode == 2 and "no site with key 'site_nope'" in unknown.stderr


# In the console -----------------------------------------------------------------------------


async def test_the_sidebar_says_how_and_when_the_customer_came_before(
    mail_server: MailServer, browser: Any, clients: list[Client]
) -> None:
    site = await mail_server.add_site("Acme")
    await mail_server.add_agent("ann@example.com", site, role="admin")
    guest = await visitor(mail_server, site)
    clients.append(guest)
    # Earlier contacts of this customer: a chat, a ticket by mail, one by the contact form and
    # one through a Telegram integration, each given its channel (as the other doors would).
    await guest.send(type="start", client_id="old", text="Is this shop real?")
    earlier = (await guest.expect("ack"))["conversation"]
    await guest.send(type="close", conversation=earlier)
    for n, channel in enumerate(("email", "form", "api:telegram")):
        await guest.send(type="leave_email", email="kim@example.com", text=f"Question {n}",
                         client_id=f"t{n}")
        ticket = (await guest.expect("ticket", timeout=10))["ticket"]
        await _set(mail_server, tickets, ticket["id"], channel=channel,
                   created_at=ticket["created_at"] - (n + 1) * 86_400_000)

    page = await browser.new_page(viewport={"width": 1440, "height": 900})
    await page.goto(f"{mail_server.http}/console/signin")
    await page.fill("#email", "ann@example.com")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page.locator("#availability")).to_be_enabled(timeout=SEEN_MS)
    await guest.send(type="start", client_id="now", text="zxqv where is my parcel")
    now = (await guest.expect("ack", ref="now"))["conversation"]
    await guest.send(type="escalate", conversation=now)
    row = page.locator("#list-queue .conv, #list-mine .conv, #list-all .conv").first
    await row.click(timeout=SEEN_MS)
    history = page.locator("#cust-history .past-channel")
    await expect(history).to_have_count(4, timeout=SEEN_MS)
    said = await history.all_text_contents()
    assert said[0].startswith("Chatted with us this ")  # morning, afternoon or evening
    assert said[1:] == ["Emailed us yesterday", "Via the contact form 2 days ago",
                        "Via Telegram 3 days ago"]
    await page.screenshot(path=str(SHOTS / "channels-sidebar.png"))

    # The admin page has a switch per channel; unticking the form saves it off.
    await page.goto(f"{mail_server.http}/console/admin/sites/{site.id}")
    await page.uncheck("input[data-channel=form]")
    await page.locator("#save-site").click()
    await expect(page.locator(".notice")).to_have_text("Saved.")
    await expect(page.locator("input[data-channel=form]")).not_to_be_checked()
    await expect(page.locator("input[data-channel=chat]")).to_be_checked()
    await page.screenshot(path=str(SHOTS / "channels-admin.png"), full_page=True)
    answer = await mail_server.api("GET", f"/form/{site.public_key}")
    assert "not taking messages through this form" in answer.text


async def _set(server: Server, table: Any, row_id: str, **values: Any) -> None:
    store = Store(server.store_url)
    try:
        async with store.write() as conn:
            await conn.execute(update(table).where(table.c.id == row_id).values(**values))
    finally:
        await store.close()
