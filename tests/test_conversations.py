"""The conversation state machine and its conditional writes, on a real store (SQLite, or
PostgreSQL with CHATSERVER_TEST_DATABASE=postgresql)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from chatserver import agents, customers, sites
from chatserver.chat import conversations, messages, model
from chatserver.chat.messages import MessageWriter
from chatserver.chat.model import TRANSITIONS, ConversationClosed, IllegalTransition, Status
from chatserver.store import Store


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    opened = Store(store_url)
    await opened.migrate()
    yield opened
    await opened.close()


async def _conversation(store: Store) -> model.Conversation:
    site = await sites.create(store, "Shop", [])
    contact = await customers.create(store, site.id)
    conversation, _ = await conversations.open(store, site.id, contact, "c1")
    await _append(store, conversation.id, "visitor", contact, "c1", "hello")
    return conversation


async def _append(
    store: Store, conversation_id: str, kind: model.AuthorKind, author: str, client_id: str, text: str
) -> tuple[model.ChatMessage, bool]:
    writer = MessageWriter(store)
    try:
        stored = await writer.append(conversation_id, kind, author, client_id, text)
    finally:
        writer.close()
    return stored.message, stored.created


def test_closed_is_final_and_every_status_is_reachable() -> None:
    assert TRANSITIONS[Status.CLOSED] == frozenset()
    into_assigned = {s for s, targets in TRANSITIONS.items() if Status.ASSIGNED in targets}
    # Agents take new chats too, from every list that shows them: "new" is no dead end.
    assert into_assigned == {Status.NEW, Status.QUEUED, Status.ASSIGNED}
    reachable = {target for allowed in TRANSITIONS.values() for target in allowed}
    assert reachable == {Status.QUEUED, Status.ASSIGNED, Status.CLOSED}


async def test_illegal_transitions_raise_and_change_nothing(store: Store) -> None:
    conversation = await _conversation(store)
    agent = await agents.create(store, "ann@example.com", "Ann", "x" * 12)
    with pytest.raises(IllegalTransition):
        await conversations.assign(store, conversation.id, agent.id, cap=5)  # new, not queued
    await conversations.close(store, conversation.id)
    for move in (
        conversations.queue(store, conversation.id),
        conversations.assign(store, conversation.id, agent.id, cap=5),
        conversations.accept(store, conversation.id, agent.id),
        conversations.close(store, conversation.id),
    ):
        with pytest.raises(IllegalTransition) as refused:
            await move
        assert refused.value.current is Status.CLOSED
    with pytest.raises(ConversationClosed):
        await _append(store, conversation.id, "visitor", "x", "c9", "late")


async def test_concurrent_assignments_have_one_winner(store: Store) -> None:
    conversation = await _conversation(store)
    await conversations.queue(store, conversation.id)
    rivals = [await agents.create(store, f"a{n}@example.com", f"A{n}", "x" * 12) for n in range(8)]
    results = await asyncio.gather(
        *(conversations.assign(store, conversation.id, a.id, cap=5) for a in rivals),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, model.Conversation)]
    assert len(winners) == 1
    assert all(isinstance(r, IllegalTransition) for r in results if r not in winners)


async def test_the_cap_is_counted_inside_the_write(store: Store) -> None:
    agent = await agents.create(store, "ann@example.com", "Ann", "x" * 12, max_chats=1)
    first, second = await _conversation(store), await _conversation(store)
    for c in (first, second):
        await conversations.queue(store, c.id)
    await conversations.assign(store, first.id, agent.id, cap=1)
    with pytest.raises(IllegalTransition) as refused:
        await conversations.assign(store, second.id, agent.id, cap=1)
    assert refused.value.current is Status.QUEUED


async def test_resends_are_stored_once_even_when_concurrent(store: Store) -> None:
    conversation = await _conversation(store)
    # Five writers, as from five processes: the unique key settles what a resend is.
    results = await asyncio.gather(
        *(_append(store, conversation.id, "visitor", conversation.contact_id, "m2", "again")
          for _ in range(5))
    )
    assert sorted(created for _, created in results) == [False, False, False, False, True]
    assert {message.seq for message, _ in results} == {2}
    stored = await messages.after(store, conversation.id, 0)
    assert [(m.seq, m.client_id) for m in stored] == [(1, "c1"), (2, "m2")]


async def test_a_resent_start_opens_no_second_conversation(store: Store) -> None:
    site = await sites.create(store, "Shop", [])
    contact = await customers.create(store, site.id)
    first = await conversations.open(store, site.id, contact, "s1")
    again = await conversations.open(store, site.id, contact, "s1")
    assert first[0].id == again[0].id and (first[1], again[1]) == (True, False)
    assert len(await conversations.find(store, contact_id=contact)) == 1


async def test_receipts_only_rise(store: Store) -> None:
    conversation = await _conversation(store)
    for n in range(2, 5):
        await _append(store, conversation.id, "agent", "a", f"a{n}", "x")
    assert await conversations.record_receipt(store, conversation.id, "visitor", "read", 3) == 3
    assert await conversations.record_receipt(store, conversation.id, "visitor", "read", 2) is None
    # Delivery was implied by the read; a receipt past the last message is refused.
    assert await conversations.record_receipt(
        store, conversation.id, "visitor", "delivered", 3
    ) is None
    assert await conversations.record_receipt(store, conversation.id, "visitor", "read", 9) is None
