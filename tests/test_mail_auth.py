"""Inbound mail proves its sender: SPF, DKIM and DMARC decide whether a mail is appended as the
customer, against a DNS server the test runs on loopback and a DKIM key pair the test makes;
the SMTP listener bounds size, recipients and what one address may send; the quarantine is
capped, oldest first."""

from __future__ import annotations

import asyncio
import re
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import httpx
import pytest
from dns_zone import Zone, publish_key, signed
from mail_fixtures import MailServer, Received, Sink

from chatserver.mail.authentication import Evidence, Signature, decide
from conftest import PASSWORD, Client, login, visitor

CUSTOMER = "ann@example.com"


async def _ticket(server: MailServer, sink: Sink, clients: list[Client]) -> tuple[str, Received]:
    """Return a ticket of Ann's (from the offline form) and the confirmation she was mailed."""
    site = await server.add_site()
    await server.add_agent("anna@shop.example", site)
    guest = await visitor(server, site)
    clients.append(guest)
    await guest.send(type="leave_email", email=CUSTOMER, name="Ann", text="Where is my parcel?",
                     client_id="form")
    ticket: dict[str, Any] = (await guest.expect("ticket"))["ticket"]
    return ticket["id"], await sink.to(CUSTOMER)


def _reply(confirmation: Received, text: str, sender: str = f"Ann <{CUSTOMER}>") -> bytes:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = str(confirmation.message["Reply-To"])
    mail["Subject"] = "Re: " + str(confirmation.message["Subject"])
    mail["Message-ID"] = f"<{abs(hash(text))}@example.com>"
    mail["In-Reply-To"] = str(confirmation.message["Message-ID"])
    mail.set_content(text)
    return mail.as_bytes().replace(b"\n", b"\r\n")


async def _send(server: MailServer, raw: bytes, to: str, sender: str = CUSTOMER) -> None:
    await aiosmtplib.send(raw, sender=sender, recipients=[to], hostname="127.0.0.1",
                          port=server.smtp_port, timeout=10)


def _to(confirmation: Received) -> str:
    return str(confirmation.message["Reply-To"])


async def _texts(server: MailServer, ticket_id: str) -> list[str]:
    cookie = await login(server, "anna@shop.example")
    detail = (await server.api("GET", f"/api/v1/tickets/{ticket_id}", cookie)).json()
    return [entry["text"] for entry in detail["entries"]]


async def _held(server: MailServer, count: int) -> list[dict[str, Any]]:
    """Return the held mail, newest first, once at least count are held."""
    await server.add_agent("root@shop.example", role="admin")
    cookie = await login(server, "root@shop.example")
    for _ in range(100):
        held: list[dict[str, Any]] = (await server.api("GET", "/api/v1/quarantine", cookie)).json()[
            "quarantine"]
        if len(held) >= count:
            return held
        await asyncio.sleep(0.1)
    raise AssertionError(f"{count} held mails expected, {len(held)} held")


async def _appended(server: MailServer, ticket_id: str, count: int) -> list[str]:
    for _ in range(100):
        texts = await _texts(server, ticket_id)
        if len(texts) >= count:
            return texts
        await asyncio.sleep(0.1)
    raise AssertionError(f"{count} entries expected: {texts}")


async def test_a_signed_reply_is_appended_and_one_altered_after_signing_is_held(
    mail_server: MailServer, sink: Sink, clients: list[Client]
) -> None:
    ticket_id, confirmation = await _ticket(mail_server, sink, clients)
    await _send(mail_server, signed(_reply(confirmation, "It arrived today."), "example.com"),
                _to(confirmation))
    assert await _appended(mail_server, ticket_id, 2) == ["Where is my parcel?", "It arrived today."]

    tampered = signed(_reply(confirmation, "Refund me to IBAN NL01 BANK 0001."), "example.com")
    tampered = tampered.replace(b"NL01 BANK 0001", b"NL99 EVIL 0666")
    await _send(mail_server, tampered, _to(confirmation))
    [held] = await _held(mail_server, 1)
    assert held["reason"] == "unauthenticated" and held["sender"] == CUSTOMER
    assert "DKIM signature did not verify" in held["detail"]
    assert await _texts(mail_server, ticket_id) == ["Where is my parcel?", "It arrived today."]


async def test_spf_decides_by_the_connecting_address(
    mail_server: MailServer, sink: Sink, zone: Zone, clients: list[Client]
) -> None:
    ticket_id, confirmation = await _ticket(mail_server, sink, clients)
    zone.txt("example.com", "v=spf1 ip4:127.0.0.1 -all")
    await _send(mail_server, _reply(confirmation, "Sent from an allowed server."), _to(confirmation))
    assert (await _appended(mail_server, ticket_id, 2))[-1] == "Sent from an allowed server."

    zone.txt("example.com", "v=spf1 ip4:192.0.2.10 -all")
    await _send(mail_server, _reply(confirmation, "Sent from elsewhere."), _to(confirmation))
    [held] = await _held(mail_server, 1)
    assert held["reason"] == "unauthenticated"
    assert "SPF fail" in held["detail"] and "127.0.0.1" in held["detail"]
    assert len(await _texts(mail_server, ticket_id)) == 2


async def test_a_forged_from_with_no_proof_is_held_and_the_ticket_unchanged(
    mail_server: MailServer, sink: Sink, zone: Zone, clients: list[Client]
) -> None:
    ticket_id, confirmation = await _ticket(mail_server, sink, clients)
    # No SPF record and no signature: anyone could have written this From line.
    await _send(mail_server, _reply(confirmation, "Change my address to 1 Fake St."), _to(confirmation))
    # A valid signature, but by the forger's own domain, not the customer's.
    publish_key(zone, "forger.example")
    await _send(mail_server, signed(_reply(confirmation, "Ship it to 2 Fake St."), "forger.example"),
                _to(confirmation), sender="bounce@forger.example")
    held = await _held(mail_server, 2)
    assert {h["reason"] for h in held} == {"unauthenticated"}
    details = " | ".join(h["detail"] for h in held)
    assert "nothing proves example.com sent it" in details
    assert "signed by forger.example, not example.com" in details
    assert await _texts(mail_server, ticket_id) == ["Where is my parcel?"]

    # What the site owner reads on the held-mail page.
    async with httpx.AsyncClient(base_url=mail_server.http, timeout=10) as console:
        page = await console.get("/console/signin")
        await console.post("/console/signin", data={
            "csrf": _csrf(page.text), "email": "root@shop.example", "password": PASSWORD,
            "next": "/console"})
        page = await console.get("/console/admin/held")
    assert "sender not proven by SPF, DKIM or DMARC" in page.text
    assert "signed by forger.example, not example.com" in page.text


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has no CSRF field"
    return found.group(1)


@pytest.mark.parametrize("mail_env", [{"CHATSERVER_MAIL_MAX_BYTES": "100000",
                                       "CHATSERVER_MAIL_MAX_RECIPIENTS": "2"}])
async def test_the_listener_refuses_big_mail_many_recipients_and_foreign_domains(
    mail_server: MailServer,
) -> None:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=mail_server.smtp_port, timeout=10)
    await client.connect()
    try:
        await client.mail(CUSTOMER)
        with pytest.raises(aiosmtplib.SMTPRecipientRefused) as foreign:
            await client.rcpt("postmaster@elsewhere.example")
        assert foreign.value.code == 550 and "help.example" in foreign.value.message
        await client.rcpt("one@help.example")
        await client.rcpt("two@HELP.example")
        with pytest.raises(aiosmtplib.SMTPRecipientRefused) as third:
            await client.rcpt("three@help.example")
        assert third.value.code == 452 and "2 recipients" in third.value.message

        await client.rset()
        await client.mail(CUSTOMER)
        await client.rcpt("one@help.example")
        big = b"Subject: big\r\n\r\n" + b"x" * 78 + b"\r\n"
        with pytest.raises(aiosmtplib.SMTPDataError) as too_big:
            await client.data(big * 2000)
        assert too_big.value.code == 552
    finally:
        client.close()
    held = await _held(mail_server, 0)
    assert held == []  # nothing refused reached the quarantine


@pytest.mark.parametrize("mail_env", [{"CHATSERVER_MAIL_CONNECTIONS_PER_IP": "2",
                                       "CHATSERVER_MAIL_MESSAGES_PER_IP_MINUTE": "3"}])
async def test_one_address_cannot_flood_the_listener(mail_server: MailServer) -> None:
    open_ = [aiosmtplib.SMTP(hostname="127.0.0.1", port=mail_server.smtp_port, timeout=10)
             for _ in range(2)]
    for client in open_:
        await client.connect()
    # A plain socket: the greeting is the refusal, and the server hangs up right after it.
    reader, writer = await asyncio.open_connection("127.0.0.1", mail_server.smtp_port)
    greeting = await asyncio.wait_for(reader.read(1000), 10)
    assert greeting.startswith(b"421 ") and b"too many connections" in greeting
    assert await reader.read() == b""
    writer.close()
    for client in open_:
        await client.quit()
    await asyncio.sleep(0.2)  # the server counts a connection gone once its socket is closed

    lost = b"From: bob@example.com\r\nSubject: hello\r\n\r\nAnyone there?\r\n"
    for _ in range(3):
        await _send(mail_server, lost, "hello@help.example", sender="bob@example.com")
    with pytest.raises(aiosmtplib.SMTPSenderRefused) as flood:
        await _send(mail_server, lost, "hello@help.example", sender="bob@example.com")
    assert flood.value.code == 451 and "too many messages" in flood.value.message
    assert len(await _held(mail_server, 3)) == 3


@pytest.mark.parametrize("mail_env", [{"CHATSERVER_MAIL_QUARANTINE_CAP": "3"}])
async def test_the_quarantine_keeps_the_newest_mail_up_to_its_cap(mail_server: MailServer) -> None:
    for number in range(1, 6):
        lost = f"From: bob@example.com\r\nSubject: lost {number}\r\n\r\nHello?\r\n".encode()
        await _send(mail_server, lost, "hello@help.example", sender="bob@example.com")
        await asyncio.sleep(0.01)  # one received_at each, so "oldest" is plain
    held = await _held(mail_server, 3)
    assert [h["subject"] for h in held] == ["lost 5", "lost 4", "lost 3"]
    log = mail_server.log.read_text()
    assert log.count("event=mail_quarantine_full") == 2


# The decision alone, without I/O -------------------------------------------------------------


def _evidence(**kw: Any) -> Evidence:
    return Evidence(**{"from_domain": "example.com", **kw})


def test_an_aligned_dkim_signature_proves_a_domain_without_dmarc() -> None:
    verdict = decide(_evidence(signatures=(Signature("example.com", "pass"),)))
    assert verdict.passed and (verdict.dkim, verdict.dmarc) == ("pass", "none")
    # Relaxed alignment: the organisation's domain signs for its subdomain, and back.
    assert decide(_evidence(from_domain="mail.example.co.uk",
                            signatures=(Signature("example.co.uk", "pass"),))).passed
    assert decide(_evidence(signatures=(Signature("news.example.com", "pass"),))).passed
    # ...but co.uk is a public suffix: another registrant's domain there proves nothing.
    assert not decide(_evidence(from_domain="mine.co.uk",
                                signatures=(Signature("theirs.co.uk", "pass"),))).passed


def test_an_spf_pass_counts_only_for_the_from_domain() -> None:
    assert decide(_evidence(spf="pass", spf_domain="example.com")).passed
    verdict = decide(_evidence(spf="pass", spf_domain="bulk-mailer.example"))
    assert not verdict.passed
    assert verdict.reason == "SPF passed for bulk-mailer.example, not example.com"


def test_failures_name_their_cause() -> None:
    assert decide(_evidence(signatures=(Signature("example.com", "fail"),))).reason == (
        "DKIM signature did not verify")
    assert decide(_evidence(spf="fail", spf_domain="example.com", spf_ip="192.0.2.7")).reason == (
        "SPF fail: 192.0.2.7 may not send mail for example.com")
    assert decide(_evidence(signatures=(Signature("other.example", "pass"),))).reason == (
        "signed by other.example, not example.com")
    assert decide(_evidence()).reason == "nothing proves example.com sent it (no SPF pass, no DKIM)"
    assert decide(_evidence(from_domain="", spf="pass", spf_domain="example.com")).reason == (
        "the From line names no domain")
    assert "DNS" in decide(_evidence(spf="temperror", spf_domain="example.com")).reason
    # One good signature is enough, whatever else failed.
    assert decide(_evidence(spf="fail", spf_domain="example.com", signatures=(
        Signature("example.com", "fail"), Signature("example.com", "pass")))).passed


def test_a_published_dmarc_policy_sets_the_alignment() -> None:
    strict = "v=DMARC1; p=reject; adkim=s; aspf=s"
    sub = _evidence(from_domain="news.example.com", dmarc_record=strict,
                    signatures=(Signature("example.com", "pass"),))
    verdict = decide(sub)
    assert not verdict.passed and verdict.dmarc == "fail"
    assert "DMARC" in verdict.reason and "reject" in verdict.reason
    exact = decide(_evidence(dmarc_record=strict, signatures=(Signature("example.com", "pass"),)))
    assert exact.passed and exact.dmarc == "pass"
    # A record that is not DMARC is no record (RFC 7489 6.6.3): the defaults apply.
    assert decide(_evidence(dmarc_record="v=spf1 -all", spf="pass", spf_domain="example.com")).passed
