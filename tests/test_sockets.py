"""What the sockets refuse: bad frames, bad tokens, foreign origins, other people's chats."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from chatserver.store import Store
from chatserver.store.schema import instance, messages
from conftest import Chat, Client, Server, agent, login, visitor, visitor_token


async def _stored_messages(server: Server) -> int:
    store = Store(server.store_url)
    try:
        async with store.read() as conn:
            return int((await conn.execute(select(func.count()).select_from(messages))).scalar_one())
    finally:
        await store.close()


async def _closedChat(client_ws: object, code: int) -> None:
    with pytest.raises(ConnectionClosed) as closed:
        for _ in range(10):
            await asyncio.wait_for(client_ws.recv(), 5)  # type: ignore[attr-defined]
    assert closed.value.rcvd is not None and closed.value.rcvd.code == code


async def test_bad_frames_get_an_error_and_store_nothing(server: Server) -> None:
    site = await server.add_site()
    guest = await visitor(server, site)
    await guest.send(type="start", client_id="c1", text="hello")
    conversation = (await guest.expect("ack"))["conversation"]
    before = await _stored_messages(server)

    cases = [
        ("not json at all", "invalid_json"),
        (json.dumps({"type": "explode"}), "unknown_type"),
        (json.dumps({"type": "accept", "conversation": conversation}), "unknown_type"),
        (json.dumps({"type": "message", "conversation": conversation, "client_id": "x"}),
         "invalid_message"),
        (json.dumps({"type": "message", "conversation": conversation, "client_id": "x",
                     "text": "y" * 20_000}), "too_large"),
        (json.dumps({"type": "hello", "token": "again"}), "invalid_message"),
        ("[" * 5000 + "]" * 5000, "invalid_json"),
        (json.dumps({"type": "message", "conversation": conversation, "client_id": "x",
                     "text": "\ud800"}), "invalid_json"),  # json.dumps escapes it: a lone surrogate
        (json.dumps({"type": "sync", "conversation": conversation, "after": 2**63}), "invalid_json"),
    ]
    for frame, code in cases:
        await guest.ws.send(frame)
        assert (await guest.expect("error"))["code"] == code, frame[:60]
    await guest.ws.send(b'{"type":"ping"}')
    assert (await guest.expect("error"))["code"] == "invalid_json"
    assert await _stored_messages(server) == before

    # Far past the limit the transport itself closes the socket (1009), before buffering it.
    await guest.ws.send("z" * (5 * 16 * 1024))
    await _closedChat(guest.ws, 1009)
    # Nothing lost, and the server still serves everyone.
    back = await visitor(server, site, token=guest.token)
    await back.send(type="sync", conversation=conversation, after=0)
    assert (await back.expect("message", conversation=conversation))["text"] == "hello"
    await back.send(type="ping")
    await back.expect("pong")
    await back.close()


@pytest.mark.shared_server
async def test_wrong_or_expired_or_foreign_tokens_are_refused(server: Server) -> None:
    site, other = await server.add_site("A"), await server.add_site("B")
    url = f"{server.ws}/ws/visitor?site={site.public_key}"

    async def hello(token: str) -> dict[str, object]:
        async with connect(url, origin=server.http) as ws:  # type: ignore[arg-type]
            await ws.send(json.dumps({"type": "hello", "token": token}))
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            await _closedChat(ws, 4401)
            return frame

    assert (await hello("garbage"))["code"] == "unauthorized"
    # A valid token of another site does not open this one.
    assert (await hello(await visitor_token(server, other)))["code"] == "unauthorized"
    # A token signed with the real secret but issued long ago has expired.
    store = Store(server.store_url)
    async with store.read() as conn:
        secret = (await conn.execute(select(instance.c.value))).scalar_one()
    await store.close()
    good = await visitor_token(server, site)
    contact = URLSafeTimedSerializer(secret, salt="chatserver.visitor").loads(good)["c"]

    class Old(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 200 * 24 * 3600

    expired = URLSafeTimedSerializer(secret, salt="chatserver.visitor", signer=Old).dumps(
        {"s": site.id, "c": contact}
    )
    assert (await hello(expired))["code"] == "unauthorized"
    # No hello at all: the first frame must be hello.
    async with connect(url, origin=server.http) as ws:  # type: ignore[arg-type]
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await ws.recv())["code"] == "unauthorized"
        await _closedChat(ws, 4401)


@pytest.mark.shared_server
async def test_foreign_origins_are_refused_at_the_handshake(server: Server) -> None:
    site = await server.add_site(origins=["https://shop.example"])
    for origin in ("https://evil.example", None, "null"):
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"{server.ws}/ws/visitor?site={site.public_key}", origin=origin)  # type: ignore[arg-type]
        assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus):
        await connect(f"{server.ws}/ws/visitor?site=site_nope", origin=server.http)  # type: ignore[arg-type]
    # The allowed origin gets in; so does the server's own.
    for origin in ("https://shop.example", server.http):
        async with connect(f"{server.ws}/ws/visitor?site={site.public_key}", origin=origin):  # type: ignore[arg-type]
            pass
    # The token endpoint answers CORS for allowed origins only.
    async with httpx.AsyncClient() as http:
        url = f"{server.http}/api/v1/sites/{site.public_key}/visitors"
        denied = await http.post(url, json={}, headers={"Origin": "https://evil.example"})
        assert denied.status_code == 403 and denied.json()["code"] == "forbidden"
        allowed = await http.options(url, headers={"Origin": "https://shop.example"})
        assert allowed.headers["access-control-allow-origin"] == "https://shop.example"
        bad = await http.post(url, content=b"{", headers={"Origin": "https://shop.example"})
        assert bad.status_code == 400 and bad.json()["code"] == "invalid_json"
    # An agent socket from another origin is refused even with a valid session.
    await server.add_agent("ann@example.com", site)
    cookie = await login(server, "ann@example.com")
    with pytest.raises(InvalidStatus) as refused:
        await connect(f"{server.ws}/ws/agent", origin="https://evil.example",  # type: ignore[arg-type]
                      additional_headers={"Cookie": f"chatserver_session={cookie}"})
    assert refused.value.response.status_code == 403


@pytest.mark.shared_server
async def test_agent_needs_a_valid_session(server: Server) -> None:
    async with httpx.AsyncClient() as http:
        wrong = await http.post(f"{server.http}/api/v1/login",
                                json={"email": "nobody@example.com", "password": "x" * 12})
    assert wrong.status_code == 401 and wrong.json()["code"] == "unauthorized"
    for cookie in ("", "chatserver_session=forged"):
        async with connect(f"{server.ws}/ws/agent", additional_headers={"Cookie": cookie}) as ws:
            assert json.loads(await ws.recv())["code"] == "unauthorized"
            await _closedChat(ws, 4401)


async def test_one_visitor_cannot_touch_another_visitors_conversation(server: Server) -> None:
    """The isolation matrix: two sites, two visitors, every message type that names a chat."""
    site_a, site_b = await server.add_site("A"), await server.add_site("B")
    await server.add_agent("ann@example.com", site_a)
    await server.add_agent("bob@example.com", site_b)
    ann, bob = await agent(server, "ann@example.com"), await agent(server, "bob@example.com")
    alice = await visitor(server, site_a)
    mallory_a = await visitor(server, site_a)
    mallory_b = await visitor(server, site_b)
    await alice.send(type="start", client_id="s1", text="my address is secret street 1")
    target = (await alice.expect("ack"))["conversation"]
    before = await _stored_messages(server)

    attempts = [
        {"type": "message", "conversation": target, "client_id": "x1", "text": "hijack"},
        {"type": "typing", "conversation": target, "active": True},
        {"type": "receipt", "conversation": target, "seq": 1, "status": "read"},
        {"type": "sync", "conversation": target, "after": 0},
        {"type": "escalate", "conversation": target},
        {"type": "close", "conversation": target},
    ]
    agent_attempts = [
        {"type": "accept", "conversation": target},
        {"type": "transfer", "conversation": target, "agent": bob.me},
        *[a for a in attempts if a["type"] != "escalate"],
    ]
    for intruder, tries in ((mallory_a, attempts), (mallory_b, attempts), (bob, agent_attempts)):
        for frame in tries:
            await intruder.send(**frame)
            error = await intruder.expect("error")
            assert error["code"] == "not_found", (frame, error)
        await intruder.quiet("message")
    assert await _stored_messages(server) == before
    # Nothing of site A reached site B's agent, while site A's agent saw it all.
    assert not [f for f in bob.seen if f.get("type") == "conversation"]
    await ann.expect("conversation")
    await alice.send(type="sync", conversation=target, after=0)
    await alice.expect("synced", conversation=target, last_seq=1)
    for client in (ann, bob, alice, mallory_a, mallory_b):
        await client.close()


@pytest.mark.shared_server
async def test_transfer_close_and_presence(server: Server) -> None:
    site = await server.add_site()
    await server.add_agent("ann@example.com", site, max_chats=1)
    await server.add_agent("bob@example.com", site, max_chats=1)
    ann = await agent(server, "ann@example.com")
    bob = await agent(server, "bob@example.com")
    await bob.send(type="presence", status="away")
    presence = await ann.expect("presence", agent={"id": bob.me, "name": "bob", "status": "away"})
    assert presence

    first = await visitor(server, site)
    await first.send(type="start", client_id="c1", text="hi there")
    one = (await first.expect("ack"))["conversation"]
    await _assigned(ann, one, ann.me)

    # Ann is at her cap of 1 and Bob is away: the second chat waits in the queue.
    second = await visitor(server, site)
    await second.send(type="start", client_id="c1", text="hello?")
    two = (await second.expect("ack"))["conversation"]
    await ann.expect("conversation", conversation=Chat(two, "queued"))
    await ann.quiet("conversation", conversation=Chat(two, "assigned"))

    # Bob cannot write in Ann's chat, nor close or transfer it.
    await bob.send(type="message", conversation=one, client_id="b1", text="hi")
    assert (await bob.expect("error", ref="b1"))["code"] == "forbidden"
    await bob.send(type="close", conversation=one)
    assert (await bob.expect("error", ref=one))["code"] == "conflict"

    await ann.send(type="transfer", conversation=one, agent=bob.me)
    await _assigned(bob, one, bob.me)
    await first.expect("conversation", conversation=Chat(one, "assigned", {"name": "bob"}))
    # Ann's slot is free again, so the waiting chat comes to her at once.
    await _assigned(ann, two, ann.me)

    await bob.send(type="message", conversation=one, client_id="b2", text="bob here")
    await bob.expect("ack", ref="b2")
    assert (await first.expect("message", conversation=one))["text"] == "bob here"
    await first.send(type="sync", conversation=one, after=0)
    texts = [(await first.expect("message", conversation=one))["text"] for _ in range(2)]
    assert texts == ["hi there", "bob here"]

    await ann.send(type="close", conversation=two)
    await second.expect("conversation", conversation=Chat(two, "closed", {"name": "ann"}))
    await bob.close()
    await ann.expect("presence", agent={"id": bob.me, "name": "bob", "status": "offline"})
    for client in (ann, first, second):
        await client.close()


async def _assigned(client: Client, conversation_id: str, agent_id: str | None) -> None:
    assert agent_id is not None
    await client.expect("conversation", conversation=Chat(conversation_id, "assigned",
                                                           {"id": agent_id}))
