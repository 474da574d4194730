"""Mail over real SMTP on loopback: the outbox survives a mail server that is down, and
customers' replies come back in by SMTP and HTTP, threaded into their ticket or quarantined."""

from __future__ import annotations

import asyncio
import re
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from typing import Any

import aiosmtplib
import httpx
import pytest
from dns_zone import signed
from mail_fixtures import INBOUND_SECRET, MailServer, Received, Sink
from sqlalchemy import select

from chatserver import sites
from chatserver.store import Store
from chatserver.store.schema import outbox
from conftest import PASSWORD, Client, login, visitor


async def _ticket(server: MailServer, clients: list[Client], email: str = "ann@example.com",
                  text: str = "Where is my parcel?") -> dict[str, Any]:
    site = await server.add_site()
    await server.add_agent("anna@shop.example", site)
    guest = await visitor(server, site)
    clients.append(guest)
    await guest.send(type="leave_email", email=email, name="Ann", text=text, client_id="form")
    ticket: dict[str, Any] = (await guest.expect("ticket"))["ticket"]
    return ticket


def _reply_to(confirmation: Received, sender: str, text: str, **headers: str) -> EmailMessage:
    """The customer's mail client answering a mail: quote below, thread headers set."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = str(confirmation.message["Reply-To"])
    mail["Subject"] = "Re: " + str(confirmation.message["Subject"])
    mail["Message-ID"] = f"<reply-{id(mail)}@customer.example>"
    mail["In-Reply-To"] = str(confirmation.message["Message-ID"])
    mail["References"] = str(confirmation.message["Message-ID"])
    for key, value in headers.items():
        del mail[key.replace("_", "-")]
        mail[key.replace("_", "-")] = value
    quoted = "\n".join("> " + line for line in confirmation.text.splitlines())
    mail.set_content(f"{text}\n\nOn Mon, 5 Jan 2026 at 10:00, Shop <support@help.example> wrote:\n"
                     f"{quoted}\n")
    return mail


async def _send_in(server: MailServer, mail: EmailMessage) -> None:
    """Send mail in as its sender's provider would: DKIM-signed by the sender's domain."""
    sender = parseaddr(str(mail["From"]))[1]
    recipients = [a for _, a in getaddresses([str(v) for v in mail.get_all("To", [])])]
    await aiosmtplib.send(signed(mail.as_bytes(), sender.split("@")[1].lower()), sender=sender,
                          recipients=recipients, hostname="127.0.0.1", port=server.smtp_port, timeout=10)


async def _entries(server: MailServer, cookie: str, ticket_id: str) -> dict[str, Any]:
    answer = await server.api("GET", f"/api/v1/tickets/{ticket_id}", cookie)
    assert answer.status_code == 200, answer.text
    detail: dict[str, Any] = answer.json()
    return detail


async def _wait_for(check: Any, timeout: float = 10.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


async def test_mail_server_down_delays_mail_and_loses_none(
    mail_server: MailServer, sink: Sink, clients: list[Client]
) -> None:
    sink.stop()
    ticket = await _ticket(mail_server, clients)
    await asyncio.sleep(2.0)  # several failed tries (0.2 s, 0.4 s, 0.8 s, ...)
    store = Store(mail_server.store_url)
    try:
        async with store.read() as conn:
            row = (await conn.execute(select(outbox).where(outbox.c.ticket_id == ticket["id"]))).one()
        assert row.status == "pending" and row.attempts >= 2 and "Errno" in (row.last_error or "")
        sink.start()
        confirmation = await sink.to("ann@example.com")
        assert confirmation.message["Message-ID"] == row.message_id
        await asyncio.sleep(1.5)
        assert len(sink.received) == 1  # once, not once per try
        async with store.read() as conn:
            sent = (await conn.execute(select(outbox).where(outbox.c.id == row.id))).one()
        assert sent.status == "sent" and sent.sent_at is not None
    finally:
        await store.close()
    assert "event=mail_failed" in mail_server.log.read_text()


async def test_customer_reply_threads_back_and_reopens_a_solved_ticket(
    mail_server: MailServer, sink: Sink, clients: list[Client]
) -> None:
    ticket = await _ticket(mail_server, clients)
    confirmation = await sink.to("ann@example.com")
    cookie = await login(mail_server, "anna@shop.example")
    answer = await mail_server.api("POST", f"/api/v1/tickets/{ticket['id']}/replies", cookie,
                                   {"text": "It left our warehouse today.", "status": "solved"})
    assert answer.json()["ticket"]["status"] == "solved"
    reply = (await sink.wait(1, **{"Message-ID": answer.json()["entry"]["message_id"]}))[0]

    mail = _reply_to(reply, "Ann <ANN@example.com>", "Thanks! But the tracking link is broken.")
    await _send_in(mail_server, mail)
    # The form's question, the agent's answer, then the customer's reply.
    detail = await _wait_for(lambda: _with_entries(mail_server, cookie, ticket["id"], 3))
    assert [e["kind"] for e in detail["entries"]] == ["customer", "agent", "customer"]
    customer = detail["entries"][-1]
    assert customer["kind"] == "customer"
    assert customer["text"] == "Thanks! But the tracking link is broken."  # quote and marker cut
    assert customer["message_id"] == mail["Message-ID"]
    assert detail["ticket"]["status"] == "open"  # reopened by the reply

    # The same mail delivered again (an SMTP retry) is stored once.
    await _send_in(mail_server, mail)
    await asyncio.sleep(0.5)
    assert len((await _entries(mail_server, cookie, ticket["id"]))["entries"]) == 3

    # The next reply follows the whole thread: root, the agent's mail, the customer's mail.
    second = await mail_server.api("POST", f"/api/v1/tickets/{ticket['id']}/replies", cookie,
                                   {"text": "Here is a new link."})
    mailed = (await sink.wait(1, **{"Message-ID": second.json()["entry"]["message_id"]}))[0]
    assert str(mailed.message["In-Reply-To"]) == mail["Message-ID"]
    assert str(mailed.message["References"]).split() == [
        str(confirmation.message["Message-ID"]), str(reply.message["Message-ID"]), mail["Message-ID"],
    ]


async def _with_entries(server: MailServer, cookie: str, ticket_id: str, count: int) -> Any:
    detail = await _entries(server, cookie, ticket_id)
    return detail if len(detail["entries"]) >= count else None


@pytest.mark.parametrize(
    ("sender", "to_mac", "reason"),
    [
        ("Mallory <mallory@example.com>", None, "unknown_sender"),
        ("Ann <ann@example.com>", "aaaaaaaaaaaaaaaaaaaa", "bad_token"),
    ],
)
async def test_forged_or_foreign_replies_are_quarantined(
    mail_server: MailServer, sink: Sink, clients: list[Client], sender: str, to_mac: str | None,
    reason: str,
) -> None:
    ticket = await _ticket(mail_server, clients)
    confirmation = await sink.to("ann@example.com")
    headers: dict[str, str] = {}
    if to_mac:
        headers["To"] = f"t.{ticket['id']}.{to_mac}@help.example"
        headers["In_Reply_To"] = "<unrelated@elsewhere.example>"
        headers["References"] = "<unrelated@elsewhere.example>"
    await _send_in(mail_server, _reply_to(confirmation, sender, "Please refund me to IBAN X", **headers))
    admin = await _admin_cookie(mail_server)
    held = await _wait_for(lambda: _quarantined(mail_server, admin))
    assert held[0]["reason"] == reason
    cookie = await login(mail_server, "anna@shop.example")
    entries = (await _entries(mail_server, cookie, ticket["id"]))["entries"]
    assert [e["text"] for e in entries] == ["Where is my parcel?"]  # only the form's question
    agent_view = await mail_server.api("GET", "/api/v1/quarantine", cookie)
    assert agent_view.status_code == 403  # quarantine is for admins


async def _admin_cookie(server: MailServer) -> str:
    await server.add_agent("root@shop.example", role="admin")
    return await login(server, "root@shop.example")


async def _quarantined(server: MailServer, cookie: str) -> Any:
    held = (await server.api("GET", "/api/v1/quarantine", cookie)).json()["quarantine"]
    return held or None


# Room for a mail with an attachment over the 10 MB kept, which the default 10 MiB cap refuses whole.
@pytest.mark.parametrize("mail_env", [{"CHATSERVER_MAIL_MAX_BYTES": str(20 << 20)}])
async def test_replies_by_http_with_attachments_and_a_secret(
    mail_server: MailServer, sink: Sink, clients: list[Client]
) -> None:
    ticket = await _ticket(mail_server, clients)
    confirmation = await sink.to("ann@example.com")
    mail = _reply_to(confirmation, "ann@example.com", "Photo of the damage attached.")
    mail.add_attachment(b"\x89PNG fake", maintype="image", subtype="png", filename="damage.png")
    mail.add_attachment(b"x" * (10 * 1024 * 1024 + 1), maintype="application",
                        subtype="octet-stream", filename="huge.bin")
    raw = signed(mail.as_bytes(), "example.com")

    wrong = await mail_server.api("POST", "/api/v1/inbound-mail", content=raw,
                                  headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["code"] == "unauthorized"
    answer = await mail_server.api("POST", "/api/v1/inbound-mail", content=raw,
                                   headers={"Authorization": f"Bearer {INBOUND_SECRET}"})
    assert answer.status_code == 200 and answer.json() == {"outcome": "appended", "ticket": ticket["id"]}

    cookie = await login(mail_server, "anna@shop.example")
    entry = (await _entries(mail_server, cookie, ticket["id"]))["entries"][-1]
    assert entry["text"].startswith("Photo of the damage attached.")
    assert "huge.bin" in entry["text"] and "not kept" in entry["text"]
    assert [a["filename"] for a in entry["attachments"]] == ["damage.png"]
    download = await mail_server.api("GET", f"/api/v1/attachments/{entry['attachments'][0]['id']}",
                                     cookie)
    assert download.content == b"\x89PNG fake"
    assert download.headers["content-type"] == "application/octet-stream"
    assert "attachment" in download.headers["content-disposition"]


async def test_a_new_sender_starts_a_ticket_only_where_the_site_allows_it(
    mail_server: MailServer, sink: Sink, clients: list[Client]
) -> None:
    ticket = await _ticket(mail_server, clients)
    confirmation = await sink.to("ann@example.com")
    mail = _reply_to(confirmation, "Colleague <col@example.com>", "I have the same problem.")
    secret = {"Authorization": f"Bearer {INBOUND_SECRET}"}
    held = await mail_server.api("POST", "/api/v1/inbound-mail", headers=secret,
                                 content=signed(mail.as_bytes(), "example.com"))
    assert held.status_code == 202 and held.json()["reason"] == "unknown_sender"

    cookie = await login(mail_server, "anna@shop.example")
    site_id = (await _entries(mail_server, cookie, ticket["id"]))["ticket"]["site"]
    store = Store(mail_server.store_url)
    try:
        site = await sites.by_id(store, site_id)
    finally:
        await store.close()
    assert site is not None
    await mail_server.set_site(site, tickets_from_new_senders=True)
    del mail["Message-ID"]
    mail["Message-ID"] = "<second-try@customer.example>"
    opened = await mail_server.api("POST", "/api/v1/inbound-mail", headers=secret,
                                   content=signed(mail.as_bytes(), "example.com"))
    assert opened.status_code == 200 and opened.json()["outcome"] == "opened"
    new = opened.json()["ticket"]
    assert new != ticket["id"]
    detail = await _entries(mail_server, cookie, new)
    assert detail["ticket"]["contact"]["email"] == "col@example.com"
    assert detail["ticket"]["source"] == "email"
    welcome = await sink.to("col@example.com")
    assert str(welcome.message["In-Reply-To"]) == "<second-try@customer.example>"


async def test_admins_open_held_mail_as_a_ticket_or_delete_it(
    mail_server: MailServer, sink: Sink, clients: list[Client]
) -> None:
    ticket = await _ticket(mail_server, clients)
    confirmation = await sink.to("ann@example.com")
    stranger = _reply_to(confirmation, "Mallory <mallory@example.com>", "I am her colleague.")
    stranger.add_attachment(b"%PDF order", maintype="application", subtype="pdf", filename="order.pdf")
    await _send_in(mail_server, stranger)
    lost = EmailMessage()
    lost["From"], lost["To"] = "bob@example.com", "hello@help.example"
    lost["Subject"], lost["Message-ID"] = "<script>alert(1)</script>", "<lost-1@example.com>"
    lost.set_content("Is anyone there?")
    await _send_in(mail_server, lost)
    admin = await _admin_cookie(mail_server)
    held = await _wait_for(lambda: _held_count(mail_server, admin, 2))
    by_reason = {h["reason"]: h["id"] for h in held}

    async with httpx.AsyncClient(base_url=mail_server.http, timeout=10) as console:
        page = await console.get("/console/signin")
        await console.post("/console/signin", data={
            "csrf": _csrf(page.text), "email": "root@shop.example", "password": PASSWORD,
            "next": "/console"})
        page = await console.get("/console/admin/held")
        assert page.status_code == 200 and "mallory@example.com" in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and "<script>alert" not in page.text
        assert "sender is not the customer or an agent" in page.text

        # Mail that answers no ticket has no site to become a ticket in: said, and kept.
        refused = await console.post(f"/console/admin/held/{by_reason['no_ticket']}/release",
                                     data={"csrf": _csrf(page.text)})
        assert refused.status_code == 409 and "answers no ticket" in refused.text
        assert "bob@example.com" in refused.text

        released = await console.post(f"/console/admin/held/{by_reason['unknown_sender']}/release",
                                      data={"csrf": _csrf(page.text)})
        assert released.status_code == 303
        opened = released.headers["location"].split("#", 1)[1]
        again = await console.post(f"/console/admin/held/{by_reason['unknown_sender']}/release",
                                   data={"csrf": _csrf(page.text)})
        assert again.headers["location"] == "/console/admin/held"  # a double click: one ticket
        deleted = await console.post(f"/console/admin/held/{by_reason['no_ticket']}/delete",
                                     data={"csrf": _csrf(page.text)})
        assert deleted.status_code == 303
        assert "No mail is held." in (await console.get("/console/admin/held")).text

    # The stranger's mail is a ticket of the stranger, attachment and all; Ann's is untouched.
    agent = await login(mail_server, "anna@shop.example")
    detail = await _entries(mail_server, agent, opened)
    assert detail["ticket"]["contact"]["email"] == "mallory@example.com"
    [entry] = detail["entries"]
    assert entry["text"] == "I am her colleague."
    assert [a["filename"] for a in entry["attachments"]] == ["order.pdf"]
    mine = (await mail_server.api("GET", "/api/v1/tickets", agent)).json()["tickets"]
    assert sorted(t["id"] for t in mine) == sorted([ticket["id"], opened])
    assert [e["text"] for e in (await _entries(mail_server, agent, ticket["id"]))["entries"]] == [
        "Where is my parcel?"]


async def _held_count(server: MailServer, cookie: str, count: int) -> Any:
    held = (await server.api("GET", "/api/v1/quarantine", cookie)).json()["quarantine"]
    return held if len(held) >= count else None


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has no CSRF field"
    return found.group(1)
