"""Limits at every door (issue 15): the rules without I/O, then each finding on the real server,
refused now, with a well-behaved visitor of the same site unaffected; and across processes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from limit_clients import set_limits, token_from, visitor_from
from mail_fixtures import MailServer, Sink
from sqlalchemy import func, select
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from chatserver import lockout
from chatserver.limits import rules
from chatserver.limits.counter import MemoryCounter, RedisCounter
from chatserver.limits.rules import Budget
from chatserver.store import Store
from chatserver.store.schema import conversations
from conftest import Client, Server, free_port, visitor
from services import Postgres, Redis

# The tests' attacker: another machine, as far as the server can tell.
ATTACKER = "127.0.0.2"


def budget_within(budget: Budget, taken: int, seconds: float) -> bool:
    """Tell whether taken is what a full bucket gives in seconds: its count, plus the refill."""
    return budget.count <= taken <= budget.count + seconds * budget.count / budget.seconds + 1


# Rules, without I/O ------------------------------------------------------------------------


def test_a_bucket_gives_its_count_at_once_then_one_per_interval() -> None:
    budget = Budget(3, 60)
    full_at: float | None = None
    for _ in range(3):
        full_at, wait = rules.take(full_at, 0, budget)
        assert full_at is not None and wait == 0
    assert rules.take(full_at, 0, budget) == (None, 20_000)
    assert rules.take(full_at, 20_000, budget)[0] is not None  # one came back
    assert rules.take(full_at, 60_000, budget)[0] is not None  # full again


async def test_a_refused_request_spends_no_bucket() -> None:
    counter = MemoryCounter()
    small, large = Budget(1, 60), Budget(100, 60)
    assert await counter.take([("a", small), ("b", large)], 0) == 0
    assert await counter.take([("a", small), ("b", large)], 0) > 0
    # "b" spent one use only: 99 more fit.
    for _ in range(99):
        assert await counter.take([("b", large)], 0) == 0
    assert await counter.take([("b", large)], 0) > 0


async def test_a_redis_that_does_not_answer_leaves_each_process_counting_alone() -> None:
    counter = RedisCounter(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    try:
        started = asyncio.get_running_loop().time()
        assert await counter.take([("a", Budget(1, 60))], 0) == 0
        assert await counter.take([("a", Budget(1, 60))], 1) > 0  # counted here meanwhile
        assert asyncio.get_running_loop().time() - started < 1
    finally:
        await counter.close()


def test_a_sites_overrides_replace_the_defaults_and_bad_ones_are_refused() -> None:
    chosen = rules.budgets("message", {"message": {"visitor": [5, 10]}})
    assert chosen["visitor"] == Budget(5, 10) and chosen["site"] == rules.DEFAULTS["message"]["site"]
    # Unreadable overrides fall back to the defaults where they are read...
    assert rules.budgets("message", {"message": {"visitor": "lots"}}) == rules.DEFAULTS["message"]
    # ...and are refused where they are saved.
    for bad in ({"messages": {}}, {"message": {"planet": [1, 1]}}, {"message": {"visitor": [0, 60]}},
                {"search": {"recipient": [1, 60]}}, {"message": {"visitor": [True, 60]}}):
        with pytest.raises(rules.RuleError):
            rules.check(bad)
    assert rules.check({"mail": {"recipient": [2, 3600]}}) == {"mail": {"recipient": [2, 3600.0]}}
    assert rules.parse("message.visitor=60/30") == ("message", "visitor", Budget(60, 30))
    with pytest.raises(rules.RuleError, match="DOOR.SCOPE=COUNT/SECONDS"):
        rules.parse("message.visitor=lots")


def test_one_sender_is_an_ipv4_address_or_an_ipv6_64() -> None:
    assert lockout.network("203.0.113.9") == "203.0.113.9"
    assert lockout.network("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert lockout.network("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"
    assert lockout.network("::ffff:203.0.113.9") == "203.0.113.9"


def test_the_defaults_stop_the_findings_and_leave_room_for_a_person() -> None:
    d = rules.DEFAULTS
    assert d["message"]["visitor"].count < 3000 / 10 and d["message"]["visitor"].count >= 30
    assert d["start"]["visitor"].count < 300 / 10 and d["start"]["visitor"].count >= 3
    assert d["token"]["network"].count < 300 and d["socket"]["visitor"].count < 3000
    assert d["mail"]["network"].count < 140 and d["mail"]["recipient"].count <= 5


# The findings, on the real server -------------------------------------------------------


@pytest.mark.shared_server
async def test_thousands_of_messages_from_one_visitor_are_refused_past_the_budget(
    server: Server, clients: list[Client]
) -> None:
    site = await server.add_site()
    await server.add_agent("ann@example.com", site)
    flood = await visitor_from(server, site, ATTACKER)
    clients.append(flood)
    await flood.send(type="start", client_id="s0", text="zxqv hello")
    chat = (await flood.expect("ack", ref="s0"))["conversation"]
    started = time.monotonic()
    for n in range(300):
        await flood.send(type="message", conversation=chat, client_id=f"m{n}", text=f"spam {n}")
    acks, limited = 0, []
    while acks + len(limited) < 300:
        frame = await flood.expect_any()
        if frame["type"] == "ack":
            acks += 1
        elif frame["type"] == "error":
            limited.append(frame)
    assert budget_within(rules.DEFAULTS["message"]["visitor"], acks, time.monotonic() - started)
    assert {f["code"] for f in limited} == {"rate_limited"}
    assert all(f["retry_after"] > 0 and f["ref"].startswith("m") for f in limited)
    # What was refused was never stored; what was taken is all there.
    await flood.send(type="sync", conversation=chat, after=0)
    assert (await flood.expect("synced", conversation=chat))["last_seq"] == acks + 1

    calm = await visitor(server, site)
    clients.append(calm)
    await calm.send(type="start", client_id="c0", text="zxqv my order")
    calm_chat = (await calm.expect("ack", ref="c0"))["conversation"]
    await calm.send(type="message", conversation=calm_chat, client_id="c1", text="hello?")
    assert (await calm.expect("ack", ref="c1"))["seq"] == 2


@pytest.mark.shared_server
async def test_hundreds_of_chats_from_one_visitor_stop_at_the_budget(
    server: Server, clients: list[Client]
) -> None:
    site = await server.add_site()
    flood = await visitor_from(server, site, ATTACKER)
    clients.append(flood)
    for n in range(60):
        await flood.send(type="start", client_id=f"s{n}", text=f"zxqv question {n}")
    started, limited = set(), 0
    while len(started) + limited < 60:
        frame = await flood.expect_any()
        if frame["type"] == "ack":
            started.add(frame["conversation"])
        elif frame["type"] == "error":
            assert frame["code"] == "rate_limited" and frame["retry_after"] > 0
            limited += 1
    assert len(started) == rules.DEFAULTS["start"]["visitor"].count
    store = Store(server.store_url)
    try:
        async with store.read() as conn:
            stored = (await conn.execute(
                select(func.count()).where(conversations.c.site_id == site.id))).scalar()
    finally:
        await store.close()
    assert stored == len(started)

    calm = await visitor(server, site)
    clients.append(calm)
    await calm.send(type="start", client_id="c0", text="zxqv my order")
    assert (await calm.expect("ack", ref="c0"))["seq"] == 1


@pytest.mark.shared_server
async def test_hundreds_of_tokens_from_one_address_get_429_with_retry_after(server: Server) -> None:
    site = await server.add_site()
    started = time.monotonic()
    answers = []
    # Asked for until refused (a slow machine refills the bucket as it goes), at most 400 times.
    while len(answers) < 400 and not (answers and answers[-1].status_code == 429):
        answers.append(await token_from(server, site, ATTACKER))
    issued = [a for a in answers if a.status_code == 200]
    refused = [a for a in answers if a.status_code == 429]
    assert refused and len(issued) + len(refused) == len(answers)
    assert budget_within(rules.DEFAULTS["token"]["network"], len(issued), time.monotonic() - started)
    body = refused[0].json()
    assert body["type"] == "error" and body["code"] == "rate_limited" and "try again" in body["message"]
    assert int(refused[0].headers["retry-after"]) >= 1
    assert refused[0].headers["access-control-allow-origin"] == server.http  # the page can read why
    # Another address of the same site is not held up.
    async with httpx.AsyncClient() as http:
        ok = await http.post(f"{server.http}/api/v1/sites/{site.public_key}/visitors", json={},
                             headers={"Origin": server.http})
    assert ok.status_code == 200


@pytest.mark.shared_server
async def test_thousands_of_sockets_from_one_token_are_refused_past_the_budget(
    server: Server, clients: list[Client]
) -> None:
    site = await server.add_site()
    token = (await token_from(server, site, ATTACKER)).json()["token"]
    opened, refused = [], []
    for _ in range(40):
        ws = await connect(f"{server.ws}/ws/visitor?site={site.public_key}", origin=server.http,  # type: ignore[arg-type]
                           local_addr=(ATTACKER, 0))
        client = Client(ws, token)
        await client.send(type="hello", token=token)
        first = await client.expect_any()
        if first["type"] == "welcome":
            opened.append(client)
        else:
            assert first["code"] == "rate_limited" and first["retry_after"] > 0
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
            refused.append(first)
    clients.extend(opened)
    assert len(opened) == rules.DEFAULTS["socket"]["visitor"].count and len(refused) == 10
    calm = await visitor(server, site)
    clients.append(calm)
    await calm.send(type="ping")
    await calm.expect("pong")


async def test_the_mail_cannon_is_silenced_and_a_real_visitor_still_gets_mail(
    mail_server: MailServer, sink: Sink, clients: list[Client]
) -> None:
    site = await mail_server.add_site("Acme")
    await mail_server.set_site(site, locale="en")
    mailed, refusals = 0, set()
    for n in range(15):
        cannon = await visitor_from(mail_server, site, ATTACKER)
        clients.append(cannon)
        await cannon.send(type="start", client_id="s", text=f"Buy cheap pills {n}")
        chat = (await cannon.expect("ack", ref="s"))["conversation"]
        for victim in ("v1", "v2", "v3"):
            await cannon.send(type="transcript", conversation=chat, email=f"{victim}.{n}@example.com",
                              client_id=f"t{victim}")
        await cannon.send(type="leave_email", conversation=chat, email=f"v4.{n}@example.com",
                          client_id="le", text="spam")
        for _ in range(4):
            frame = await cannon.expect_any()
            while frame["type"] not in ("transcript", "ticket", "error"):
                frame = await cannon.expect_any()
            if frame["type"] == "error":
                refusals.add(frame["code"])
            else:
                mailed += 1
        await cannon.close()
    assert mailed <= rules.DEFAULTS["mail"]["network"].count
    assert refusals == {"unproven_address", "rate_limited"}

    calm = await visitor(mail_server, site)
    clients.append(calm)
    await calm.send(type="start", client_id="c0", text="Where is my order 4411?")
    chat = (await calm.expect("ack", ref="c0"))["conversation"]
    await calm.send(type="transcript", conversation=chat, email="kim@example.com")
    assert (await calm.expect("transcript", conversation=chat))["duplicate"] is False
    await sink.to("kim@example.com")
    await asyncio.sleep(1)  # the outbox has sent all it will
    to_victims = [r for r in sink.received if r.rcpt_tos[0].startswith("v")]
    assert len(to_victims) <= rules.DEFAULTS["mail"]["network"].count


@pytest.mark.shared_server
async def test_a_site_sets_its_own_budgets_and_the_metric_counts_refusals(
    server: Server, clients: list[Client]
) -> None:
    site = await server.add_site()
    await set_limits(server, site, {"search": {"visitor": [2, 60]}})
    guest = await visitor(server, site)
    clients.append(guest)
    for n in range(3):
        await guest.send(type="search", text=f"refund {n}")
    await guest.expect("suggestions")
    await guest.expect("suggestions")
    assert (await guest.expect("error"))["code"] == "rate_limited"
    async with httpx.AsyncClient() as http:
        scraped = (await http.get(f"{server.http}/metrics")).text
    assert 'chatserver_rate_limited_total{door="search"}' in scraped


async def test_limits_hold_across_two_processes_with_redis(
    tmp_path: Path, postgres: Postgres, redis: Redis
) -> None:
    env = {"DATABASE_URL": postgres.new_database(), "REDIS_URL": redis.url}
    a, b = Server(tmp_path / "a", env), Server(tmp_path / "b", env)
    a.start()
    b.start()
    try:
        site = await a.add_site()
        await set_limits(a, site, {"message": {"visitor": [10, 3600]}})
        token = (await token_from(a, site, ATTACKER)).json()["token"]
        on_a = await visitor_from(a, site, ATTACKER, token)
        on_b = await visitor_from(b, site, ATTACKER, token)
        await on_a.send(type="start", client_id="s", text="zxqv hi")
        chat = (await on_a.expect("ack", ref="s"))["conversation"]
        codes = []
        for n in range(12):
            side = on_a if n % 2 else on_b
            await side.send(type="message", conversation=chat, client_id=f"m{n}", text="x")
            frame = await side.expect_any()
            while frame["type"] not in ("ack", "error"):
                frame = await side.expect_any()
            codes.append(frame.get("code", "ack"))
        # Ten between the two processes, not ten each.
        assert codes == ["ack"] * 10 + ["rate_limited"] * 2
        await on_a.close()
        await on_b.close()
    finally:
        a.stop()
        b.stop()


def test_a_site_gets_its_own_budgets_from_the_command_line(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "chatserver", *args, "--data-dir", str(tmp_path)],
                              capture_output=True, text=True, timeout=60)

    assert run("sites", "add", "--name", "Shop").returncode == 0
    key = json.loads(run("sites", "list", "--json").stdout)[0]["key"]
    changed = run("limits", "set", "--site", key, "message.visitor=5/60", "mail.recipient=1/3600")
    assert changed.returncode == 0, changed.stderr
    assert "message.visitor=5/60  (the site's own)" in changed.stdout
    assert "message.network=600/60\n" in changed.stdout and "mail.recipient=1/3600" in changed.stdout
    for bad in ("message.visitor=0/60", "search.recipient=1/60", "messages.visitor=1/60", "message.visitor"):
        refused = run("limits", "set", "--site", key, bad)
        assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert run("limits", "reset", "--site", key).returncode == 0
    assert "(the site's own)" not in run("limits", "show", "--site", key).stdout


def test_deploying_md_shows_the_default_budgets() -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "deploying.md").read_text()
    units = {60.0: "min", 600.0: "10 min", 3600.0: "hour"}
    for door, budgets in rules.DEFAULTS.items():
        row = next(line for line in text.splitlines() if line.startswith(f"| `{door}` |"))
        cells = [c.strip() for c in row.split("|")[3:-1]]
        for scope, cell in zip(rules.SCOPES, cells, strict=True):
            budget = budgets.get(scope)
            assert cell == (f"{budget.count:,} / {units[budget.seconds]}" if budget else ""), (door, scope)
