"""Tickets: the pure rules, then chats handed over to email through the real server and SMTP."""

from __future__ import annotations

import asyncio

import pytest
from mail_fixtures import MAIL_DOMAIN, MailServer, Sink

from chatserver.tickets import rules
from chatserver.tickets.rules import Source, Status
from conftest import Chat, Client, agent, login, visitor

# Rules -------------------------------------------------------------------------------------


def test_status_machine_allows_only_listed_moves() -> None:
    assert Status.OPEN in rules.TRANSITIONS[Status.SOLVED]  # a customer's reply reopens
    assert rules.TRANSITIONS[Status.CLOSED] == frozenset()
    assert Status.NEW not in rules.sources(Status.NEW)  # nothing goes back to new
    assert rules.sources(Status.SOLVED) == {Status.NEW, Status.OPEN, Status.PENDING}


def test_when_a_chat_becomes_a_ticket() -> None:
    assert rules.source_for_leave_email(None, agents_online=False) is Source.OFFLINE_FORM
    assert rules.source_for_leave_email("queued", agents_online=False) is Source.OFFLINE_FORM
    assert rules.source_for_leave_email("queued", agents_online=True) is Source.WAITED
    assert rules.chat_closes_on_leave_email("queued")
    assert not rules.chat_closes_on_leave_email("assigned")  # the agent is still there
    due = {"now": 10_000, "grace_ms": 5_000, "chat_status": "queued", "last_author": "visitor",
           "last_at": 5_000, "email": "ann@example.com", "has_ticket": False}
    assert rules.left_unanswered(**due)  # type: ignore[arg-type]
    for change in ({"last_at": 5_001}, {"last_author": "agent"}, {"email": None},
                   {"has_ticket": True}, {"chat_status": "closed"}):
        assert not rules.left_unanswered(**{**due, **change})  # type: ignore[arg-type]


def test_replies_move_the_status() -> None:
    assert rules.after_customer_reply(Status.SOLVED) is Status.OPEN
    assert rules.after_customer_reply(Status.PENDING) is Status.OPEN
    assert rules.after_customer_reply(Status.NEW) is Status.NEW
    assert rules.after_customer_reply(Status.CLOSED) is None  # a follow-up ticket instead
    assert rules.after_agent_reply(Status.NEW, None) is Status.OPEN
    assert rules.after_agent_reply(Status.OPEN, Status.PENDING) is Status.PENDING


def test_subject_and_tags() -> None:
    assert rules.subject_from("\n  Where is my order?\nIt was due Monday") == "Where is my order?"
    assert rules.subject_from("x" * 300).endswith("...") and len(rules.subject_from("x" * 300)) == 80
    assert "\r" not in rules.subject_from("Hi\rBcc: evil@example.com")
    assert rules.check_tags(["VIP", "vip", "refund-2"]) == ["vip", "refund-2"]
    with pytest.raises(ValueError):
        rules.check_tags(["two words"])


# Through the real server ---------------------------------------------------------------------


async def test_offline_form_opens_a_ticket_and_mails_the_transcript(
    mail_server: MailServer, sink: Sink, clients: list[Client]
) -> None:
    site = await mail_server.add_site()
    await mail_server.set_site(site, support_email="support@shop.example", locale="en")
    guest = await visitor(mail_server, site)
    clients.append(guest)
    await guest.send(type="start", client_id="q1", text="Where is my parcel?\nOrdered Monday.")
    ack = await guest.expect("ack", ref="q1")
    await guest.send(type="leave_email", conversation=ack["conversation"],
                     email="Ann@Example.com", name="Ann de Vries")
    ticket = (await guest.expect("ticket"))["ticket"]
    assert ticket["conversation"] == ack["conversation"] and ticket["status"] == "new"
    assert ticket["subject"] == "Where is my parcel?" and ticket["email"] == "ann@example.com"
    await guest.expect("conversation", conversation=Chat(ack["conversation"], "closed"))

    confirmation = await sink.to("ann@example.com")
    message = confirmation.message
    assert str(message["Subject"]) == "[Shop] Where is my parcel?"
    assert "Ann de Vries" in str(message["To"])
    reply_to = str(message["Reply-To"])
    assert f"t.{ticket['id']}." in reply_to and reply_to.endswith(f"@{MAIL_DOMAIN}>")
    assert "Where is my parcel?" in confirmation.text and "Ordered Monday." in confirmation.text
    assert "Where is my parcel?" in confirmation.html
    assert message["Message-ID"] and not message["In-Reply-To"]
    notice = await sink.to("support@shop.example")
    assert "New ticket" in str(notice.message["Subject"])
    assert str(notice.message["References"]) == str(message["Message-ID"])


async def test_offline_form_without_chat_is_one_ticket_per_client_id(
    mail_server: MailServer, sink: Sink, clients: list[Client]
) -> None:
    site = await mail_server.add_site()
    guest = await visitor(mail_server, site)
    clients.append(guest)
    form = {"type": "leave_email", "email": "bob@example.com", "text": "Do you ship to Belgium?",
            "client_id": "form-1"}
    await guest.send(**form)
    first = (await guest.expect("ticket"))["ticket"]
    await guest.send(**form)
    again = (await guest.expect("ticket"))["ticket"]
    assert again["id"] == first["id"]
    await sink.to("bob@example.com")
    await asyncio.sleep(1.5)
    assert len([r for r in sink.received if "bob@example.com" in r.rcpt_tos]) == 1


HEADER_TRICKS = [
    ("email", "ann@example.com\r\nBcc: everyone@example.com"),
    ("email", "ann@example.com, everyone@example.com"),
    ("email", '"ann"@example.com'),
    ("email", "Ann <ann@example.com>"),
    ("name", "Ann\r\nBcc: everyone@example.com"),
    ("name", "Ann\nSubject: free money"),
    ("name", "Ann\u2028Bcc: x@example.com"),
]


async def test_header_tricks_in_names_and_addresses_are_refused(
    mail_server: MailServer, sink: Sink, clients: list[Client]
) -> None:
    site = await mail_server.add_site()
    guest = await visitor(mail_server, site)
    clients.append(guest)
    for number, (field, value) in enumerate(HEADER_TRICKS):
        frame = {"type": "leave_email", "email": "ann@example.com", "text": "Hello",
                 "client_id": f"f{number}", field: value}
        await guest.send(**frame)
        error = await guest.expect("error", ref=f"f{number}")
        assert error["code"] == "invalid_message" and field in error["message"], value
    await guest.quiet("ticket", 0.5)
    assert sink.received == []


async def test_agent_converts_replies_and_threads_the_mails(
    mail_server: MailServer, sink: Sink, clients: list[Client]
) -> None:
    site = await mail_server.add_site()
    await mail_server.add_agent("anna@shop.example", site)
    desk = await agent(mail_server, "anna@shop.example")
    guest = await visitor(mail_server, site)
    clients += [desk, guest]
    await guest.send(type="start", client_id="q1", text="My invoice is wrong")
    chat = (await guest.expect("ack", ref="q1"))["conversation"]
    await guest.send(type="escalate", conversation=chat)
    await desk.expect("conversation", conversation=Chat(chat, "assigned"), timeout=10)
    contact = await _contact(desk, chat)
    await mail_server.set_contact(contact, email="carl@example.com", name="Carl")

    await desk.send(type="convert", conversation=chat, subject="Invoice 2291 is wrong")
    ticket = (await desk.expect("ticket"))["ticket"]
    assert ticket["assignee"]["name"] == "anna" and ticket["subject"] == "Invoice 2291 is wrong"
    assert ticket["source"] == "agent"
    await desk.expect("conversation", conversation=Chat(chat, "closed"))
    confirmation = await sink.to("carl@example.com")
    root = str(confirmation.message["Message-ID"])

    cookie = await login(mail_server, "anna@shop.example")
    answer = await mail_server.api("POST", f"/api/v1/tickets/{ticket['id']}/replies", cookie,
                                   {"text": "Sorry! A corrected invoice is attached.",
                                    "client_id": "r1", "status": "pending"})
    assert answer.status_code == 201, answer.text
    again = await mail_server.api("POST", f"/api/v1/tickets/{ticket['id']}/replies", cookie,
                                  {"text": "Sorry! A corrected invoice is attached.", "client_id": "r1"})
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert answer.json()["ticket"]["status"] == "pending"
    reply = (await sink.wait(1, **{"Message-ID": answer.json()["entry"]["message_id"]}))[0]
    assert str(reply.message["In-Reply-To"]) == root
    assert str(reply.message["References"]) == root
    assert str(reply.message["Subject"]) == "Re: [Shop] Invoice 2291 is wrong"
    assert "anna" in str(reply.message["From"]) and "corrected invoice" in reply.text

    note = await mail_server.api("POST", f"/api/v1/tickets/{ticket['id']}/notes", cookie,
                                 {"text": "Customer is VIP"})
    assert note.status_code == 201
    for n in range(6):  # back to back, often within one millisecond: still in order
        await mail_server.api("POST", f"/api/v1/tickets/{ticket['id']}/notes", cookie, {"text": f"n{n}"})
    detail = (await mail_server.api("GET", f"/api/v1/tickets/{ticket['id']}", cookie)).json()
    assert [e["kind"] for e in detail["entries"]] == ["agent"] + ["note"] * 7
    assert [e["text"] for e in detail["entries"][2:]] == [f"n{n}" for n in range(6)]
    assert detail["transcript"][0]["text"] == "My invoice is wrong"
    # The chat and the ticket it became: both came by the widget's chat.
    assert {(item["kind"], item["channel"]) for item in detail["history"]} == {
        ("chat", "chat"), ("ticket", "chat")}
    assert detail["ticket"]["channel"] == "chat"
    await asyncio.sleep(1.2)
    assert len(sink.received) == 2  # the confirmation and the one reply: no note, no duplicate


async def _contact(desk: Client, chat: str) -> str:
    for frame in desk.seen:
        body = frame.get("conversation")
        if frame.get("type") == "conversation" and isinstance(body, dict) and body["id"] == chat:
            return str(body["contact"]["id"])
    raise AssertionError("no conversation event")


async def test_ticket_api_filters_changes_and_keeps_sites_apart(
    mail_server: MailServer, sink: Sink, clients: list[Client]
) -> None:
    shop, other = await mail_server.add_site("Shop"), await mail_server.add_site("Other")
    await mail_server.add_agent("anna@shop.example", shop)
    await mail_server.add_agent("otto@other.example", other)
    guest = await visitor(mail_server, shop)
    clients.append(guest)
    await guest.send(type="leave_email", email="dee@example.com", text="Refund please", client_id="f")
    ticket = (await guest.expect("ticket"))["ticket"]
    anna = await login(mail_server, "anna@shop.example")
    otto = await login(mail_server, "otto@other.example")

    listed = (await mail_server.api("GET", "/api/v1/tickets?status=new", anna)).json()["tickets"]
    assert [t["id"] for t in listed] == [ticket["id"]]
    assert (await mail_server.api("GET", "/api/v1/tickets", otto)).json()["tickets"] == []
    for method, path, body in [
        ("GET", f"/api/v1/tickets/{ticket['id']}", None),
        ("PATCH", f"/api/v1/tickets/{ticket['id']}", {"status": "solved"}),
        ("POST", f"/api/v1/tickets/{ticket['id']}/replies", {"text": "hi"}),
        ("POST", f"/api/v1/tickets/{ticket['id']}/notes", {"text": "hi"}),
    ]:
        refused = await mail_server.api(method, path, otto, body)
        assert refused.status_code == 404 and refused.json()["code"] == "not_found", path
        assert (await mail_server.api(method, path, None, body)).status_code == 401
    forged = await mail_server.api("PATCH", f"/api/v1/tickets/{ticket['id']}", anna,
                                   {"status": "solved"}, headers={"Origin": "https://evil.example"})
    assert forged.status_code == 403

    changed = await mail_server.api("PATCH", f"/api/v1/tickets/{ticket['id']}", anna,
                                    {"status": "solved", "priority": "high", "tags": ["Refund"]})
    assert changed.status_code == 200, changed.text
    assert changed.json()["ticket"] | {} == {**changed.json()["ticket"], "status": "solved",
                                             "priority": "high", "tags": ["refund"]}
    by_tag = (await mail_server.api("GET", "/api/v1/tickets?tag=refund&status=solved", anna)).json()
    assert len(by_tag["tickets"]) == 1
    for bad in ({"status": "new"}, {"status": "asleep"}, {"priority": "meh"}, {"tags": "x"}):
        answer = await mail_server.api("PATCH", f"/api/v1/tickets/{ticket['id']}", anna, bad)
        assert answer.status_code == 400 and answer.json()["code"] == "invalid_message", bad
    closed = await mail_server.api("PATCH", f"/api/v1/tickets/{ticket['id']}", anna, {"status": "closed"})
    assert closed.status_code == 200
    reopen = await mail_server.api("PATCH", f"/api/v1/tickets/{ticket['id']}", anna, {"status": "open"})
    assert reopen.status_code == 409 and reopen.json()["code"] == "conflict"


async def test_silent_visitor_with_an_address_gets_a_ticket_after_the_grace_period(
    data_dir: object, database_env: dict[str, str], sink: Sink, clients: list[Client]
) -> None:
    from pathlib import Path

    server = MailServer(Path(str(data_dir)), sink,
                        {**database_env, "CHATSERVER_TICKET_GRACE_SECONDS": "1"})
    server.start()
    try:
        site = await server.add_site()
        guest = await visitor(server, site)
        clients.append(guest)
        await guest.send(type="start", client_id="q1", text="Is the blue one in stock?")
        chat = (await guest.expect("ack", ref="q1"))["conversation"]
        welcome = [f for f in guest.seen if f.get("type") == "welcome"]
        contact = welcome[0]["you"]["id"] if welcome else None
        assert contact
        await server.set_contact(contact, email="eve@example.com")
        ticket = (await guest.expect("ticket", timeout=8))["ticket"]
        assert ticket["conversation"] == chat
        mail = await sink.to("eve@example.com")
        assert "Is the blue one in stock?" in mail.text
    finally:
        server.stop()
