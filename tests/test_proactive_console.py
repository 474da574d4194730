"""Proactive rules and the staffing schedule edited in the console: what an admin saves is what
the widget gets and the forecast reads; a refused form says why and changes nothing stored."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from test_console import csrf_of, sign_in

from chatserver import proactive
from chatserver.reports import staffing
from chatserver.store import Store
from conftest import Server

PAGE = "/console/admin/proactive"


@pytest.fixture
async def admin(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http, timeout=10) as http:
        yield http


def test_a_schedule_reads_back_as_the_lines_it_came_from() -> None:
    planned = staffing.parse(["mon-fri 9-17 3", "sat 10-14 1", "fri 17-20 2"])
    assert staffing.lines(planned) == ["mon-fri 9-17 3", "fri 17-20 2", "sat 10-14 1"]
    assert staffing.parse(staffing.lines(planned)) == planned
    with pytest.raises(ValueError, match="mon-fri 9-17 3"):
        staffing.parse(["weekdays 9-5"])
    with pytest.raises(ValueError, match="forwards"):
        staffing.parse(["mon 17-9 2"])


async def test_an_admin_adds_edits_and_switches_off_rules_and_sets_the_schedule(
    server: Server, admin: httpx.AsyncClient
) -> None:
    site = await server.add_site("Shop")
    await server.add_agent("boss@example.com", site, role="admin")
    await sign_in(admin, "boss@example.com")
    page = await admin.get(PAGE, params={"site": site.id})
    assert page.status_code == 200 and "Add rule" in page.text
    rule = {"csrf": csrf_of(page.text), "site": site.id, "action": "add", "name": "Checkout help",
            "trigger": "url", "value": "/checkout*", "message": "Questions about paying?", "cap": "2"}
    added = await admin.post(PAGE, data=rule)
    assert added.status_code == 303
    widget = f"/api/v1/sites/{site.public_key}/proactive"
    listed = (await admin.get(widget, headers={"Origin": server.http})).json()["rules"]
    assert [(r["trigger"], r["value"], r["message"]) for r in listed] == [
        ("url", "/checkout*", "Questions about paying?")]
    rule_id = listed[0]["id"]

    # A bad edit comes back with what was typed and why; the stored rule is unchanged.
    bad = await admin.post(PAGE, data={**rule, "action": "save", "rule": rule_id, "value": "checkout",
                                       "message": "Still typing", "enabled": "on"})
    assert bad.status_code == 400
    assert "path pattern" in bad.text and "Still typing" in bad.text
    kept = (await admin.get(widget, headers={"Origin": server.http})).json()["rules"]
    assert kept[0]["value"] == "/checkout*"
    tooth = await admin.post(PAGE, data={**rule, "cap": "lots"})
    assert tooth.status_code == 400 and "cap" in tooth.text

    # Edited, then switched off (the checkbox left empty): the widget no longer gets it.
    edited = await admin.post(PAGE, data={**rule, "action": "save", "rule": rule_id, "trigger": "time",
                                          "value": "30", "enabled": "on"})
    assert edited.status_code == 303
    assert (await admin.get(widget, headers={"Origin": server.http})).json()["rules"][0]["value"] == 30
    off = await admin.post(PAGE, data={**rule, "action": "save", "rule": rule_id, "trigger": "time",
                                       "value": "30"})
    assert off.status_code == 303
    assert (await admin.get(widget, headers={"Origin": server.http})).json()["rules"] == []
    store = Store(server.store_url)
    try:
        (stored,) = await proactive.rules(store, site.id)
        assert (stored.name, stored.trigger, stored.value, stored.cap, stored.enabled) == (
            "Checkout help", "time", "30", 2, False)

        # The schedule: saved, shown again as lines, a bad line refused with nothing lost.
        saved = await admin.post(PAGE, data={"csrf": rule["csrf"], "site": site.id, "action": "schedule",
                                             "schedule": "mon-fri 9-17 3\r\nsat 10-14 1\r\n"})
        assert saved.status_code == 303
        assert "mon-fri 9-17 3\nsat 10-14 1" in (await admin.get(PAGE, params={"site": site.id})).text
        refused = await admin.post(PAGE, data={"csrf": rule["csrf"], "site": site.id, "action": "schedule",
                                               "schedule": "mon-fri 9-17 3\nevery day"})
        assert refused.status_code == 400 and "every day" in refused.text
        assert staffing.lines(await staffing.read(store, site.id)) == ["mon-fri 9-17 3", "sat 10-14 1"]
    finally:
        await store.close()

    # Without the form's token, or as an agent who is no admin, nothing is saved.
    forged = await admin.post(PAGE, data={**rule, "csrf": "0" * 32, "name": "Forged"})
    assert forged.status_code == 403
    await server.add_agent("ann@example.com", site)
    async with httpx.AsyncClient(base_url=server.http, timeout=10) as agent:
        await sign_in(agent, "ann@example.com")
        assert (await agent.get(PAGE)).status_code == 403
