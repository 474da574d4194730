"""Private notes in a chat: agents of the site see them, the visitor never does."""

from __future__ import annotations

import pytest

from conftest import Client, Server, agent, visitor


async def _queued(server: Server, customer: Client, text: str) -> str:
    await customer.send(type="start", client_id="q1", text=text)
    conversation = str((await customer.expect("ack"))["conversation"])
    await customer.send(type="escalate", conversation=conversation)
    return conversation


@pytest.mark.shared_server
async def test_notes_reach_the_sites_agents_and_never_the_visitor(server: Server) -> None:
    site = await server.add_site("Acme")
    other_site = await server.add_site("Other")
    await server.add_agent("ann@example.com", site)
    await server.add_agent("bob@example.com", site)
    await server.add_agent("eve@example.com", other_site)
    customer = await visitor(server, site)
    ann, bob, eve = [await agent(server, f"{n}@example.com") for n in ("ann", "bob", "eve")]
    try:
        for person in (ann, bob):  # nobody is given the chat: ann takes it by hand
            await person.send(type="presence", status="away")
            await person.send(type="ping")
            await person.expect("pong")  # frames are handled in order: the presence is set
        conversation = await _queued(server, customer, "zxqv my blender hums")
        await ann.send(type="accept", conversation=conversation)
        await customer.expect("conversation", timeout=5)
        await bob.send(type="sync", conversation=conversation, after=0)
        await bob.expect("synced", conversation=conversation)

        # Bob, who does not hold the chat, leaves a note; Ann too, then answers the visitor.
        await bob.send(type="note", conversation=conversation, client_id="n1", text="VIP: be kind")
        stored = await bob.expect("note", conversation=conversation, client_id="n1")
        assert stored["text"] == "VIP: be kind"
        assert stored["author"] == {"kind": "agent", "id": bob.me, "name": "bob"}
        await ann.send(type="sync", conversation=conversation, after=0)
        seen = await ann.expect("note", conversation=conversation, client_id="n1")
        assert seen["id"] == stored["id"]
        await ann.send(type="note", conversation=conversation, client_id="n2", text="checking stock")
        assert (await bob.expect("note", client_id="n2"))["author"]["id"] == ann.me
        # A resent note is the same note, told again only to the sender.
        await bob.send(type="note", conversation=conversation, client_id="n1", text="VIP: be kind")
        assert (await bob.expect("note", client_id="n1"))["id"] == stored["id"]
        await ann.quiet("note", client_id="n1")
        await ann.send(type="message", conversation=conversation, client_id="m1", text="Hello!")
        await customer.expect("message", conversation=conversation, text="Hello!")

        # The visitor: no note frames, none in a fresh sync, and they cannot write one.
        await customer.send(type="sync", conversation=conversation, after=0)
        await customer.expect("synced", conversation=conversation)
        assert not [f for f in customer.seen if f["type"] == "note"]
        assert all("VIP" not in str(f) and "stock" not in str(f) for f in customer.seen)
        await customer.send(type="note", conversation=conversation, client_id="x", text="hi")
        assert (await customer.expect("error", ref="x"))["code"] == "unknown_type"
        # Sequence numbers stay gapless for the visitor: notes are not messages.
        messages = [f["seq"] for f in customer.seen if f["type"] == "message"]
        assert sorted(set(messages)) == [1, 2]

        # An agent of another site can neither read nor write the notes: it looks missing.
        await eve.send(type="sync", conversation=conversation, after=0)
        assert (await eve.expect("error", ref=conversation))["code"] == "not_found"
        await eve.send(type="note", conversation=conversation, client_id="e1", text="peek")
        assert (await eve.expect("error", ref="e1"))["code"] == "not_found"
        assert not [f for f in eve.seen if f["type"] == "note"]

        # A note that is too long is refused with a clear error and stores nothing.
        await ann.send(type="note", conversation=conversation, client_id="big", text="x" * 5001)
        assert (await ann.expect("error", ref="big"))["code"] == "too_large"
        late = await agent(server, "bob@example.com")
        await late.send(type="sync", conversation=conversation, after=0)
        await late.expect("synced", conversation=conversation)
        assert [f["client_id"] for f in late.seen if f["type"] == "note"] == ["n1", "n2"]
        await late.close()
    finally:
        for client in (customer, ann, bob, eve):
            await client.close()
