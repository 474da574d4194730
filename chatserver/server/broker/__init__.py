"""Fan-out between processes: publish a text on a topic, receive it wherever it is subscribed.

The broker is a wake-up, not the record: what was said is in the store, so a message the
broker drops is found again by sequence number.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

Deliver = Callable[[str, str], None]
# Called with the time (ms since the epoch) from which messages may have been lost, once the
# broker is connected and subscribed again after losing its connection.
Resume = Callable[[int], None]


class Broker(Protocol):
    async def start(self, deliver: Deliver, resume: Resume | None = None) -> None:
        """Begin delivering messages of subscribed topics to deliver(topic, text)."""

    async def subscribe(self, topic: str) -> None: ...

    async def unsubscribe(self, topic: str) -> None: ...

    async def publish(self, topic: str, text: str) -> bool:
        """Publish to every process; False when the broker could not take it (the hub then
        delivers to this process's sockets itself, and other processes catch up on resume)."""

    async def close(self) -> None: ...


def from_url(url: str) -> Broker:
    """Return the broker for url: memory:// (one process) or redis:// (many)."""
    if url.startswith("memory://"):
        from chatserver.server.broker.memory import MemoryBroker

        return MemoryBroker()
    if url.startswith(("redis://", "rediss://", "unix://")):
        # Imported here: a one-machine install never loads the Redis client.
        from chatserver.server.broker.redis import RedisBroker

        return RedisBroker(url)
    raise ValueError(f"unsupported broker URL {url.split(':', 1)[0]}:// (use memory:// or redis://)")
