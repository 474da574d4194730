"""The web contact form (chatserver/contact_form.py) over real HTTP: a ticket, its mail and
its thread; the honeypot, the limits, the origins; errors in the visitor's language.

The per-address limit counts every post from 127.0.0.1 in one server process, so each test
that posts more than a few times has a server of its own.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from mail_fixtures import MailServer, Sink
from test_mail_smtp import _reply_to, _send_in, _wait_for

from chatserver import contact_form
from chatserver.sites import Site
from conftest import login

SHOP = "https://shop.example"


async def _setup(server: MailServer) -> tuple[Site, str]:
    site = await server.add_site("Shop", [SHOP])
    await server.add_agent("anna@shop.example", site)
    return site, await login(server, "anna@shop.example")


async def _post(server: MailServer, site: Site, fields: dict[str, str], origin: str | None = SHOP,
                **headers: str) -> httpx.Response:
    sent = {"Origin": origin, **headers} if origin else headers
    async with httpx.AsyncClient(base_url=server.http) as http:
        return await http.post(f"/form/{site.public_key}", data=fields, headers=sent)


async def _tickets(server: MailServer, cookie: str) -> list[dict[str, Any]]:
    answer = await server.api("GET", "/api/v1/tickets", cookie)
    found: list[dict[str, Any]] = answer.json()["tickets"]
    return found


QUESTION = {"name": "Kim de Vries", "email": "Kim@Example.com", "subject": "Order 1234",
            "message": "My order has not arrived yet.", "website": ""}


async def test_a_posted_form_is_a_ticket_whose_mail_threads_replies_back(
    mail_server: MailServer, sink: Sink
) -> None:
    site, cookie = await _setup(mail_server)
    async with httpx.AsyncClient(base_url=mail_server.http) as http:
        page = await http.get(f"/form/{site.public_key}")
    assert page.status_code == 200 and 'name="website"' in page.text and "Contact us" in page.text
    policy = page.headers["content-security-policy"]
    # Framed by the site's pages and ours only; no script at all.
    assert f"frame-ancestors 'self' {SHOP};" in policy and "script-src" not in policy
    assert "default-src 'none'" in policy

    answer = await _post(mail_server, site, QUESTION)
    assert answer.status_code == 200, answer.text
    assert "We received your message and will answer by email to kim@example.com" in answer.text
    # Sent twice (a double click): one ticket.
    assert (await _post(mail_server, site, QUESTION)).status_code == 200
    [ticket] = await _tickets(mail_server, cookie)
    assert (ticket["channel"], ticket["source"], ticket["subject"]) == ("form", "form", "Order 1234")
    assert ticket["contact"] == {"id": ticket["contact"]["id"], "name": "Kim de Vries",
                                 "email": "kim@example.com"}

    confirmation = await sink.to("kim@example.com")
    assert "Order 1234" in str(confirmation.message["Subject"])
    await _send_in(mail_server, _reply_to(confirmation, "Kim <kim@example.com>", "Any news?"))

    async def threaded() -> Any:
        detail = (await mail_server.api("GET", f"/api/v1/tickets/{ticket['id']}", cookie)).json()
        return detail if len(detail["entries"]) == 2 else None

    detail = await _wait_for(threaded)
    assert [(e["kind"], e["text"]) for e in detail["entries"]] == [
        ("customer", "My order has not arrived yet."), ("customer", "Any news?")]
    assert [(h["kind"], h["channel"], h["summary"]) for h in detail["history"]] == [
        ("ticket", "form", "Order 1234")]
    assert "event=ticket_opened" in mail_server.log.read_text()


async def test_robots_and_strangers_open_no_ticket(mail_server: MailServer, sink: Sink) -> None:
    site, cookie = await _setup(mail_server)
    # The honeypot filled: thanked like anyone, kept nowhere, logged.
    trapped = await _post(mail_server, site, {**QUESTION, "website": "http://spam.example"})
    assert trapped.status_code == 200 and "We received your message" in trapped.text
    assert "event=form_honeypot" in mail_server.log.read_text()
    # Another site's page cannot make its visitors post here.
    foreign = await _post(mail_server, site, QUESTION, origin="https://evil.example")
    assert foreign.status_code == 403 and "expired" in foreign.text
    # Without an Origin, only with the token of a page this server rendered.
    bare = await _post(mail_server, site, {**QUESTION, "token": "1.forged"}, origin=None)
    assert bare.status_code == 403
    assert await _tickets(mail_server, cookie) == []
    async with httpx.AsyncClient(base_url=mail_server.http) as http:
        page = await http.get(f"/form/{site.public_key}")
    found = re.search(r'name="token" value="([^"]+)"', page.text)
    assert found is not None
    tokened = await _post(mail_server, site, {**QUESTION, "token": found.group(1)}, origin=None)
    assert tokened.status_code == 200
    assert len(await _tickets(mail_server, cookie)) == 1
    # Bodies past the limit are refused before they are read whole.
    big = await _post(mail_server, site, {**QUESTION, "message": "x" * 40_000}, Accept="application/json")
    assert big.status_code == 413 and big.json()["code"] == "too_large"
    await sink.to("kim@example.com")
    assert [m.rcpt_tos for m in sink.received] == [["kim@example.com"]]


async def test_mistakes_come_back_in_the_visitors_language_with_what_they_typed(
    mail_server: MailServer,
) -> None:
    site, cookie = await _setup(mail_server)
    dutch = {"Accept-Language": "nl-NL,nl;q=0.9"}
    async with httpx.AsyncClient(base_url=mail_server.http) as http:
        page = await http.get(f"/form/{site.public_key}", headers=dutch)
    assert "Neem contact op" in page.text and 'name="lang" value="nl"' in page.text
    wrong = await _post(mail_server, site, {**QUESTION, "email": "kim at example", "message": "",
                                             "lang": "nl"})
    assert wrong.status_code == 400
    assert "Vul een e-mailadres in" in wrong.text and "Schrijf je bericht." in wrong.text
    assert 'value="Kim de Vries"' in wrong.text and 'aria-invalid="true"' in wrong.text
    long = await _post(mail_server, site, {**QUESTION, "message": "x" * 5001},
                       Accept="application/json")
    assert long.status_code == 400
    assert long.json() == {"type": "error", "code": "invalid_message",
                           "message": "message: Your message can be at most 5000 characters."}
    assert await _tickets(mail_server, cookie) == []


async def test_a_burst_is_refused_with_429_in_the_one_error_shape(mail_server: MailServer) -> None:
    site, cookie = await _setup(mail_server)
    limit = contact_form.PER_IP[0]
    answers = [
        await _post(mail_server, site, {**QUESTION, "email": f"k{n}@example.com"},
                    Accept="application/json")
        for n in range(limit + 1)
    ]
    assert [a.status_code for a in answers] == [201] * limit + [429]
    refused = answers[-1]
    assert refused.json() == {"type": "error", "code": "rate_limited",
                              "message": "Too many messages in a short time. Please wait a few "
                              "minutes and send again.", "retry_after": refused.json()["retry_after"]}
    assert 0 < refused.json()["retry_after"] <= contact_form.PER_IP[1]
    assert int(refused.headers["retry-after"]) >= 1
    assert len(await _tickets(mail_server, cookie)) == limit  # nothing of the refused one
    assert "event=form_rate_limited" in mail_server.log.read_text()


async def test_a_site_with_the_form_off_says_so_and_keeps_its_tickets(mail_server: MailServer) -> None:
    site, cookie = await _setup(mail_server)
    assert (await _post(mail_server, site, QUESTION)).status_code == 200
    await mail_server.set_site(site, channels={"form": False})
    async with httpx.AsyncClient(base_url=mail_server.http) as http:
        page = await http.get(f"/form/{site.public_key}")
    assert "not taking messages through this form" in page.text and "<form" not in page.text
    refused = await _post(mail_server, site, {**QUESTION, "message": "Another one"},
                          Accept="application/json")
    assert refused.status_code == 403 and refused.json()["code"] == "channel_off"
    [kept] = await _tickets(mail_server, cookie)
    assert kept["channel"] == "form"
    async with httpx.AsyncClient(base_url=mail_server.http) as http:
        missing = await http.get("/form/site_nope")
    assert missing.status_code == 404 and "no contact form at this address" in missing.text
