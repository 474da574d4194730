"""Self-service first: help articles answer before a person is asked."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from chatserver import articles
from chatserver.articles import Article
from chatserver.store import Store
from conftest import Chat, Server, agent, visitor


@pytest.mark.shared_server
async def test_an_article_answers_and_nobody_is_bothered(server: Server) -> None:
    site = await server.add_site()
    await server.add_agent("ann@example.com", site)
    ann = await agent(server, "ann@example.com")
    guest = await visitor(server, site)
    await guest.send(type="start", client_id="q1", text="how do i send back a lamp i dont want")
    conversation = (await guest.expect("ack"))["conversation"]
    offered = await guest.expect("suggestions", conversation=conversation)
    best = offered["articles"][0]
    assert best["slug"] == "return-an-item" and best["locale"] == "en"
    assert best["url"] == f"{server.http}/help/en/return-an-item"
    assert "[[" in best["snippet"] and "<" not in best["snippet"]

    await guest.send(type="article", slug=best["slug"], locale="en", conversation=conversation)
    await guest.send(type="resolve", conversation=conversation)
    done = await guest.expect("conversation", conversation=Chat(conversation, "closed"))
    assert done["conversation"]["resolution"] == "self_served"
    # The agent saw it close as answered, and was never asked to take it.
    await ann.expect("conversation", conversation=Chat(conversation, "closed"))
    assert not [f for f in ann.seen if f.get("type") == "conversation"
                and f["conversation"]["status"] in ("queued", "assigned")]
    store = Store(server.store_url)
    try:
        seen = await articles.viewed(store, guest_contact(guest))
    finally:
        await store.close()
    assert [(v["slug"], v["title"]) for v in seen] == [("return-an-item", "How do I return an item?")]
    await ann.close()
    await guest.close()


def guest_contact(client: object) -> str:
    welcome = next(f for f in client.seen if f.get("type") == "welcome")  # type: ignore[attr-defined]
    return str(welcome["you"]["id"])


@pytest.mark.shared_server
async def test_a_reload_shows_the_suggestions_again_and_a_person_is_one_step_away(
    server: Server,
) -> None:
    site = await server.add_site()
    await server.add_agent("ann@example.com", site)
    ann = await agent(server, "ann@example.com")
    guest = await visitor(server, site)
    await guest.send(type="start", client_id="q1", text="waar blijft mijn pakket", locale="nl")
    conversation = (await guest.expect("ack"))["conversation"]
    assert (await guest.expect("suggestions"))["articles"][0]["locale"] == "nl"
    await guest.close()

    back = await visitor(server, site, token=guest.token)
    await back.send(type="sync", conversation=conversation, after=0)
    again = await back.expect("suggestions", conversation=conversation)
    assert again["query"] == "waar blijft mijn pakket" and again["articles"]
    await back.send(type="escalate", conversation=conversation)
    await ann.expect("conversation", conversation=Chat(conversation, "assigned", {"id": ann.me}))
    # Too late for "that helped" once a person has it.
    await back.send(type="resolve", conversation=conversation)
    assert (await back.expect("error", ref=conversation))["code"] == "conflict"
    await ann.close()
    await back.close()


@pytest.mark.shared_server
async def test_search_as_you_type_and_nonsense_gets_nothing(server: Server) -> None:
    site = await server.add_site()
    guest = await visitor(server, site)
    await guest.send(type="search", text="can i pay later with klarna")
    found = await guest.expect("suggestions")
    assert found["conversation"] is None
    assert found["articles"][0]["slug"] == "pay-later-with-klarna"
    await guest.send(type="search", text="what's the weather in Paris")
    assert (await guest.expect("suggestions"))["articles"] == []
    await guest.send(type="search", text="   ")
    assert (await guest.expect("error"))["code"] == "invalid_message"
    # A question nobody wrote an article for goes straight to the queue.
    await guest.send(type="start", client_id="q1", text="hello, anyone there?")
    conversation = (await guest.expect("ack"))["conversation"]
    await guest.expect("conversation", conversation=Chat(conversation, "queued"))
    await guest.close()


@pytest.mark.shared_server
async def test_ratings_reach_the_agent_and_only_for_your_own_chat(server: Server) -> None:
    site = await server.add_site()
    await server.add_agent("ann@example.com", site)
    ann = await agent(server, "ann@example.com")
    guest, other = await visitor(server, site), await visitor(server, site)
    await guest.send(type="start", client_id="q1", text="hello?")
    conversation = (await guest.expect("ack"))["conversation"]
    await ann.expect("conversation", conversation=Chat(conversation, "assigned"))
    await ann.send(type="close", conversation=conversation)
    await guest.expect("conversation", conversation=Chat(conversation, "closed"))

    await other.send(type="rate", conversation=conversation, score="bad")
    assert (await other.expect("error"))["code"] == "not_found"
    await guest.send(type="rate", conversation=conversation, score="meh")
    assert (await guest.expect("error"))["code"] == "invalid_message"
    await guest.send(type="rate", conversation=conversation, score="good", comment="Quick, thanks")
    rated = await ann.expect("conversation", conversation=Chat(conversation, "closed"))
    while rated["conversation"]["rating"] is None:
        rated = await ann.expect("conversation", conversation=Chat(conversation, "closed"))
    assert rated["conversation"]["rating"] == "good"
    for client in (ann, guest, other):
        await client.close()


@pytest.mark.shared_server
async def test_visitors_see_agents_come_and_go(server: Server) -> None:
    site = await server.add_site()
    await server.add_agent("ann@example.com", site)
    guest = await visitor(server, site)
    welcome = next(f for f in guest.seen if f["type"] == "welcome")
    assert welcome["agents_online"] is False and "suggestions" in welcome["features"]
    ann = await agent(server, "ann@example.com")
    assert (await guest.expect("availability"))["agents_online"] is True
    await ann.close()
    assert (await guest.expect("availability"))["agents_online"] is False
    await guest.close()


async def test_an_article_changed_in_the_store_is_searchable_within_seconds(server: Server) -> None:
    site = await server.add_site()
    guest = await visitor(server, site)
    store = Store(server.store_url)
    try:
        current = await articles.all_articles(store)
        fresh = Article.build(slug="loyalty-points", locale="en", title="Loyalty points",
                              body="Every euro you spend earns one loyalty point.",
                              tags=("loyalty",), synonyms=("rewards", "points"))
        await articles.replace_all(store, [*current, fresh])
    finally:
        await store.close()
    for _ in range(40):
        await guest.send(type="search", text="how do loyalty rewards work")
        found = await guest.expect("suggestions")
        if found["articles"] and found["articles"][0]["slug"] == "loyalty-points":
            break
        await asyncio.sleep(0.25)
    else:
        raise AssertionError("the new article never became searchable")
    await guest.close()


async def test_a_server_searching_by_meaning_answers_what_words_miss(
    data_dir: Path, database_env: dict[str, str]
) -> None:
    # Test servers search by words (conftest); this one embeds the help centre after it
    # starts, serving by words meanwhile.
    running = Server(data_dir, {**database_env, "CHATSERVER_SEARCH_MEANING": "on"})
    running.start()
    try:
        for _ in range(600):
            if "event=kb_embedded" in running.log.read_text():
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the help centre was not embedded within a minute")
        site = await running.add_site()
        guest = await visitor(running, site)
        await guest.send(type="start", client_id="q1", text="hoe zeg ik mijn bestelling af", locale="nl")
        offered = await guest.expect("suggestions", timeout=20)
        assert offered["articles"][0]["slug"] == "bestelling-annuleren"
        await guest.close()
    finally:
        running.stop()
    assert any(path.suffix == ".npy" for path in (data_dir / "kb" / "vectors-v1").iterdir())
