"""A visitor and agents talking through the real server over real sockets."""

from __future__ import annotations

import asyncio
import signal

import pytest
from limit_clients import set_limits

from conftest import Chat, Client, Server, agent, visitor


@pytest.mark.shared_server
async def test_visitor_and_agent_talk(server: Server) -> None:
    site = await server.add_site()
    await server.add_agent("ann@example.com", site)
    ann = await agent(server, "ann@example.com")
    guest = await visitor(server, site)

    await guest.send(type="start", client_id="c1", text="Where is my parcel?")
    ack = await guest.expect("ack", ref="c1")
    conversation = ack["conversation"]
    assert ack["seq"] == 1 and ack["duplicate"] is False

    # Self-service first: help articles answer before anyone is asked.
    offered = await guest.expect("suggestions", conversation=conversation)
    assert "track-your-order" in [a["slug"] for a in offered["articles"]]
    await ann.quiet("conversation", conversation=Chat(conversation, "queued"))
    await guest.send(type="escalate", conversation=conversation)

    # The only online agent gets it without lifting a finger.
    event = await ann.expect("conversation")
    while event["conversation"]["status"] != "assigned":
        event = await ann.expect("conversation")
    assert event["conversation"]["agent"]["name"] == "ann"
    assigned = await guest.expect("conversation")
    while assigned["conversation"]["status"] != "assigned":
        assigned = await guest.expect("conversation")
    assert assigned["conversation"]["agent"] == {"name": "ann"}

    await ann.send(type="sync", conversation=conversation, after=0)
    first = await ann.expect("message", conversation=conversation)
    assert first["text"] == "Where is my parcel?" and first["author"]["kind"] == "visitor"
    await ann.expect("synced", conversation=conversation, last_seq=1)

    await ann.send(type="typing", conversation=conversation, active=True)
    typing = await guest.expect("typing", conversation=conversation)
    assert typing["author"]["name"] == "ann" and typing["active"] is True

    await ann.send(type="message", conversation=conversation, client_id="a1", text="On its way!")
    assert (await ann.expect("ack", ref="a1"))["seq"] == 2
    reply = await guest.expect("message", conversation=conversation, seq=2)
    assert reply["text"] == "On its way!" and reply["author"]["name"] == "ann"

    await guest.send(type="receipt", conversation=conversation, seq=2, status="read")
    receipt = await ann.expect("receipt", conversation=conversation)
    assert receipt == {
        "type": "receipt", "conversation": conversation, "side": "visitor", "status": "read",
        "seq": 2,
    }

    await guest.send(type="message", conversation=conversation, client_id="c2", text="Thanks")
    assert (await ann.expect("message", conversation=conversation, seq=3))["text"] == "Thanks"

    await guest.send(type="close", conversation=conversation)
    closed = await ann.expect("conversation")
    while closed["conversation"]["status"] != "closed":
        closed = await ann.expect("conversation")
    await guest.send(type="message", conversation=conversation, client_id="c3", text="hello?")
    refused = await guest.expect("error", ref="c3")
    assert refused["code"] == "conflict"
    for client in (ann, guest):
        await client.close()


@pytest.mark.shared_server
async def test_the_sending_tab_gets_the_ack_and_other_tabs_the_message(server: Server) -> None:
    site = await server.add_site()
    guest = await visitor(server, site)
    await guest.send(type="start", client_id="c1", text="qqzx wvvk")
    conversation = (await guest.expect("ack", ref="c1"))["conversation"]
    other_tab = await visitor(server, site, token=guest.token)
    await other_tab.send(type="sync", conversation=conversation, after=0)
    await other_tab.expect("synced", conversation=conversation, last_seq=1)

    await guest.send(type="typing", conversation=conversation, active=True)
    await guest.send(type="message", conversation=conversation, client_id="c2", text="Anyone?")
    ack = await guest.expect("ack", ref="c2")
    copy = await other_tab.expect("message", conversation=conversation, seq=2)
    assert (copy["id"], copy["created_at"], copy["client_id"]) == (ack["id"], ack["created_at"], "c2")
    # The sending socket already knows both: no copy of its message, no echo of its typing.
    await guest.quiet("message")
    await guest.quiet("typing")
    for client in (guest, other_tab):
        await client.close()


@pytest.mark.shared_server
async def test_two_agents_racing_for_one_chat_yield_one_winner(server: Server) -> None:
    site = await server.add_site()
    await server.add_agent("ann@example.com", site)
    await server.add_agent("bob@example.com", site)
    ann, bob = await agent(server, "ann@example.com"), await agent(server, "bob@example.com")
    # Away agents get no chats by themselves, so both must pick them from the queue.
    for client in (ann, bob):
        await client.send(type="presence", status="away")
        await client.expect("presence")
    for round_ in range(5):
        guest = await visitor(server, site)
        await guest.send(type="start", client_id=f"r{round_}", text="anyone there?")
        conversation = (await guest.expect("ack"))["conversation"]
        await ann.expect("conversation", timeout=5)
        await asyncio.gather(
            ann.send(type="accept", conversation=conversation),
            bob.send(type="accept", conversation=conversation),
        )
        outcomes = []
        for client in (ann, bob):
            frame = await _first_of(client, conversation)
            outcomes.append(frame["type"])
        assert sorted(outcomes) == ["conversation", "error"], outcomes
        await guest.close()
    await ann.close()
    await bob.close()


async def _first_of(client: Client, conversation: str) -> dict[str, object]:
    """Return the accept outcome for this client: its error, or the assignment event."""
    while True:
        frame = await client.expect_any()
        if frame.get("type") == "error" and frame.get("ref") == conversation:
            return frame
        if frame.get("type") == "conversation":
            body = frame["conversation"]
            if body["id"] == conversation and body["status"] == "assigned":  # type: ignore[index]
                mine = body["agent"]["id"] == client.me  # type: ignore[index]
                if mine:
                    return frame


@pytest.mark.shared_server
async def test_reconnect_receives_exactly_what_was_missed(server: Server) -> None:
    site = await server.add_site()
    await server.add_agent("ann@example.com", site)
    ann = await agent(server, "ann@example.com")
    guest = await visitor(server, site)
    await guest.send(type="start", client_id="c1", text="hi")
    conversation = (await guest.expect("ack"))["conversation"]
    await ann.expect("conversation", conversation=Chat(conversation, "assigned", {"id": ann.me}))
    await ann.send(type="sync", conversation=conversation, after=0)
    await ann.expect("synced", conversation=conversation)
    await guest.close()

    for n in range(3):
        await ann.send(type="message", conversation=conversation, client_id=f"a{n}", text=f"m{n}")
        await ann.expect("ack", ref=f"a{n}")

    back = await visitor(server, site, token=guest.token)
    await back.send(type="sync", conversation=conversation, after=1)
    got = [await back.expect("message", conversation=conversation) for _ in range(3)]
    assert [m["seq"] for m in got] == [2, 3, 4]
    assert [m["text"] for m in got] == ["m0", "m1", "m2"]
    assert (await back.expect("synced", conversation=conversation))["last_seq"] == 4
    await back.quiet("message")
    # Still live after the resume.
    await ann.send(type="message", conversation=conversation, client_id="a9", text="live")
    assert (await back.expect("message", conversation=conversation))["seq"] == 5
    await ann.close()
    await back.close()


async def test_sigkill_loses_no_acknowledged_message_and_stores_none_twice(
    server: Server,
) -> None:
    site = await server.add_site()
    # Thousands of messages a second from one visitor: no person's pace, so the site allows it.
    await set_limits(server, site, {"message": {"visitor": [100_000, 60], "network": [100_000, 60]}})
    guest = await visitor(server, site)
    await guest.send(type="start", client_id="c0", text="hello")
    conversation = (await guest.expect("ack"))["conversation"]

    acked: dict[str, int] = {}

    async def write() -> None:
        for n in range(1, 10_000):
            await guest.send(type="message", conversation=conversation, client_id=f"c{n}", text=f"m{n}")
            if n % 10 == 0:
                while len(acked) < n - 20:
                    frame = await guest.expect("ack")
                    acked[frame["ref"]] = frame["seq"]

    writer = asyncio.create_task(write())
    while len(acked) < 200:
        await asyncio.sleep(0.01)
    server.stop(signal.SIGKILL)
    try:
        await asyncio.wait_for(writer, 5)
    except Exception:
        pass
    # Collect acks that made it to us before the kill.
    for frame in guest.seen:
        if frame.get("type") == "ack":
            acked[frame["ref"]] = frame["seq"]
    server.start()

    back = await visitor(server, site, token=guest.token)
    # Resend everything unacknowledged plus some acknowledged ones: resends are idempotent.
    last_sent = max(int(ref[1:]) for ref in acked)
    for n in range(last_sent - 5, last_sent + 5):
        await back.send(type="message", conversation=conversation, client_id=f"c{n}", text=f"m{n}")
        frame = await back.expect("ack", ref=f"c{n}")
        if f"c{n}" in acked:
            assert frame["duplicate"] is True and frame["seq"] == acked[f"c{n}"]
    await back.send(type="sync", conversation=conversation, after=0)
    stored: dict[str, int] = {}
    while True:
        frame = await back.expect_any()
        if frame.get("type") == "synced":
            if not frame["more"]:
                break
            await back.send(type="sync", conversation=conversation, after=frame["last_seq"])
        elif frame.get("type") == "message":
            assert frame["client_id"] not in stored, "a message was stored twice"
            stored[frame["client_id"]] = frame["seq"]
    for ref, seq in acked.items():
        assert stored.get(ref) == seq, f"acknowledged {ref} lost"
    assert sorted(stored.values()) == list(range(1, len(stored) + 1))
    await back.close()
