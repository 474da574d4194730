"""The queue as visitors see it: their place in line, moving as others are served."""

from __future__ import annotations

import pytest

from conftest import Chat, Server, agent, visitor


@pytest.mark.shared_server
async def test_queued_visitors_see_their_place_in_line(server: Server) -> None:
    site = await server.add_site()
    await server.add_agent("ann@example.com", site, max_chats=1)
    first, second = await visitor(server, site), await visitor(server, site)
    await first.send(type="start", client_id="q1", text="hello?")
    one = (await first.expect("ack"))["conversation"]
    await second.send(type="start", client_id="q1", text="hi there")
    two = (await second.expect("ack"))["conversation"]

    def placed(position: int) -> object:
        class Queued(Chat):
            def __eq__(self, body: object) -> bool:
                return super().__eq__(body) and isinstance(body, dict) and (
                    body.get("queue", {}).get("position") == position
                )
        return Queued

    await second.expect("conversation", conversation=placed(2)(two, "queued"))
    # Ann comes online with room for one: the first in line is served, the second moves up.
    ann = await agent(server, "ann@example.com")
    await first.expect("conversation", conversation=Chat(one, "assigned"))
    moved = await second.expect("conversation", conversation=placed(1)(two, "queued"))
    assert moved["conversation"]["queue"]["wait_seconds"] is not None
    for client in (ann, first, second):
        await client.close()
