"""What visitors are told about who can answer: agents online and business hours, on the wire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from mail_fixtures import MailServer

from conftest import Client, agent, visitor


def closed_now() -> tuple[dict[str, Any], int]:
    """Business hours (UTC, every day) that exclude this moment; and seconds until they open."""
    now = datetime.now(UTC)
    start = now + timedelta(hours=2)
    if start.date() != now.date() or start.hour >= 23:
        start = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    span = [f"{start:%H:%M}", f"{start.hour + 1:02d}:{start:%M}"]
    opens = start.replace(second=0, microsecond=0)
    days = {d: span for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    return {"timezone": "UTC", "days": days}, int((opens - now).total_seconds())


async def test_visitors_learn_the_site_is_closed_and_when_it_opens(
    mail_server: MailServer, clients: list[Client]
) -> None:
    site = await mail_server.add_site("Acme")
    closed, opens_in = closed_now()
    await mail_server.set_site(site, hours=closed)

    async with httpx.AsyncClient() as http:
        answer = (await http.post(f"{mail_server.http}/api/v1/sites/{site.public_key}/visitors",
                                  json={}, headers={"Origin": mail_server.http})).json()
    assert answer["open_now"] is False and answer["agents_online"] is False
    assert abs(answer["next_change_in"] - opens_in) <= 5
    assert answer["site"]["settings"]["hours"] == closed

    guest = await visitor(mail_server, site)
    clients.append(guest)
    welcome = next(f for f in guest.seen if f["type"] == "welcome")
    assert welcome["open_now"] is False and abs(welcome["next_change_in"] - opens_in) <= 5
    assert "transcript" in welcome["features"]

    # An agent comes online outside business hours: someone can answer, the site is still closed.
    await mail_server.add_agent("ann@example.com", site)
    clients.append(await agent(mail_server, "ann@example.com"))
    change = await guest.expect("availability", agents_online=True)
    assert change["open_now"] is False and abs(change["next_change_in"] - opens_in) <= 5


async def test_a_site_without_business_hours_is_always_open(
    mail_server: MailServer, clients: list[Client]
) -> None:
    site = await mail_server.add_site("Acme")
    guest = await visitor(mail_server, site)
    clients.append(guest)
    welcome = next(f for f in guest.seen if f["type"] == "welcome")
    assert welcome["open_now"] is True and welcome["next_change_in"] is None


async def test_an_address_left_outside_business_hours_is_an_offline_form(
    mail_server: MailServer, clients: list[Client]
) -> None:
    site = await mail_server.add_site("Acme")
    await mail_server.set_site(site, hours=closed_now()[0])
    await mail_server.add_agent("ann@example.com", site)
    ann = await agent(mail_server, "ann@example.com")  # online, but the site is closed
    guest = await visitor(mail_server, site)
    clients.extend([ann, guest])
    await guest.send(type="leave_email", email="kim@example.com", text="Do you ship to Ghent?",
                     client_id="form-1")
    ticket = (await ann.expect("ticket"))["ticket"]
    assert ticket["source"] == "offline_form"
