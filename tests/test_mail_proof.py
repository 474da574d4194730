"""Mail only where it is wanted (issue 15): an address proven by a one-time code, or vouched
for by the site, or once per chat; per-recipient caps. The real server and a real SMTP sink."""

from __future__ import annotations

from mail_fixtures import MailServer, Sink, code_in

from chatserver.limits import rules
from conftest import Client, visitor


async def _chat(server: MailServer, clients: list[Client]) -> tuple[Client, str]:
    site = await server.add_site("Acme")
    await server.set_site(site, locale="en")
    guest = await visitor(server, site)
    clients.append(guest)
    await guest.send(type="start", client_id="q", text="Where is my parcel 4411?")
    return guest, (await guest.expect("ack", ref="q"))["conversation"]


async def test_a_code_proves_an_address_in_five_tries_at_most(
    mail_server: MailServer, sink: Sink, clients: list[Client]
) -> None:
    guest, chat = await _chat(mail_server, clients)
    await guest.send(type="verify_email", email="kim@example.com", client_id="v")
    assert await guest.expect("email_proof", email="kim@example.com") == {
        "type": "email_proof", "email": "kim@example.com", "proven": False}
    mail = await sink.to("kim@example.com")
    code = code_in(mail)
    assert "Your code for Acme" in str(mail.message["Subject"]) and "10 minutes" in mail.text
    wrong = "000000" if code != "000000" else "111111"
    await guest.send(type="confirm_email", email="kim@example.com", code=wrong, client_id="c1")
    refused = await guest.expect("error", ref="c1")
    assert refused["code"] == "wrong_code" and "4 tries left" in refused["message"]
    await guest.send(type="confirm_email", email="kim@example.com", code="12345", client_id="c2")
    assert (await guest.expect("error", ref="c2"))["code"] == "invalid_message"  # not six digits
    await guest.send(type="confirm_email", email="kim@example.com", code=code, client_id="c3")
    assert (await guest.expect("email_proof", email="kim@example.com"))["proven"] is True
    # Proven: a second and a third transcript address take no more proof than this.
    await guest.send(type="transcript", conversation=chat, email="first@example.com")
    assert (await guest.expect("transcript"))["duplicate"] is False
    await guest.send(type="transcript", conversation=chat, email="kim@example.com")
    assert (await guest.expect("transcript"))["email"] == "kim@example.com"
    # Asking to prove it again mails nothing.
    await guest.send(type="verify_email", email="kim@example.com")
    assert (await guest.expect("email_proof", email="kim@example.com"))["proven"] is True


async def test_a_guessed_code_is_spent_after_five_tries(
    mail_server: MailServer, sink: Sink, clients: list[Client]
) -> None:
    guest, _ = await _chat(mail_server, clients)
    await guest.send(type="verify_email", email="kim@example.com")
    await guest.expect("email_proof")
    code = code_in(await sink.to("kim@example.com"))
    guesses = [f"{n:06d}" for n in range(10) if f"{n:06d}" != code][:5]
    for n, guess in enumerate(guesses):
        await guest.send(type="confirm_email", email="kim@example.com", code=guess, client_id=f"g{n}")
        assert (await guest.expect("error", ref=f"g{n}"))["code"] == "wrong_code"
    await guest.send(type="confirm_email", email="kim@example.com", code=code, client_id="right")
    spent = await guest.expect("error", ref="right")
    assert spent["code"] == "wrong_code" and "ask for a new one" in spent["message"]


async def test_the_sites_vouched_address_needs_no_code(
    mail_server: MailServer, sink: Sink, clients: list[Client]
) -> None:
    guest, chat = await _chat(mail_server, clients)
    contact = next(f for f in guest.seen if f["type"] == "welcome")["you"]["id"]
    # What a signed identity leaves on the contact (api.py, customers.identified).
    await mail_server.set_contact(contact, external_id="user-1", email="me@example.com")
    await guest.send(type="transcript", conversation=chat, email="first@example.com")
    await guest.expect("transcript")
    await guest.send(type="transcript", conversation=chat, email="me@example.com")
    assert (await guest.expect("transcript"))["email"] == "me@example.com"
    await guest.send(type="transcript", conversation=chat, email="other@example.com")
    assert (await guest.expect("error", ref=chat))["code"] == "unproven_address"
    await sink.wait(2)


async def test_one_recipient_gets_a_few_mails_an_hour_and_the_rest_is_refused_plainly(
    mail_server: MailServer, sink: Sink, clients: list[Client]
) -> None:
    site = await mail_server.add_site("Acme")
    cap = rules.DEFAULTS["mail"]["recipient"].count
    answers = []
    for n in range(cap + 1):
        guest = await visitor(mail_server, site)  # a fresh visitor each time, as a script would
        clients.append(guest)
        await guest.send(type="leave_email", email="victim@example.com", text=f"hello {n}", client_id="f")
        answers.append(await guest.expect_any())
        while answers[-1]["type"] not in ("ticket", "error"):
            answers[-1] = await guest.expect_any()
    assert [a["type"] for a in answers] == ["ticket"] * cap + ["error"]
    assert answers[-1]["code"] == "rate_limited" and "too many mails" in answers[-1]["message"]
    await sink.wait(cap)
    assert len([r for r in sink.received if "victim@example.com" in r.rcpt_tos]) == cap
