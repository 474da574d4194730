"""The in-process broker: publish delivers straight to this process's subscribers."""

from __future__ import annotations

from chatserver.server.broker import Deliver, Resume


class MemoryBroker:
    def __init__(self) -> None:
        self._topics: set[str] = set()
        self._deliver: Deliver | None = None

    async def start(self, deliver: Deliver, resume: Resume | None = None) -> None:
        # Nothing stands between publish and delivery here, so nothing is ever lost to resume.
        self._deliver = deliver

    async def subscribe(self, topic: str) -> None:
        self._topics.add(topic)

    async def unsubscribe(self, topic: str) -> None:
        self._topics.discard(topic)

    async def publish(self, topic: str, text: str) -> bool:
        if self._deliver is not None and topic in self._topics:
            self._deliver(topic, text)
        return True

    async def close(self) -> None:
        self._topics.clear()
        self._deliver = None
