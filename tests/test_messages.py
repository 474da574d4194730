"""Chat messages' one append path, the group commit (chatserver/chat/messages.py), on a
real store: SQLite, or PostgreSQL with CHATSERVER_TEST_DATABASE=postgresql. Many appends at
once share transactions, yet each message is stored once, numbered in order, and refused
exactly when it was refused before."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from chatserver import agents, customers, sites
from chatserver.chat import conversations, messages
from chatserver.chat.messages import MAX_PENDING, MessageWriter, Overloaded
from chatserver.chat.model import ConversationClosed, NotHolder
from chatserver.store import Store


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    opened = Store(store_url)
    await opened.migrate()
    yield opened
    await opened.close()


async def _chat(store: Store) -> tuple[str, str, str]:
    site = await sites.create(store, "Shop", [])
    contact = await customers.create(store, site.id)
    chat, _ = await conversations.open(store, site.id, contact, "s")
    writer = MessageWriter(store)
    await writer.append(chat.id, "visitor", contact, "s", "hello")
    writer.close()
    return site.id, chat.id, contact


async def test_concurrent_appends_are_numbered_once_each_with_duplicates_in_one_batch(
    store: Store,
) -> None:
    _, chat, contact = await _chat(store)
    writer = MessageWriter(store)
    # 50 distinct messages, each sent three times at once: resends land in the same batch.
    results = await asyncio.gather(*(
        writer.append(chat, "visitor", contact, f"m{n % 50}", f"text {n % 50}")
        for n in range(150)
    ))
    stored = await messages.after(store, chat, 0)
    assert [m.seq for m in stored] == list(range(1, 52))
    assert len({m.client_id for m in stored}) == 51
    created = [message for message, fresh, _ in results if fresh]
    assert len(created) == 50
    for message, _, _ in results:
        original = next(m for m in stored if m.client_id == message.client_id)
        assert (message.id, message.seq) == (original.id, original.seq)
    # A resend long after the first copy committed is found, not stored again.
    again, fresh, _ = await writer.append(chat, "visitor", contact, "m7", "text 7")
    assert not fresh and again.seq == next(m.seq for m in stored if m.client_id == "m7")
    writer.close()


async def test_one_refusal_does_not_fail_the_rest_of_the_batch(store: Store) -> None:
    site, open_chat, contact = await _chat(store)
    other = await customers.create(store, site)
    closed_chat, _ = await conversations.open(store, site, other, "s")
    await conversations.close(store, closed_chat.id)
    agent = await agents.create(store, "ann@example.com", "Ann", "a-password-123", site_ids=[site])
    writer = MessageWriter(store)
    results = await asyncio.gather(
        writer.append(open_chat, "visitor", contact, "ok", "still open"),
        writer.append(closed_chat.id, "visitor", other, "late", "too late"),
        writer.append(open_chat, "agent", agent.id, "a1", "not mine", holder=agent.id),
        writer.append("no-such-chat", "visitor", contact, "x", "nowhere"),
        return_exceptions=True,
    )
    assert isinstance(results[0], tuple) and results[0][0].seq == 2
    assert isinstance(results[1], ConversationClosed)
    assert isinstance(results[2], NotHolder)
    assert isinstance(results[3], ConversationClosed)
    assert [m.body for m in await messages.after(store, open_chat, 0)] == [
        "hello", "still open",
    ]
    writer.close()


async def test_batches_of_one_store_the_same(store: Store) -> None:
    _, chat, contact = await _chat(store)
    writer = MessageWriter(store, max_batch=1)
    await asyncio.gather(*(writer.append(chat, "visitor", contact, f"m{n}", "x") for n in range(20)))
    assert [m.seq for m in await messages.after(store, chat, 0)] == list(range(1, 22))
    writer.close()


async def test_past_its_backlog_the_writer_refuses_at_once_and_stores_what_it_took(
    store: Store,
) -> None:
    _, chat, contact = await _chat(store)
    writer = MessageWriter(store)
    offered = MAX_PENDING + 100
    results = await asyncio.gather(
        *(writer.append(chat, "visitor", contact, f"m{n}", "x") for n in range(offered)),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, Overloaded)]
    assert len(refused) == 100  # told at once, nothing stored for them: the client sends again
    stored = await messages.after(store, chat, 1, limit=offered)
    assert len(stored) == MAX_PENDING and stored[-1].seq == MAX_PENDING + 1
    again = await writer.append(chat, "visitor", contact, f"m{offered - 1}", "x")
    assert again.created  # once the backlog is gone, the refused message is taken
    writer.close()
