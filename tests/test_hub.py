"""Fan-out: the broker feeds topics, and a stalled client cannot hold anyone up."""

from __future__ import annotations

import asyncio

from chatserver import protocol
from chatserver.broker.memory import MemoryBroker
from chatserver.hub import Connection, Hub


class StalledSocket:
    """A peer that never reads: every send blocks, as on a full TCP window."""

    def __init__(self) -> None:
        self.closed_with: int | None = None

    async def send_text(self, text: str) -> None:
        await asyncio.Event().wait()

    async def close(self, code: int, reason: str) -> None:
        self.closed_with = code


class ReadingSocket:
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
