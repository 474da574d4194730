"""Telling a request for a person from a question, in English and Dutch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatserver.person_request import asks_for_person
from conftest import Chat, Client, Server, agent, visitor

QUESTIONS = Path(__file__).resolve().parent / "kb"

# Cases of our own, beside the dev halves of the independent sets (tests/kb/INDEPENDENT.md).
PERSON = [
    "Can I talk to someone",
    "human please",
    "human please, my order is late",
    "agent",
    "AGENT!!!",
    "I want a real person",
    "get me a human",
    "connect me with an agent please",
    "speak with a representative",
    "I need to talk to somebody about my invoice",
    "can i chat with a live agent",
    "operator",
    "huamn please",
    "not a bot please",
    "are you a bot? I want a person",
    "transfer me to customer service",
    "I'd like to speak to your supervisor",
    "Can I call someone about the broken zipper?",
    "medewerker aub",
    "ik wil een echt mens spreken",
    "IEMAND SPREKEN",
    "mag ik iemand spreken over mijn retour",
    "kan ik een medewerker bellen",
    "verbind me door met een medewerker",
    "medwerker",
    "ik wil met een mens praten",
    "geen robot, een mens graag",
    "klantenservice aub",
    "kan ik iemand aan de lijn krijgen",
    "Kan ik met één van jullie medewerkers chatten over een factuur?",
]
QUESTION = [
    "someone gave me a gift card, how do I use it",
    "my parcel was delivered to someone else",
    "recieved someone elses order",
    "iemand anders heeft mijn pakket gekregen",
    "the delivery person left it at the door",
    "your staff was rude and i want my money back",
    "I want to return stuff that is too small",
    "how do I manage my newsletter",
    "kan iemand mij adviseren over een laptop",
    "what are the customer service opening hours",
    "is customer service open on sunday",
    "klantenservice openingstijden",
    "my automatic payment did not go through",
    "ik heb geen ding ontvangen",
    "how do i change my password",
    "wat kost verzenden naar belgie",
    "is the agenda for the sale online",
    "",
    "?!",
]


@pytest.mark.parametrize("text", PERSON)
def test_a_request_for_a_person_is_one(text: str) -> None:
    assert asks_for_person(text)


@pytest.mark.parametrize("text", QUESTION)
def test_a_question_is_no_request_for_a_person(text: str) -> None:
    assert not asks_for_person(text)


@pytest.mark.parametrize("locale", ["en", "nl"])
def test_the_dev_half_tells_them_apart(locale: str) -> None:
    lines = (QUESTIONS / f"independent-{locale}-dev.jsonl").read_text(encoding="utf-8").splitlines()
    items = [json.loads(line) for line in lines if line.strip()]
    told = [(item["question"], item.get("kind") == "person") for item in items]
    assert [(text, person) for text, person in told if asks_for_person(text) != person] == []


def test_old_sets_differ_only_where_a_person_is_asked_for() -> None:
    # The first question sets answered these with the contact and complaints articles; a
    # visitor who types them in a chat wants the person, who is right there.
    taken = [
        item["question"]
        for locale in ("en", "nl")
        for line in (QUESTIONS / f"questions-{locale}.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip() and asks_for_person((item := json.loads(line))["question"])
    ]
    assert taken == ["how can i talk to a real person", "speak to a manager", "ik wil iemand spreken"]


# -- over real sockets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "locale"),
    [
        # A topic an article answers, asked of a person: the person, not the refund article.
        ("I want to talk to someone about my refund", "en"),
        ("kan ik met een medewerker praten over mijn kapotte schoenen", "nl"),
        ("IEMAND SPREKEN", None),
    ],
)
async def test_asking_for_a_person_reaches_one_without_suggestions(
    server: Server, clients: list[Client], text: str, locale: str | None
) -> None:
    site = await server.add_site()
    await server.add_agent("ann@example.com", site)
    ann = await agent(server, "ann@example.com")
    customer = await visitor(server, site)
    clients += [ann, customer]
    await customer.send(type="start", client_id="s1", text=text, **({"locale": locale} if locale else {}))
    chat = (await customer.expect("ack"))["conversation"]
    await customer.expect("conversation", conversation=Chat(chat, "assigned", {"name": "ann"}))
    await ann.expect("conversation", conversation=Chat(chat, "assigned"))
    assert not [f for f in customer.seen if f["type"] == "suggestions"]
    # Suggest-as-you-type shows no articles for it either.
    await customer.send(type="search", text=text)
    assert (await customer.expect("suggestions"))["articles"] == []


async def test_with_nobody_to_answer_a_person_request_waits_for_the_offline_form(
    server: Server, clients: list[Client]
) -> None:
    site = await server.add_site()
    await server.add_agent("ann@example.com", site)
    customer = await visitor(server, site)
    clients.append(customer)
    assert customer.seen[0]["agents_online"] is False
    await customer.send(type="start", client_id="s1", text="medewerker aub, mijn retour is zoek", locale="nl")
    chat = (await customer.expect("ack"))["conversation"]
    # Queued with nobody online: the widget shows its email form (widget.js, status "queued").
    await customer.expect("conversation", conversation=Chat(chat, "queued"))
    await customer.quiet("suggestions")
    await customer.send(type="leave_email", conversation=chat, email="kim@example.com", client_id="f1")
    await customer.expect("ticket")
    await customer.expect("conversation", conversation=Chat(chat, "closed"))
