"""Fan-out: the broker feeds topics, and a stalled client cannot hold anyone up."""

from __future__ import annotations

import asyncio
import contextlib

from websockets.exceptions import ConnectionClosed

from chatserver import protocol
from chatserver.server.broker.memory import MemoryBroker
from chatserver.server.connection import Connection
from chatserver.server.hub import Hub
from conftest import Chat, Server, agent, visitor


class StalledSocket:
    """A peer that never reads: every send blocks, as on a full TCP window."""

    scope: dict[str, object] = {}  # no server extension: every frame goes through the queue

    def __init__(self) -> None:
        self.closed_with: int | None = None

    async def send_text(self, text: str) -> None:
        await asyncio.Event().wait()

    async def close(self, code: int, reason: str) -> None:
        self.closed_with = code


class ReadingSocket:
    scope: dict[str, object] = {}

    def __init__(self) -> None:
        self.frames: list[str] = []

    async def send_text(self, text: str) -> None:
        self.frames.append(text)

    async def close(self, code: int, reason: str) -> None:
        pass


async def test_a_stalled_client_is_closed_and_the_others_still_get_everything() -> None:
    hub = Hub(MemoryBroker())
    await hub.start()
    stalled_socket, reading_socket = StalledSocket(), ReadingSocket()
    stalled = Connection(stalled_socket, limit=8)  # type: ignore[arg-type]
    reading = Connection(reading_socket, limit=8)  # type: ignore[arg-type]
    for connection in (stalled, reading):
        await hub.follow(connection, "conv:x")
    for n in range(50):
        await hub.publish("conv:x", {"type": "message", "n": n})
        await asyncio.sleep(0)  # let the reading writer drain, as a live client would
    await asyncio.sleep(0.01)
    assert stalled.closed and stalled_socket.closed_with == protocol.CLOSE_TOO_SLOW
    assert len(reading_socket.frames) == 50
    await hub.forget(stalled)
    await hub.forget(reading)
    await hub.publish("conv:x", {"type": "message"})
    assert len(reading_socket.frames) == 50
    await reading.drain()


async def test_a_real_client_that_stops_reading_is_closed_and_catches_up(server: Server) -> None:
    site = await server.add_site()
    await server.add_agent("ann@example.com", site)
    ann = await agent(server, "ann@example.com")
    guest = await visitor(server, site)
    await guest.send(type="start", client_id="c1", text="qqzx wvvk")
    conversation = (await guest.expect("ack", ref="c1"))["conversation"]
    await ann.expect("conversation", conversation=Chat(conversation, "assigned"))
    # A second tab of the visitor that stops reading: its client reads nothing more, so
    # TCP's windows fill and the server's frames for it pile up.
    stalled = await visitor(server, site, token=guest.token)
    await stalled.send(type="sync", conversation=conversation, after=0)
    await stalled.expect("synced", conversation=conversation)

    text = "x" * protocol.MAX_TEXT_CHARS
    sent = 0
    for sent in range(1, 4001):  # megabytes: more than kernel buffers and the send queue hold
        await ann.send(type="message", conversation=conversation, client_id=f"a{sent}", text=text)
        await ann.expect("ack", ref=f"a{sent}")
        # The tab that reads gets every message, however far behind the other one is.
        await guest.expect("message", conversation=conversation, seq=sent + 1)
        if sent % 50 == 0 and "event=slow_client_closed" in server.log.read_text():
            break

    frames = 0
    with contextlib.suppress(ConnectionClosed):
        while frames < sent + 10:  # reads what got through, then the close frame
            await asyncio.wait_for(stalled.ws.recv(), 10)
            frames += 1
    assert stalled.ws.close_code == protocol.CLOSE_TOO_SLOW and frames < sent
    # Closed, not lost: the reconnected tab finds every message in the store.
    back = await visitor(server, site, token=guest.token)
    await back.send(type="sync", conversation=conversation, after=sent)
    assert (await back.expect("message", conversation=conversation))["seq"] == sent + 1
    for client in (ann, guest, back):
        await client.close()
