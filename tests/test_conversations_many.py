"""Several conversations per visitor (issue 17): the visitor's list, starting another while one
is open, continuing an earlier one, and a closed one that no longer holds a visitor back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from chatserver import customers, protocol, sites
from chatserver.chat import conversations
from chatserver.chat.messages import MessageWriter
from chatserver.chat.model import Conversation, LastLine, Status
from chatserver.store import Store
from conftest import Chat, Client, Server, agent, assigned_chat, visitor, visitor_token

# No help article answers these, so each is queued for a person at once.
FIRST, SECOND = "zxqv my blender hums", "qwzx and the kettle clicks"


async def _listed(guest: Client) -> list[dict[str, object]]:
    await guest.send(type="conversations")
    return list((await guest.expect("conversations"))["conversations"])


@pytest.mark.shared_server
async def test_a_closed_conversation_does_not_hold_back_a_returning_visitor(server: Server) -> None:
    site = await server.add_site()
    await server.add_agent("ann@example.com", site)
    ann = await agent(server, "ann@example.com")
    token = await visitor_token(server, site)
    guest = await visitor(server, site, token)
    first = await assigned_chat(ann, guest, FIRST)
    await ann.send(type="close", conversation=first)
    await guest.expect("conversation", conversation=Chat(first, "closed"))
    await guest.close()

    # Back the next day with the same token: nothing open, the closed chat listed, a new start.
    back = await visitor(server, site, token)
    assert [c["id"] for c in back.seen[0]["conversations"]] == []
    assert [(c["id"], c["status"]) for c in await _listed(back)] == [(first, "closed")]
    await back.send(type="start", client_id="s2", text=SECOND)
    second = (await back.expect("ack", ref="s2"))["conversation"]
    assert second != first
    await ann.expect("conversation", conversation=Chat(second, "assigned"))
    # Writing in the closed one is refused with a reason and stores nothing there.
    await back.send(type="message", conversation=first, client_id="late", text="one more thing")
    refused = await back.expect("error", ref="late")
    assert refused["code"] == "conflict" and "start a new one" in refused["message"]
    await back.send(type="sync", conversation=first, after=0)
    assert (await back.expect("synced", conversation=first))["last_seq"] == 1
    for client in (ann, back):
        await client.close()


@pytest.mark.shared_server
async def test_a_second_conversation_while_the_first_is_open_and_the_first_continued(
    server: Server,
) -> None:
    site = await server.add_site()
    await server.add_agent("ann@example.com", site)
    ann = await agent(server, "ann@example.com")
    guest = await visitor(server, site)
    first = await assigned_chat(ann, guest, FIRST)
    await ann.send(type="sync", conversation=first, after=0)  # as the console does when given it
    await ann.expect("synced", conversation=first)
    await ann.send(type="message", conversation=first, client_id="a1", text="Which model?")
    await guest.expect("message", conversation=first, seq=2)

    await guest.send(type="start", client_id="s2", text=SECOND)
    second = (await guest.expect("ack", ref="s2"))["conversation"]
    await ann.expect("conversation", conversation=Chat(second, "assigned"))

    # Open first, the most recently active first; each with its last line and when.
    listed = await _listed(guest)
    assert [(c["id"], c["status"]) for c in listed] == [(second, "assigned"), (first, "assigned")]
    assert listed[0]["last"] == {"text": SECOND, "author": "visitor"}
    assert listed[1]["last"] == {"text": "Which model?", "author": "agent"}
    assert listed[0]["updated_at"] >= listed[1]["updated_at"]  # type: ignore[operator]

    # The first goes on where it was: the agent reads the new line in the first, not the second.
    await guest.send(type="message", conversation=first, client_id="m3", text="The KX-200")
    assert (await guest.expect("ack", ref="m3"))["seq"] == 3
    said = await ann.expect("message", conversation=first, seq=3)
    assert said["text"] == "The KX-200"
    assert (await _listed(guest))[0]["id"] == first
    for client in (ann, guest):
        await client.close()


@pytest.mark.shared_server
async def test_the_list_never_shows_another_contacts_conversations(server: Server) -> None:
    site, other_site = await server.add_site(), await server.add_site("Other")
    mine, theirs, elsewhere = (await visitor(server, site), await visitor(server, site),
                               await visitor(server, other_site))
    for n, guest in enumerate((mine, theirs, elsewhere)):
        await guest.send(type="start", client_id=f"s{n}", text=f"{FIRST} {n}")
        await guest.expect("ack", ref=f"s{n}")
    own = await _listed(mine)
    assert [c["last"] for c in own] == [{"text": f"{FIRST} 0", "author": "visitor"}]
    # Nothing about other people but the agent's name: the same keys a visitor's chat has.
    assert set(own[0]) == {"id", "status", "agent", "last_seq", "agent_read_seq", "created_at",
                           "resolution", "rating", "updated_at", "last"}
    # Another's conversation, seen in no list, stays as unknown as a missing one.
    their_id = (await _listed(theirs))[0]["id"]
    await mine.send(type="sync", conversation=their_id, after=0)
    assert (await mine.expect("error", conversation=None))["code"] == "not_found"
    # A frame with keys the list does not take is still a list: clients ignore, servers drop.
    await mine.ws.send('{"type": "conversations", "site": "' + other_site.id + '"}')
    assert [c["id"] for c in (await mine.expect("conversations"))["conversations"]] == [own[0]["id"]]
    for client in (mine, theirs, elsewhere):
        await client.close()


async def test_an_agent_cannot_ask_for_a_visitors_list(server: Server) -> None:
    site = await server.add_site()
    await server.add_agent("ann@example.com", site)
    ann = await agent(server, "ann@example.com")
    await ann.send(type="conversations")
    assert (await ann.expect("error"))["code"] == "unknown_type"
    await ann.close()


# The store's list and the frame's shape, without sockets --------------------------------


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    opened = Store(store_url)
    await opened.migrate()
    yield opened
    await opened.close()


async def test_the_list_is_open_first_then_recent_and_bounded(store: Store) -> None:
    site = await sites.create(store, "Shop", [])
    contact = await customers.create(store, site.id)
    writer = MessageWriter(store)
    made = []
    try:
        for n in range(conversations.RECENT_LIMIT + 3):
            conversation, _ = await conversations.open(store, site.id, contact, f"c{n}")
            await writer.append(conversation.id, "visitor", contact, f"c{n}", f"question {n}")
            made.append(conversation.id)
            await asyncio.sleep(0.002)  # one millisecond apart at least: an order to check
        # The oldest one had the last word: it comes first among the closed.
        await writer.append(made[0], "agent", "a1", "late", "late agent line")
    finally:
        writer.close()
    for closed in made[:-2]:
        await conversations.close(store, closed)
    found = await conversations.recent(store, site.id, contact)
    assert len(found) == conversations.RECENT_LIMIT
    assert [c.id for c, _ in found[:4]] == [made[-1], made[-2], made[0], made[-3]]
    assert [c.status for c, _ in found[:3]] == [Status.NEW, Status.NEW, Status.CLOSED]
    assert found[2][1] == LastLine("late agent line", "agent", found[2][1].at if found[2][1] else 0)
    assert made[1] not in [c.id for c, _ in found]  # the least recently active fell off
    other = await customers.create(store, site.id)
    assert await conversations.recent(store, site.id, other) == []


def test_the_frame_shows_one_line_of_the_last_message() -> None:
    chat = Conversation("c1", "s1", "k1", Status.CLOSED, "a1", "Ann", None, 4, 0, 4, 10, None,
                        None, "good", "chat")
    event = protocol.conversation_list([
        (chat, LastLine("Thanks!\n\n  Bye " + "x" * 300, "agent", 99)),
        (chat, None),
    ])
    assert event["type"] == "conversations"
    first, empty = event["conversations"]
    assert first["last"]["text"] == ("Thanks! Bye " + "x" * 300)[: protocol.PREVIEW_CHARS]
    assert first["updated_at"] == 99 and first["agent"] == {"name": "Ann"} and first["rating"] == "good"
    assert empty["last"] is None and empty["updated_at"] == 10
    assert protocol.parse('{"type": "conversations"}', 1000) == {"type": "conversations"}
