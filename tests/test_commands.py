"""Every chat command and every move, allowed and refused, on the embedded store without a
socket: the Effects a command returns are the record of what it would deliver."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chatserver import agents, auth, config, customers, sites, suggestions
from chatserver.chat import commands, conversations
from chatserver.chat.actors import Staff, Visitor
from chatserver.chat.effects import Effects
from chatserver.chat.model import MOVES, TRANSITIONS, Status
from chatserver.mail import service as mail_service
from chatserver.protocol import ProtocolError
from chatserver.runtime import Runtime
from chatserver.server.broker.memory import MemoryBroker
from chatserver.server.hub import Hub
from chatserver.store import Store
from chatserver.suggestions import Suggester
from chatserver.tickets import handover

# Words no help article holds: such a question goes straight to the queue.
NOTHING_ANSWERS = "zxqv blorp fnord"
# A question the shipped help centre answers.
ANSWERED = "how do I cancel my order"


@pytest.fixture
async def rt(tmp_path: Path, store_url: str) -> AsyncIterator[Runtime]:
    store = Store(store_url)
    await store.migrate()
    await suggestions.seed(store)
    # By words, as test servers search (conftest): embedding the help centre for each test
    # took 10-20 s of its setup.
    suggester = Suggester.open(tmp_path, meaning=False)
    await suggester.refresh(store)
    runtime = Runtime(config.load(str(tmp_path), environ={}), store, Hub(MemoryBroker()),
                      auth.Signer("s" * 32), suggester)
    mail = await mail_service.start(runtime, "s" * 32)
    yield runtime
    await mail.stop()
    runtime.writer.close()
    suggester.close()
    await store.close()


async def _visitor(rt: Runtime, site: sites.Site | None = None) -> Visitor:
    site = site or await sites.create(rt.store, "Shop", [])
    return Visitor(site, await customers.create(rt.store, site.id), None, "http://test")


async def _staff(rt: Runtime, site: sites.Site, email: str = "ann@example.com", role: str = "agent",
                 online: bool = True) -> Staff:
    agent = await agents.create(rt.store, email, email.split("@")[0], "x" * 12, role=role,  # type: ignore[arg-type]
                                site_ids=[site.id])
    if not online:
        await agents.set_availability(rt.store, agent.id, "away")
        agent = await agents.by_id(rt.store, agent.id) or agent
    staff = Staff(agent, [site.id], socket_id=email)
    await commands.welcome_agent(rt, staff)  # connected, so routing sees them
    return staff


def _events(effects: Effects, kind: str, topic_prefix: str = "") -> list[dict[str, Any]]:
    published = [p.event for p in effects.publications if p.topic.startswith(topic_prefix)]
    return [dict(e) for e in [*effects.replies, *published] if e["type"] == kind]


async def _started(rt: Runtime, visitor: Visitor, text: str = NOTHING_ANSWERS) -> str:
    effects = await commands.start(rt, visitor, f"s{len(text)}", text, "en")
    return str(_events(effects, "ack")[0]["conversation"])


async def _status(rt: Runtime, conversation_id: str) -> Status:
    async with rt.store.read() as conn:
        found = await conversations.get(conn, conversation_id)
    assert found is not None
    return found.status


class _refused:  # noqa: N801 - used as `with _refused("conflict"):`
    """Expect the block to be refused with this error code."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, error: BaseException | None, tb: object) -> bool:
        assert isinstance(error, ProtocolError), f"expected a {self.code} refusal, got {error!r}"
        assert error.code == self.code, (error.code, error.message)
        return True


def test_every_status_but_closed_has_a_way_on_and_closed_is_final() -> None:
    assert TRANSITIONS[Status.CLOSED] == frozenset()
    for status in (Status.NEW, Status.QUEUED, Status.ASSIGNED):
        assert Status.CLOSED in TRANSITIONS[status]
        assert TRANSITIONS[status] - {Status.CLOSED}, f"{status} leads only to closed"
    assert {m.name for m in MOVES} == {"queue", "resolve", "accept", "assign", "transfer",
                                       "requeue", "close"}


def test_the_table_in_the_document_is_the_table_in_the_code() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "protocol.md").read_text()
    for move in MOVES:
        sources = ", ".join(f"`{s.value}`" for s in Status if s in move.sources)
        assert f"| `{move.name}` | {sources} | `{move.target.value}` |" in doc, move.name


async def test_start_suggests_when_an_article_answers_and_queues_when_none_does(rt: Runtime) -> None:
    visitor = await _visitor(rt)
    answered = await commands.start(rt, visitor, "a1", ANSWERED, "en")
    assert [e["type"] for e in answered.replies] == ["ack", "suggestions"]
    conversation = answered.replies[0]["conversation"]
    assert await _status(rt, conversation) is Status.NEW
    # The first message goes to everyone else in the chat, not back to the sender (its ack).
    [sent] = [p for p in answered.publications if p.event["type"] == "message"]
    assert sent.skip_actor and sent.topic == f"conv:{conversation}"
    # The site's agents see the new chat at once, so they can take it from "All open".
    [seen] = _events(answered, "conversation", "site:")
    assert seen["conversation"]["status"] == "new" and seen["conversation"]["last_seq"] == 1

    queued = await commands.start(rt, visitor, "a2", NOTHING_ANSWERS, "en")
    assert [e["type"] for e in queued.replies] == ["ack"]
    assert await _status(rt, queued.replies[0]["conversation"]) is Status.QUEUED
    again = await commands.start(rt, visitor, "a2", NOTHING_ANSWERS, "en")
    assert again.replies[0]["duplicate"] and not again.publications


async def test_a_visitor_who_writes_on_after_suggestions_is_queued_not_stuck(rt: Runtime) -> None:
    visitor = await _visitor(rt)
    conversation = _events(await commands.start(rt, visitor, "a1", ANSWERED, "en"), "ack")[0]["conversation"]
    effects = await commands.send(rt, visitor, conversation, "m2", "that did not help, my order is late")
    assert await _status(rt, conversation) is Status.QUEUED
    assert [e["conversation"]["status"] for e in _events(effects, "conversation", "site:")] == ["queued"]


async def test_an_agent_takes_a_new_or_queued_chat_and_a_second_taker_is_refused(rt: Runtime) -> None:
    visitor = await _visitor(rt)
    site = visitor.site
    ann = await _staff(rt, site, online=False)
    bob = await _staff(rt, site, "bob@example.com", online=False)
    new_chat = _events(await commands.start(rt, visitor, "a1", ANSWERED, "en"), "ack")[0]["conversation"]
    taken = await commands.accept(rt, ann, new_chat)
    assert _events(taken, "conversation", "site:")[0]["conversation"]["agent"]["id"] == ann.agent.id
    with _refused("conflict"):
        await commands.accept(rt, bob, new_chat)
    queued = await _started(rt, visitor)
    await commands.accept(rt, bob, queued)
    assert await _status(rt, queued) is Status.ASSIGNED


async def test_only_the_holder_writes_and_closes_an_admin_may_step_in(rt: Runtime) -> None:
    visitor = await _visitor(rt)
    ann = await _staff(rt, visitor.site, online=False)
    bob = await _staff(rt, visitor.site, "bob@example.com", online=False)
    boss = await _staff(rt, visitor.site, "boss@example.com", role="admin", online=False)
    chat = await _started(rt, visitor)
    with _refused("forbidden"):
        await commands.send(rt, ann, chat, "m1", "hello")  # nobody holds it yet
    await commands.accept(rt, ann, chat)
    assert _events(await commands.send(rt, ann, chat, "m1", "hello"), "ack")
    with _refused("forbidden"):
        await commands.send(rt, bob, chat, "m1", "me too")
    with _refused("conflict"):
        await commands.close(rt, bob, chat)
    with _refused("conflict"):
        await commands.transfer(rt, bob, chat, bob.agent.id)
    assert _events(await commands.send(rt, boss, chat, "m1", "I am the supervisor"), "ack")
    await commands.transfer(rt, ann, chat, bob.agent.id)
    with _refused("not_found"):
        await commands.transfer(rt, bob, chat, "no-such-agent")
    closed = await commands.close(rt, bob, chat)
    # One close, one announcement to each side.
    assert len(_events(closed, "conversation", "site:")) == 1
    assert len(_events(closed, "conversation", "visitor:")) == 1
    with _refused("conflict"):
        await commands.close(rt, visitor, chat)
    with _refused("conflict"):
        await commands.send(rt, visitor, chat, "m9", "anyone?")


async def test_escalate_resolve_and_rate(rt: Runtime) -> None:
    visitor = await _visitor(rt)
    helped = _events(await commands.start(rt, visitor, "a1", ANSWERED, "en"), "ack")[0]["conversation"]
    resolved = await commands.resolve(rt, visitor, helped)
    assert _events(resolved, "conversation", "visitor:")[0]["conversation"]["resolution"] == "self_served"
    asked = _events(await commands.start(rt, visitor, "a2", ANSWERED, "en"), "ack")[0]["conversation"]
    await commands.escalate(rt, visitor, asked)
    assert await _status(rt, asked) is Status.QUEUED
    with _refused("conflict"):
        await commands.escalate(rt, visitor, asked)
    ann = await _staff(rt, visitor.site, online=False)
    await commands.accept(rt, ann, asked)
    with _refused("conflict"):
        await commands.resolve(rt, visitor, asked)  # an agent has it now
    rated = await commands.rate(rt, visitor, asked, "good", "quick")
    assert _events(rated, "conversation", "site:")[0]["conversation"]["rating"] == "good"


async def test_nobody_uses_another_visitors_conversation(rt: Runtime) -> None:
    owner = await _visitor(rt)
    stranger = await _visitor(rt, owner.site)
    elsewhere = await _staff(rt, await sites.create(rt.store, "Other", []), online=False)
    chat = await _started(rt, owner)
    for attempt in (
        commands.send(rt, stranger, chat, "x", "hi"), commands.typing(rt, stranger, chat, True),
        commands.receipt(rt, stranger, chat, "read", 1), commands.sync(rt, stranger, chat, 0),
        commands.close(rt, stranger, chat), commands.rate(rt, stranger, chat, "bad", None),
        commands.accept(rt, elsewhere, chat), commands.note(rt, elsewhere, chat, "n", "x"),
    ):
        with _refused("not_found"):
            await attempt


async def test_typing_receipts_and_sync(rt: Runtime) -> None:
    visitor = await _visitor(rt)
    ann = await _staff(rt, visitor.site, online=False)
    chat = await _started(rt, visitor)
    await commands.accept(rt, ann, chat)
    await commands.send(rt, ann, chat, "m1", "hello")
    typing = await commands.typing(rt, visitor, chat, True)
    assert typing.publications[0].skip_actor and not typing.replies
    risen = await commands.receipt(rt, visitor, chat, "read", 2)
    assert _events(risen, "receipt")[0] == {"type": "receipt", "conversation": chat,
                                             "side": "visitor", "status": "read", "seq": 2}
    assert not (await commands.receipt(rt, visitor, chat, "read", 1)).publications
    synced = await commands.sync(rt, visitor, chat, 1)
    assert [e["type"] for e in synced.replies] == ["conversation", "message", "synced"]
    assert synced.replies[-1]["last_seq"] == 2


async def test_notes_reach_agents_only(rt: Runtime) -> None:
    visitor = await _visitor(rt)
    ann = await _staff(rt, visitor.site, online=False)
    chat = await _started(rt, visitor)
    noted = await commands.note(rt, ann, chat, "n1", "VIP")
    assert [p.topic for p in noted.publications] == [f"conv:{chat}:agents"]
    again = await commands.note(rt, ann, chat, "n1", "VIP")
    assert again.replies[0]["id"] == noted.replies[0]["id"] and not again.publications
    assert [e["type"] for e in (await commands.sync(rt, ann, chat, 0)).replies][0] == "note"


async def test_away_means_the_same_to_visitors_and_agents(rt: Runtime) -> None:
    visitor = await _visitor(rt)
    ann = await _staff(rt, visitor.site, online=False)  # connected, away
    welcome = (await commands.welcome_visitor(rt, visitor)).replies[0]
    # Someone can answer (by hand), so the visitor is not sent to the offline form...
    assert welcome["agents_online"] is True
    # ...but nothing is assigned to an away agent: the chat waits in their queue.
    chat = await _started(rt, visitor)
    assert await _status(rt, chat) is Status.QUEUED
    came = await commands.presence(rt, ann, "online")
    assert await _status(rt, chat) is Status.ASSIGNED
    assert _events(came, "conversation", "site:")[0]["conversation"]["agent"]["id"] == ann.agent.id
    gone = await commands.presence(rt, ann, "offline")
    assert _events(gone, "availability")[0]["agents_online"] is False


async def test_convert_asks_for_an_address_first(rt: Runtime) -> None:
    visitor = await _visitor(rt)
    ann = await _staff(rt, visitor.site, online=False)
    chat = await _started(rt, visitor)
    await commands.accept(rt, ann, chat)
    with pytest.raises(ProtocolError, match="no email address") as refused:
        await handover.convert(rt, ann, chat, None)
    assert refused.value.code == "conflict"
    assert await _status(rt, chat) is Status.ASSIGNED
    await customers.describe(rt.store, visitor.contact_id, email="cus@example.com")
    converted = await handover.convert(rt, ann, chat, "Late parcel")
    assert _events(converted, "ticket", "site:")[0]["ticket"]["subject"] == "Late parcel"
    assert len(_events(converted, "conversation", "site:")) == 1
    assert await _status(rt, chat) is Status.CLOSED


async def test_leave_email_opens_a_ticket_and_ends_an_unanswered_chat(rt: Runtime) -> None:
    visitor = await _visitor(rt)
    chat = await _started(rt, visitor)
    left = await handover.leave_email(rt, visitor, chat, "cus@example.com", None, None, None)
    assert _events(left, "ticket", "visitor:")[0]["ticket"]["email"] == "cus@example.com"
    assert await _status(rt, chat) is Status.CLOSED
    with _refused("invalid_message"):
        await handover.leave_email(rt, visitor, None, "cus@example.com", None, None, "c1")


def test_the_core_imports_neither_starlette_nor_uvicorn() -> None:
    core = ["chatserver.chat.commands", "chatserver.chat.transcripts", "chatserver.tickets.handover",
            "chatserver.customers", "chatserver.runtime", "chatserver.protocol"]
    probe = (f"import sys; import {', '.join(core)}; "
             "print(sorted({m.split('.')[0] for m in sys.modules} & {'starlette', 'uvicorn'}))")
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"
