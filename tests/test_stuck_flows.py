"""The dead ends a new user ran into, over real sockets: none of them can happen any more."""

from __future__ import annotations

from conftest import Chat, Client, Server, agent, assigned_chat, visitor

ANSWERED = "how do I cancel my order"


async def test_writing_on_after_suggestions_reaches_a_person(server: Server, clients: list[Client]) -> None:
    site = await server.add_site()
    await server.add_agent("ann@example.com", site)
    ann = await agent(server, "ann@example.com")
    customer = await visitor(server, site)
    clients += [ann, customer]
    await customer.send(type="start", client_id="s1", text=ANSWERED, locale="en")
    chat = (await customer.expect("ack"))["conversation"]
    await customer.expect("suggestions", conversation=chat)
    # No button pressed: the visitor just explains more. The chat goes to the team.
    await customer.send(type="message", conversation=chat, client_id="m2",
                        text="I already tried that, it is about my parcel")
    await customer.expect("ack", ref="m2")
    await ann.expect("conversation", conversation=Chat(chat, "assigned"))
    await ann.send(type="sync", conversation=chat, after=0)
    await ann.expect("synced", conversation=chat)
    await ann.send(type="message", conversation=chat, client_id="a1", text="Let me look")
    assert (await customer.expect("message", conversation=chat))["text"] == "Let me look"


async def test_an_away_agent_takes_a_new_chat_and_the_visitor_is_not_sent_away(
    server: Server, clients: list[Client]
) -> None:
    site = await server.add_site()
    await server.add_agent("ann@example.com", site)
    ann = await agent(server, "ann@example.com")
    clients.append(ann)
    await ann.send(type="presence", status="away")
    await ann.expect("presence")
    customer = await visitor(server, site)
    clients.append(customer)
    assert customer.seen[0]["agents_online"] is True  # someone can answer, by hand
    await customer.send(type="start", client_id="s1", text=ANSWERED, locale="en")
    chat = (await customer.expect("ack"))["conversation"]
    await customer.expect("suggestions", conversation=chat)
    # The chat is still new (suggestions shown) and the agent takes it from the list anyway.
    await ann.send(type="accept", conversation=chat)
    await ann.expect("conversation", conversation=Chat(chat, "assigned"))
    await customer.expect("conversation", conversation=Chat(chat, "assigned", {"name": "ann"}))


async def test_converting_a_chat_without_an_address_asks_for_one(
    server: Server, clients: list[Client]
) -> None:
    site = await server.add_site()
    await server.add_agent("ann@example.com", site)
    ann = await agent(server, "ann@example.com")
    customer = await visitor(server, site)
    clients += [ann, customer]
    chat = await assigned_chat(ann, customer)
    await ann.send(type="convert", conversation=chat)
    refused = await ann.expect("error", ref=chat)
    assert refused["code"] == "conflict" and "email" in refused["message"]
    await ann.send(type="message", conversation=chat, client_id="a1", text="What is your email?")
    await ann.expect("ack", ref="a1")  # the chat is still open
    await customer.quiet("ticket", seconds=0.5)
