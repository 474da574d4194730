"""Reports over HTTP against the real server: JSON and CSV agree, access is for admins, SLA
clocks are announced live and breaches recorded, and `chatserver forecast` prints the table."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select, update

from chatserver.reports import erlang
from chatserver.store import Store, new_id, now_ms
from chatserver.store.schema import (
    contacts,
    conversations,
    messages,
    ratings,
    sla_breaches,
    ticket_entries,
    tickets,
)
from chatserver.store.schema import sites as sites_table
from conftest import Server, agent, login, visitor

REPORTS = ("volume", "hours", "times", "breaches", "ratings", "comments", "self_service",
           "articles", "votes", "gaps", "agents", "proactive", "forecast")


def utc(day: int, hour: int, minute: int = 0, second: int = 0) -> int:
    return int(dt.datetime(2026, 11, day, hour, minute, second, tzinfo=dt.UTC).timestamp() * 1000)


async def seed_chat(store: Store, site_id: str, created: int, *, queued: int | None = None,
                    reply: int | None = None, closed: int | None = None, agent_id: str | None = None,
                    resolution: str | None = None, rating: str | None = None,
                    comment: str | None = None, question: str = "hello") -> str:
    """Store a chat as the server would have: contact, conversation, messages, rating."""
    contact, cid = new_id(), new_id()
    async with store.write() as conn:
        await conn.execute(insert(contacts).values(id=contact, site_id=site_id, created_at=created))
        await conn.execute(insert(conversations).values(
            id=cid, site_id=site_id, contact_id=contact, status="closed" if closed else "queued",
            agent_id=agent_id, client_id="c1", last_seq=2 if reply else 1, visitor_delivered_seq=0,
            visitor_read_seq=0, agent_delivered_seq=0, agent_read_seq=0, created_at=created,
            updated_at=created, queued_at=queued, assigned_at=queued, closed_at=closed,
            resolution=resolution))
        await conn.execute(insert(messages).values(
            id=new_id(), conversation_id=cid, seq=1, author_kind="visitor", author_id=contact,
            client_id="c1", body=question, created_at=created))
        if reply:
            await conn.execute(insert(messages).values(
                id=new_id(), conversation_id=cid, seq=2, author_kind="agent", author_id=agent_id,
                client_id="a1", body="on it", created_at=reply))
        if rating:
            await conn.execute(insert(ratings).values(
                conversation_id=cid, score=rating, comment=comment, created_at=closed))
    return cid


async def seed_ticket(
    store: Store, site_id: str, created: int, reply: int | None, solved: int | None
) -> None:
    contact, tid = new_id(), new_id()
    async with store.write() as conn:
        await conn.execute(insert(contacts).values(id=contact, site_id=site_id, created_at=created))
        await conn.execute(insert(tickets).values(
            id=tid, site_id=site_id, contact_id=contact, subject="Refund",
            status="solved" if solved else "new", priority="normal", source="email",
            thread_id=f"<{tid}@x>", created_at=created, updated_at=created, solved_at=solved))
        if reply:
            await conn.execute(insert(ticket_entries).values(
                id=new_id(), ticket_id=tid, kind="agent", body="Sorted.", created_at=reply))


@pytest.fixture
async def seeded(server: Server) -> dict[str, Any]:
    site = await server.add_site("Shop")
    admin = await server.add_agent("boss@example.com", site, role="admin")
    store = Store(server.store_url)
    try:
        await seed_chat(store, site.id, utc(16, 10), queued=utc(16, 10), reply=utc(16, 10, 0, 40),
                        closed=utc(16, 10, 20), agent_id=admin.id, rating="good", comment="=HYPERLINK(1)")
        await seed_chat(store, site.id, utc(17, 14), queued=utc(17, 14), reply=utc(17, 14, 3),
                        closed=utc(17, 14, 50), agent_id=admin.id, rating="bad",
                        question="Where is my refund?")
        await seed_chat(store, site.id, utc(18, 9), closed=utc(18, 9, 1), resolution="self_served")
        await seed_ticket(store, site.id, utc(18, 8), utc(18, 12), utc(19, 8))
    finally:
        await store.close()
    cookie = await login(server, "boss@example.com")
    return {"site": site, "cookie": cookie}


async def fetch(server: Server, cookie: str, name: str, **params: str) -> httpx.Response:
    async with httpx.AsyncClient(cookies={"chatserver_session": cookie}) as http:
        return await http.get(f"{server.http}/api/v1/reports/{name}", params=params)


async def test_csv_equals_json_for_every_report(server: Server, seeded: dict[str, Any]) -> None:
    key = seeded["site"].public_key
    for name in REPORTS:
        params = {"site": key, "from": "2026-11-16", "to": "2026-11-20", "surge": "40"}
        as_json = (await fetch(server, seeded["cookie"], name, **params)).json()
        response = await fetch(server, seeded["cookie"], name, **params, format="csv")
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
        assert "attachment" in response.headers["content-disposition"]
        header, *rows = list(csv.reader(io.StringIO(response.text)))
        assert header == as_json["columns"], name

        def cell(v: Any) -> str:
            text = "" if v is None else str(v)
            return "'" + text if text[:1] in ("=", "+", "-", "@") else text

        assert rows == [[cell(v) for v in row] for row in as_json["rows"]], name


async def test_the_figures_are_the_documented_ones(server: Server, seeded: dict[str, Any]) -> None:
    key, cookie = seeded["site"].public_key, seeded["cookie"]
    params = {"site": key, "from": "2026-11-16", "to": "2026-11-20"}
    times = (await fetch(server, cookie, "times", **params)).json()
    assert times["from"] == "2026-11-16" and times["to"] == "2026-11-20"
    by = {(r[0], r[1]): dict(zip(times["columns"], r, strict=True)) for r in times["rows"]}
    # First responses 40 s and 180 s against the default 60 s target: one breach.
    chat_fr = by[("chat", "first_response")]
    figures = (chat_fr["count"], chat_fr["median_s"], chat_fr["p90_s"], chat_fr["breaches"])
    assert figures == (2, 40.0, 180.0, 1)
    assert by[("ticket", "first_response")]["median_s"] == 4 * 3600
    assert (await fetch(server, cookie, "self_service", **params)).json()["rows"] == [[3, 1, 2, 0.3333]]
    assert (await fetch(server, cookie, "ratings", **params)).json()["rows"] == [[2, 1, 1, 0.5, 1]]
    volume = (await fetch(server, cookie, "volume", **params)).json()["rows"]
    assert volume == [["2026-11-16", 1, 0], ["2026-11-17", 1, 0], ["2026-11-18", 1, 1]]
    gaps = (await fetch(server, cookie, "gaps", **params)).json()["rows"]
    assert gaps == [["hello", 1], ["where is my refund", 1]]


async def test_reports_are_for_admins_of_the_site_and_refuse_bad_ranges(
    server: Server, seeded: dict[str, Any]
) -> None:
    key = seeded["site"].public_key
    async with httpx.AsyncClient() as http:
        anonymous = await http.get(f"{server.http}/api/v1/reports/volume", params={"site": key})
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "unauthorized"
    await server.add_agent("ann@example.com", seeded["site"])
    ann = await login(server, "ann@example.com")
    assert (await fetch(server, ann, "volume", site=key)).status_code == 403
    other = await server.add_site("Other shop")
    boss = seeded["cookie"]
    assert (await fetch(server, boss, "volume", site="nope")).status_code == 404
    assert (await fetch(server, boss, "volume", site=other.public_key)).status_code == 200
    bad = await fetch(server, boss, "volume", site=key, **{"from": "2026-11-20", "to": "2026-11-01"})
    assert bad.status_code == 400 and bad.json()["message"] == "from must not be after to"
    bad = await fetch(server, boss, "volume", site=key, **{"from": "yesterday"})
    assert bad.status_code == 400 and "2026-11-30" in bad.json()["message"]
    bad = await fetch(server, boss, "forecast", site=key, surge="-3")
    assert bad.status_code == 400 and "surge" in bad.json()["message"]
    assert (await fetch(server, boss, "nonsense", site=key)).status_code == 404


async def test_sla_clock_is_flagged_live_and_the_breach_recorded(
    data_dir: Path, database_env: dict[str, str]
) -> None:
    running = Server(data_dir, {**database_env, "CHATSERVER_SLA_CHECK_SECONDS": "0.3"})
    running.start()
    try:
        site = await running.add_site()
        store = Store(running.store_url)
        async with store.write() as conn:
            await conn.execute(update(sites_table).where(sites_table.c.id == site.id).values(
                settings={**site.settings, "sla": {"chat_first_response_seconds": 1}}))
        await running.add_agent("ann@example.com", site)
        ann = await agent(running, "ann@example.com")
        await ann.send(type="presence", status="away")  # keep the chat in the queue
        guest = await visitor(running, site)
        await guest.send(type="start", client_id="c1", text="Is anyone there?")
        conversation = (await guest.expect("ack"))["conversation"]
        await guest.send(type="escalate", conversation=conversation)

        def item(frame: dict[str, Any]) -> dict[str, Any] | None:
            return next((i for i in frame["items"] if i["id"] == conversation), None)

        first = await ann.expect("sla", timeout=5)
        while item(first) is None:
            first = await ann.expect("sla", timeout=5)
        flagged = item(first)
        assert flagged is not None and flagged["metric"] == "first_response" and flagged["target"] == 1
        assert flagged["due_at"] - flagged["nearing_at"] == 200  # 80% of one second
        frame = first
        while (found := item(frame)) is None or found["state"] != "breached":
            frame = await ann.expect("sla", timeout=5)
        async with store.read() as conn:
            recorded = (await conn.execute(select(sla_breaches))).all()
        assert [(r.subject_kind, r.subject_id, r.metric) for r in recorded] == [
            ("chat", conversation, "first_response")]
        await store.close()
        await ann.close()
        await guest.close()
    finally:
        running.stop()


async def test_forecast_command_prints_the_same_table_as_the_api(server: Server) -> None:
    site = await server.add_site("Peak")
    boss = await server.add_agent("boss@example.com", site, role="admin", max_chats=3)
    store = Store(server.store_url)
    yesterday = now_ms() - 24 * 3600 * 1000
    try:
        for i in range(12):
            await seed_chat(store, site.id, yesterday + i, queued=yesterday + i, reply=yesterday + 5000,
                            closed=yesterday + i + 600_000, agent_id=boss.id)
    finally:
        await store.close()
    command = [sys.executable, "-m", "chatserver", "forecast", "--site", site.public_key, "--surge", "40",
               "--weeks", "1", "--data-dir", str(server.data_dir)]
    env = server.env
    printed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=True).stdout
    assert "handling 600 s; 3 chats per agent; 80% answered within 60 s; surge +40%" in printed
    as_json = json.loads(subprocess.run([*command, "--json"], capture_output=True, text=True, env=env,
                                        timeout=60, check=True).stdout)
    (row,) = as_json["rows"]
    assert row[2:7] == [12.0, erlang.agents_needed(12, 600, 60, 3).agents, 16.8,
                        erlang.agents_needed(16.8, 600, 60, 3).agents,
                        round(erlang.agents_needed(16.8, 600, 60, 3).service_level, 3)]
    cookie = await login(server, "boss@example.com")
    api = (await fetch(server, cookie, "forecast", site=site.public_key, surge="40", weeks="1")).json()
    assert api["rows"] == as_json["rows"] and api["concurrency"] == 3

    bad = subprocess.run([*command[:-2], "--surge", "5000", "--data-dir", str(server.data_dir)],
                         capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 2 and "surge must be 0 to 1000 percent" in bad.stderr
    scheduled = subprocess.run([*command, "--schedule", "mon-sun 0-24 2"], capture_output=True, text=True,
                               env=env, timeout=60, check=True).stdout
    assert scheduled.splitlines()[-1].split()[-1] == "2"
