"""Fault drills under load: the server killed again and again, Redis killed or stalled while
the real widget and console are open. Each drill checks what the people see, and the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from browser import HostSite, expect
from sqlalchemy import select
from websockets.exceptions import WebSocketException

from chatserver import sites
from chatserver.store import Store
from chatserver.store.schema import messages
from conftest import Client, Cluster, Server, agent, assigned_chat, visitor, visitor_token

# A question no help article answers, so it goes straight to a person.
QUESTION = "qwrtz xyzzy 4711?"
KILLS = 3
SEEN_TIMEOUT_MS = 20_000


@dataclass
class Chatter:
    """A visitor who keeps writing, and after any drop reconnects with the token it holds and
    sends again what was not acknowledged, as the widget does."""

    servers: list[Server]
    site: sites.Site
    token: str
    conversation: str
    acked: dict[str, int] = field(default_factory=dict)  # client_id -> seq
    reconnects: int = 0

    async def run(self, stop: asyncio.Event) -> None:
        sent = 0
        unacked: list[str] = []
        turn = 0
        while not stop.is_set():
            server = self.servers[turn % len(self.servers)]
            turn += 1
            try:
                client = await visitor(server, self.site, token=self.token)
            except (OSError, WebSocketException, AssertionError, TimeoutError):
                await asyncio.sleep(0.2)
                continue
            try:
                for client_id in unacked:  # the same client_id: stored once however often sent
                    await self._send(client, client_id)
                unacked.clear()
                while not stop.is_set():
                    sent += 1
                    client_id = f"m{sent}"
                    unacked.append(client_id)
                    await self._send(client, client_id)
                    unacked.remove(client_id)
                    await asyncio.sleep(0.01)
            except (OSError, WebSocketException, AssertionError, TimeoutError):
                self.reconnects += 1
            finally:
                with contextlib.suppress(Exception):
                    await client.close()

    async def _send(self, client: Client, client_id: str) -> None:
        await client.send(type="message", conversation=self.conversation, client_id=client_id,
                          text=f"text of {client_id}")
        ack = await client.expect("ack", ref=client_id, timeout=5)
        if self.acked.setdefault(client_id, ack["seq"]) != ack["seq"]:
            raise AssertionError(f"{client_id} acked as {self.acked[client_id]} and {ack['seq']}")


async def _chatters(servers: list[Server], site: sites.Site, ann: Client, count: int) -> list[Chatter]:
    made = []
    for n in range(count):
        server = servers[n % len(servers)]
        token = await visitor_token(server, site)
        guest = await visitor(server, site, token=token)
        conversation = await assigned_chat(ann, guest, QUESTION)
        await guest.close()
        made.append(Chatter(servers[n % len(servers):] + servers[:n % len(servers)], site, token,
                            conversation))
    return made


async def _drill(servers: list[Server], store_url: str, chatters: list[Chatter], email: str,
                 kill: Any) -> None:
    """Keep the chatters writing while kill(round) takes a server down and brings it back;
    then check the store and what an agent reading every chat sees."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(c.run(stop)) for c in chatters]
    try:
        for round_ in range(KILLS):
            await asyncio.sleep(1.5)
            await asyncio.to_thread(kill, round_)
        await asyncio.sleep(1.5)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    assert all(c.reconnects for c in chatters), "every chatter lived through a kill"

    store = Store(store_url)
    try:
        async with store.read() as db:
            rows = (await db.execute(select(messages.c.conversation_id, messages.c.seq,
                                            messages.c.client_id))).all()
    finally:
        await store.close()
    for chatter in chatters:
        stored = sorted((seq, client_id) for conversation, seq, client_id in rows
                        if conversation == chatter.conversation)
        seqs = [seq for seq, _ in stored]
        assert seqs == list(range(1, len(seqs) + 1)), "no gap in a conversation's sequence"
        ids = [client_id for _, client_id in stored]
        assert len(ids) == len(set(ids)), "nothing stored twice"
        assert set(chatter.acked.items()) <= {(i, s) for s, i in stored}, "every ack is stored"
        assert len(chatter.acked) > 20

    # The agent, signed in again after the drill, reads every chat whole.
    reader = await agent(servers[0], email)
    for chatter in chatters:
        synced: dict[str, Any] = {"last_seq": 0, "more": True}
        while synced["more"]:  # at most 200 a page
            await reader.send(type="sync", conversation=chatter.conversation, after=synced["last_seq"])
            synced = await reader.expect("synced", conversation=chatter.conversation, timeout=10)
        shown = {f["text"] for f in reader.seen if f.get("type") == "message"
                 and f["conversation"] == chatter.conversation}
        assert {f"text of {i}" for i in chatter.acked} <= shown
        assert synced["last_seq"] == max(chatter.acked.values())
    await reader.close()


async def test_sigkill_in_a_loop_under_load_on_sqlite_loses_and_doubles_nothing(server: Server) -> None:
    site = await server.add_site()
    await server.add_agent("ann@example.com", site, max_chats=20)
    ann = await agent(server, "ann@example.com")
    chatters = await _chatters([server], site, ann, 8)
    await ann.close()

    def kill(_: int) -> None:
        server.stop(signal.SIGKILL)
        server.start()

    await _drill([server], server.store_url, chatters, "ann@example.com", kill)
    database = server.data_dir / "chatserver.db"
    with contextlib.closing(sqlite3.connect(database)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


async def test_sigkill_in_a_loop_on_two_processes_with_postgresql_and_redis(cluster: Cluster) -> None:
    a, b = cluster.a, cluster.b
    site = await a.add_site()
    await a.add_agent("ann@example.com", site, max_chats=20)
    ann = await agent(a, "ann@example.com")
    chatters = await _chatters([a, b], site, ann, 8)
    await ann.close()

    def kill(round_: int) -> None:
        victim = (a, b)[round_ % 2]
        victim.stop(signal.SIGKILL)
        victim.start()

    await _drill([a, b], cluster.database_url, chatters, "ann@example.com", kill)


@pytest.fixture
def host(cluster: Cluster) -> Iterator[HostSite]:
    with HostSite(cluster.a).running() as site:
        yield site


async def _load(cluster: Cluster, pairs: int, stop: asyncio.Event) -> None:
    """Other chats across the two processes, writing both ways until stop."""
    site = await cluster.a.add_site("Load")
    await cluster.a.add_agent("load@example.com", site, max_chats=pairs)
    helper = await agent(cluster.b, "load@example.com")
    guests = [await visitor(cluster.a, site) for _ in range(pairs)]
    chats = [await assigned_chat(helper, g, QUESTION) for g in guests]

    async def talk(person: Client, chats: list[str], tag: str) -> None:
        """One task per client: a socket has one reader."""
        n = 0
        while not stop.is_set():
            for chat in chats:
                n += 1
                with contextlib.suppress(AssertionError):
                    await person.send(type="message", conversation=chat, client_id=f"{tag}{n}",
                                      text=f"{tag}{n}")
                    await person.expect("ack", ref=f"{tag}{n}", timeout=3)
            await asyncio.sleep(0.05)

    try:
        await asyncio.gather(talk(helper, chats, "a"),
                             *(talk(g, [c], "v") for g, c in zip(guests, chats, strict=True)))
    finally:
        for person in (helper, *guests):
            await person.close()


@pytest.mark.parametrize("outage", ["killed", "stalled"])
async def test_redis_lost_under_load_the_widget_and_console_show_every_message(
    cluster: Cluster, host: HostSite, browser: Any, outage: str
) -> None:
    """The visitor's widget is on process A, the agent's console on process B: between them
    only Redis carries a message live. Both keep writing while Redis is gone, and both pages
    end up showing every message without a reload."""
    site = await cluster.a.add_site("Acme", origins=[host.origin])
    host.site_key = site.public_key
    await cluster.a.add_agent("ann@example.com", site)
    stop = asyncio.Event()
    load = asyncio.create_task(_load(cluster, 10, stop))

    console = await browser.new_page(viewport={"width": 1280, "height": 800})
    await console.goto(f"{cluster.b.http}/console/signin")
    await console.fill("#email", "ann@example.com")
    await console.fill("#password", "correct horse battery")
    await console.click("button[type=submit]")
    await expect(console.locator("#availability")).to_be_enabled(timeout=SEEN_TIMEOUT_MS)

    widget = await browser.new_page()
    await widget.goto(host.url())
    await widget.locator(".cs-launcher").click()
    await widget.locator(".cs-input").fill(QUESTION)
    await widget.keyboard.press("Enter")
    person = widget.locator(".cs-card .cs-btn", has_text="Talk to a person")
    with contextlib.suppress(AssertionError):  # no article matched: queued at once
        await expect(person).to_be_visible(timeout=3000)
        await person.click()
    await expect(widget.locator(".cs-sub")).to_have_text("You are chatting with ann",
                                                        timeout=SEEN_TIMEOUT_MS)
    await expect(console.locator(".msg-visitor .msg-text")).to_have_text([QUESTION],
                                                                          timeout=SEEN_TIMEOUT_MS)

    redis = cluster.redis.process
    assert redis is not None
    if outage == "stalled":
        redis.send_signal(signal.SIGSTOP)
    else:
        cluster.redis.kill()
    said_by_visitor, said_by_agent = [], []
    try:
        for n in range(1, 6):
            said_by_visitor.append(f"visitor line {n}")
            await widget.locator(".cs-input").fill(said_by_visitor[-1])
            await widget.keyboard.press("Enter")
            said_by_agent.append(f"agent line {n}")
            await console.locator("#text").fill(said_by_agent[-1])
            await console.locator("#text").press("Enter")
            await asyncio.sleep(0.3)
        # Each side's own lines were stored: each shows them as sent, not pending.
        await expect(widget.locator(".cs-me.cs-pending")).to_have_count(0, timeout=SEEN_TIMEOUT_MS)
    finally:
        if outage == "stalled":
            redis.send_signal(signal.SIGCONT)
        else:
            cluster.redis.start()

    await expect(widget.locator(".cs-them:not(.cs-greeting):not(.cs-sys) .cs-bubble")).to_have_text(
        said_by_agent, timeout=SEEN_TIMEOUT_MS)
    await expect(console.locator(".msg-visitor .msg-text")).to_have_text(
        [QUESTION, *said_by_visitor], timeout=SEEN_TIMEOUT_MS)
    await expect(console.locator(".msg-mine .msg-text")).to_have_text(said_by_agent)
    await expect(widget.locator(".cs-me .cs-bubble")).to_have_text([QUESTION, *said_by_visitor])
    # And the live path is back: one more line each way arrives by itself.
    await widget.locator(".cs-input").fill("after the outage")
    await widget.keyboard.press("Enter")
    await expect(console.locator(".msg-visitor .msg-text").last).to_have_text(
        "after the outage", timeout=SEEN_TIMEOUT_MS)
    await widget.screenshot(path=f"/tmp/drill-widget-{outage}.png")
    await console.screenshot(path=f"/tmp/drill-console-{outage}.png")
    stop.set()
    await load
