"""Two `chatserver serve` processes sharing real PostgreSQL and Redis, as when scaled out."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from typing import Any

import pytest

from chatserver import agents, articles, bootstrap, customers, sites
from chatserver.articles import Article
from chatserver.chat import conversations
from chatserver.chat.messages import MessageWriter
from chatserver.chat.model import IllegalTransition
from chatserver.store import Store
from conftest import Chat, Client, Cluster, agent, visitor
from services import Postgres

# A question no help article answers, so it goes straight to a person.
QUESTION = "qwrtz xyzzy 4711?"
# Redis is back in well under a second; the broker retries at least every 2 s (see
# chatserver/broker/redis.py), and the resume then reads the store.
RESUME_TIMEOUT = 10.0


@pytest.fixture
async def pg_store(postgres: Postgres) -> AsyncIterator[Store]:
    store = Store(postgres.new_database())
    await store.migrate()
    yield store
    await store.close()


async def _until(client: Client, kind: str, accept: Any, timeout: float = 5.0) -> dict[str, Any]:
    """Return the first frame of kind for which accept(frame) is true."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        frame = await client.expect(kind, timeout=max(left, 0.01))
        if accept(frame):
            return frame


async def _assigned(client: Client, conversation: str) -> dict[str, Any]:
    return await _until(client, "conversation", lambda f: f["conversation"] == Chat(conversation, "assigned"))


async def _synced_chat(ann: Client, guest: Client) -> str:
    """A chat of guest's, given to ann (on whichever process) and synced by her."""
    await guest.send(type="start", client_id="c0", text=QUESTION)
    conversation = str((await guest.expect("ack"))["conversation"])
    await _assigned(ann, conversation)
    await ann.send(type="sync", conversation=conversation, after=0)
    await ann.expect("synced", conversation=conversation)
    return conversation


async def test_processes_started_at_once_bootstrap_once(cluster: Cluster) -> None:
    store = Store(cluster.database_url)
    try:
        found = await sites.all_sites(store)
        admins = [a for a in await agents.all_agents(store) if a.role == "admin"]
    finally:
        await store.close()
    assert [s.name for s in found] == ["Demo shop"]
    assert [a.email for a in admins] == [bootstrap.ADMIN_EMAIL]


async def test_visitor_on_one_process_and_agent_on_the_other_talk(cluster: Cluster) -> None:
    a, b = cluster.a, cluster.b
    site = await a.add_site()
    ann_account = await a.add_agent("ann@example.com", site)
    await a.add_agent("bob@example.com", site)
    bob = await agent(a, "bob@example.com")
    await bob.send(type="presence", status="away")  # so the chat can only go to ann
    await bob.expect("presence")
    ann = await agent(b, "ann@example.com")

    # Presence crosses processes: bob on A sees ann come online on B.
    seen = await _until(bob, "presence", lambda f: f["agent"]["id"] == ann_account.id)
    assert seen["agent"]["status"] == "online"

    guest = await visitor(a, site)
    await guest.send(type="start", client_id="c1", text=QUESTION)
    conversation = (await guest.expect("ack", ref="c1"))["conversation"]
    # Process A assigns the chat to ann, whose only socket is on process B.
    assert (await _assigned(ann, conversation))["conversation"]["agent"]["id"] == ann.me
    assert (await _assigned(guest, conversation))["conversation"]["agent"] == {"name": "ann"}
    assert (await _assigned(bob, conversation))["conversation"]["agent"]["name"] == "ann"

    await ann.send(type="sync", conversation=conversation, after=0)
    assert (await ann.expect("message", conversation=conversation, seq=1))["text"] == QUESTION
    await ann.expect("synced", conversation=conversation, last_seq=1)

    await guest.send(type="typing", conversation=conversation, active=True)
    typing = await ann.expect("typing", conversation=conversation)
    assert typing["author"]["kind"] == "visitor" and typing["active"] is True
    await ann.send(type="typing", conversation=conversation, active=True)
    # A typist's own socket does not hear their typing: the first typing the guest gets is ann's.
    typing = await guest.expect("typing", conversation=conversation)
    assert typing["author"]["name"] == "ann" and typing["conversation"] == conversation

    await ann.send(type="message", conversation=conversation, client_id="a1", text="Hello from B")
    assert (await ann.expect("ack", ref="a1"))["seq"] == 2
    reply = await guest.expect("message", conversation=conversation, seq=2)
    assert reply["text"] == "Hello from B" and reply["author"]["name"] == "ann"

    await guest.send(type="receipt", conversation=conversation, seq=2, status="read")
    receipt = await ann.expect("receipt", conversation=conversation, side="visitor")
    assert (receipt["status"], receipt["seq"]) == ("read", 2)
    await guest.send(type="message", conversation=conversation, client_id="c2", text="Hi from A")
    assert (await ann.expect("message", conversation=conversation, seq=3))["text"] == "Hi from A"
    await ann.send(type="receipt", conversation=conversation, seq=3, status="read")
    receipt = await guest.expect("receipt", conversation=conversation, side="agent")
    assert (receipt["status"], receipt["seq"]) == ("read", 3)

    await ann.send(type="close", conversation=conversation)
    await _until(guest, "conversation", lambda f: f["conversation"] == Chat(conversation, "closed"))
    await _until(bob, "conversation", lambda f: f["conversation"] == Chat(conversation, "closed"))

    # Ann leaves B: bob on A sees her go offline.
    await ann.close()
    gone = await _until(bob, "presence", lambda f: f["agent"]["id"] == ann_account.id)
    assert gone["agent"]["status"] == "offline"
    for client in (bob, guest):
        await client.close()


async def test_agents_on_two_processes_racing_for_one_chat_yield_one_winner(
    cluster: Cluster,
) -> None:
    a, b = cluster.a, cluster.b
    site = await a.add_site()
    await a.add_agent("ann@example.com", site)
    await a.add_agent("bob@example.com", site)
    ann, bob = await agent(a, "ann@example.com"), await agent(b, "bob@example.com")
    for client in (ann, bob):
        # Away agents pick chats from the queue by hand; nobody is assigned automatically.
        await client.send(type="presence", status="away")
        await client.expect("presence")
    winners = []
    for round_ in range(6):
        guest = await visitor(a if round_ % 2 else b, site)
        await guest.send(type="start", client_id=f"r{round_}", text=QUESTION)
        conversation = (await guest.expect("ack"))["conversation"]
        queued = Chat(conversation, "queued")
        for client in (ann, bob):
            await _until(client, "conversation", lambda f, q=queued: f["conversation"] == q)
        await asyncio.gather(
            ann.send(type="accept", conversation=conversation),
            bob.send(type="accept", conversation=conversation),
        )
        outcomes = {
            name: await _accept_outcome(client, conversation)
            for name, client in (("ann", ann), ("bob", bob))
        }
        assert sorted(outcomes.values()) == ["lost", "won"], outcomes
        winners.append(next(name for name, result in outcomes.items() if result == "won"))
        await guest.close()
    await ann.close()
    await bob.close()


async def _accept_outcome(client: Client, conversation: str) -> str:
    """Return "won" when the assignment names this client, "lost" on its conflict error."""
    while True:
        frame = await client.expect_any()
        if frame.get("type") == "error" and frame.get("ref") == conversation:
            assert frame["code"] == "conflict"
            return "lost"
        if frame.get("type") == "conversation" and frame["conversation"] == Chat(conversation, "assigned"):
            # Both agents see the assignment; only the winner's own accept is answered so.
            if frame["conversation"]["agent"]["id"] == client.me:
                return "won"


async def test_cap_holds_under_read_committed_when_two_processes_assign_at_once(
    pg_store: Store, postgres: Postgres,
) -> None:
    # A second engine on the same database stands for a second process.
    other = Store(pg_store.url)
    try:
        site = await sites.create(pg_store, "Shop", [])
        for round_ in range(8):
            ann = await agents.create(pg_store, f"ann{round_}@example.com", "Ann", "x" * 12,
                                      max_chats=1, site_ids=[site.id])
            chats = []
            for n in range(2):
                contact = await customers.create(pg_store, site.id)
                chat, _ = await conversations.open(pg_store, site.id, contact, f"c{n}")
                await conversations.queue(pg_store, chat.id)
                chats.append(chat.id)
            results = await asyncio.gather(
                conversations.assign(pg_store, chats[0], ann.id, cap=1),
                conversations.assign(other, chats[1], ann.id, cap=1),
                return_exceptions=True,
            )
            refused = [r for r in results if isinstance(r, IllegalTransition)]
            assert len(refused) == 1, results  # the cap of one chat held across "processes"
    finally:
        await other.close()


async def test_json_and_returning_work_on_postgresql(pg_store: Store) -> None:
    site = await sites.create(pg_store, "Shop", ["https://shop.example", "http://localhost:3000"])
    found = await sites.by_key(pg_store, site.public_key)
    assert found is not None and found.allowed_origins == site.allowed_origins
    contact = await customers.create(pg_store, site.id)
    chat, created = await conversations.open(pg_store, site.id, contact, "c1")
    writer = MessageWriter(pg_store)
    first = await writer.append(chat.id, "visitor", contact, "c1", "one")
    second = await writer.append(chat.id, "visitor", contact, "c2", "two")
    again = await writer.append(chat.id, "visitor", contact, "c2", "two")
    assert (first.message.seq, second.message.seq, again.message.seq) == (1, 2, 2)
    assert created and second.created and not again.created


async def test_redis_restart_mid_conversation_loses_no_message(cluster: Cluster) -> None:
    a, b = cluster.a, cluster.b
    site = await a.add_site()
    await a.add_agent("ann@example.com", site)
    ann = await agent(b, "ann@example.com")
    guest = await visitor(a, site)
    conversation = await _synced_chat(ann, guest)

    cluster.redis.kill()
    # Both sides keep writing while Redis is gone: every message is stored and acknowledged,
    # but no process can tell the other.
    for n in range(1, 4):
        await guest.send(type="message", conversation=conversation, client_id=f"c{n}", text=f"v{n}")
        await guest.expect("ack", ref=f"c{n}")
    await ann.send(type="message", conversation=conversation, client_id="a1", text="still here")
    await ann.expect("ack", ref="a1")
    await ann.quiet("message", seconds=0.5, text="v1")
    cluster.redis.start()

    # Each process reconnects, resubscribes, and tells its clients to catch up.
    for client in (ann, guest):
        resync = await client.expect("resync", timeout=RESUME_TIMEOUT)
        assert conversation in resync["conversations"]
    await _catch_up(ann, conversation)
    await _catch_up(guest, conversation)
    # And the live path works again.
    await guest.send(type="message", conversation=conversation, client_id="c9", text="live again")
    await guest.expect("ack", ref="c9", seq=6)  # the sender's own socket has the ack
    await ann.expect("message", conversation=conversation, seq=6, timeout=RESUME_TIMEOUT)

    for client in (ann, guest):
        seqs = sorted({f["seq"] for f in client.seen if f.get("type") in ("message", "ack")
                       and f["conversation"] == conversation})
        assert seqs == list(range(1, 7)), f"{client.me or 'visitor'} has {seqs}"
    texts = {f["text"] for f in ann.seen if f.get("type") == "message"}
    assert {"v1", "v2", "v3", "still here", "live again"} <= texts
    await ann.close()
    await guest.close()


async def _catch_up(client: Client, conversation: str) -> None:
    """Sync from the highest seq this client has, as the protocol tells clients to."""
    have = max((f["seq"] for f in client.seen
                if f.get("type") == "message" and f["conversation"] == conversation), default=0)
    await client.send(type="sync", conversation=conversation, after=have)
    await client.expect("synced", conversation=conversation)


async def test_an_article_edited_through_one_process_is_searchable_on_both(
    cluster: Cluster,
) -> None:
    store = Store(cluster.database_url)
    try:
        site = (await sites.all_sites(store))[0]
        # Each process builds its own Whoosh index from the shared store: an edit lands in
        # the store once and every process re-indexes it within seconds.
        fresh = Article.build(slug="loyalty-points", locale="en", title="Loyalty points",
                              body="Every euro you spend earns one loyalty point.",
                              tags=("loyalty",), synonyms=("rewards", "points"))
        await articles.replace_all(store, [*(await articles.all_articles(store)), fresh])
    finally:
        await store.close()
    for server in (cluster.a, cluster.b):
        guest = await visitor(server, site)
        for _ in range(60):
            await guest.send(type="search", text="how do loyalty rewards work")
            found = (await guest.expect("suggestions"))["articles"]
            if found and found[0]["slug"] == "loyalty-points":
                break
            await asyncio.sleep(0.25)
        else:
            raise AssertionError(f"{server.http} never indexed the new article")
        await guest.close()


@pytest.mark.parametrize("outage", ["stalled", "killed"])
async def test_chats_within_one_process_go_on_while_redis_is_stalled_or_gone(
    cluster: Cluster, outage: str
) -> None:
    a = cluster.a
    site = await a.add_site()
    await a.add_agent("ann@example.com", site)
    ann = await agent(a, "ann@example.com")
    guest = await visitor(a, site)
    conversation = await _synced_chat(ann, guest)
    redis = cluster.redis.process
    assert redis is not None
    if outage == "stalled":
        redis.send_signal(signal.SIGSTOP)  # alive, connected, silent: the harder case
    else:
        cluster.redis.kill()
    try:
        started = asyncio.get_running_loop().time()
        # Both people on process A keep talking, live, through the hub alone; no Redis call
        # holds a message up (each has a deadline, and a broker found down is not waited on).
        for n in range(1, 21):
            await guest.send(type="message", conversation=conversation, client_id=f"c{n}", text=f"v{n}")
            await guest.expect("ack", ref=f"c{n}", timeout=3)
            await ann.expect("message", conversation=conversation, text=f"v{n}", timeout=3)
        await ann.send(type="message", conversation=conversation, client_id="a1", text="still here")
        assert (await guest.expect("message", conversation=conversation, timeout=3))["text"] == "still here"
        assert asyncio.get_running_loop().time() - started < 10
    finally:
        if outage == "stalled":
            redis.send_signal(signal.SIGCONT)
        else:
            cluster.redis.start()
    # Fan-out between processes resumes by itself.
    await guest.expect("resync", timeout=RESUME_TIMEOUT)
    bob_account = await a.add_agent("bob@example.com", site)
    bob = await agent(cluster.b, "bob@example.com")
    await ann.send(type="presence", status="away")
    seen = await _until(bob, "presence", lambda f: f["agent"]["id"] == ann.me, timeout=RESUME_TIMEOUT)
    assert seen["agent"]["status"] == "away" and bob_account.id != ann.me
    for client in (ann, guest, bob):
        await client.close()


async def test_a_burst_of_chats_with_agents_accepting_on_two_processes_deadlocks_nobody(
    cluster: Cluster,
) -> None:
    """Routing locks an agent's row while accepts set agent_id (whose foreign key check locks
    the same row): 60 chats at once with both agents accepting, on PostgreSQL."""
    a, b = cluster.a, cluster.b
    site = await a.add_site()
    await a.add_agent("ann@example.com", site, max_chats=20)
    await a.add_agent("bob@example.com", site, max_chats=20)
    ann, bob = await agent(a, "ann@example.com"), await agent(b, "bob@example.com")
    guests = [await visitor(a if n % 2 else b, site) for n in range(60)]

    async def take_all(person: Client, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                frame = await person.expect("conversation", timeout=0.5)
            except AssertionError:
                continue
            if frame["conversation"]["status"] == "queued":
                await person.send(type="accept", conversation=frame["conversation"]["id"])

    stop = asyncio.Event()
    takers = [asyncio.create_task(take_all(p, stop)) for p in (ann, bob)]
    await asyncio.gather(*(g.send(type="start", client_id="s", text=QUESTION) for g in guests))
    chats = [(await g.expect("ack", timeout=20))["conversation"] for g in guests]
    await asyncio.sleep(3)
    stop.set()
    await asyncio.gather(*takers)

    # Every socket is still open and answers; nobody was told anything but "taken already".
    for person in (ann, bob, *guests):
        await person.send(type="ping")
        await person.expect("pong", timeout=10)
        assert {f["code"] for f in person.seen if f.get("type") == "error"} <= {"conflict"}
    store = Store(cluster.database_url)
    try:
        found = {c.id: c for c in await conversations.find(store, site_ids=[site.id])}
    finally:
        await store.close()
    assert set(chats) <= set(found)
    assert {found[c].status.value for c in chats} <= {"queued", "assigned"}
    # The two agents' 40 places are all used; the rest wait in the queue.
    assert sum(found[c].status.value == "assigned" for c in chats) >= 40
    for server in (a, b):
        log = server.log.read_text()
        assert "deadlock" not in log.lower() and "Exception in ASGI" not in log
    for person in (ann, bob, *guests):
        await person.close()
