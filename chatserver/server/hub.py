"""This process's share of the fan-out: which local connections follow which topic, fed by
the broker, and the delivery of a command's effects.

Fan-out never waits for the slowest client: each connection has a bounded send queue
(connection.py); a client that falls that far behind is closed and resumes from the store.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from collections import defaultdict
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from chatserver import protocol
from chatserver.chat import topics
from chatserver.chat.effects import Effects, Fact
from chatserver.server.broker import Broker

if TYPE_CHECKING:
    from chatserver.server.connection import Connection

log = logging.getLogger("chatserver.server.hub")

# Published on an agent's topic, this closes their sockets on every process (code 4403):
# revoking an agent must end their live sockets, not only their HTTP sessions.
REVOKE = "revoke"
# Names this process in what it publishes, so that the socket an event came from is skipped
# here and nowhere else (its serial means nothing to other processes).
PROCESS = secrets.token_hex(4)
serials = itertools.count(1)


class Hub:
    """Routes broker messages to the local connections that follow each topic."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self._followers: dict[str, set[Connection]] = defaultdict(set)
        # Run when the broker reconnected after a drop, with the time from which broker
        # messages may be lost: tells this process's clients to catch up (see resync.py).
        self.on_resume: Callable[[int], Coroutine[Any, Any, None]] | None = None
        self._resuming: set[asyncio.Task[None]] = set()
        # Takes what happened (Effects.facts) into the webhook outbox: every command's result
        # passes through deliver, so no command can forget its webhooks (webhooks/outbox.py).
        self.recorder: Callable[[list[Fact]], Awaitable[None]] | None = None

    async def start(self) -> None:
        await self.broker.start(self._deliver, self._resumed)

    def connections(self) -> set[Connection]:
        """Return this process's connections that follow at least one topic."""
        return set().union(*self._followers.values())

    def _resumed(self, since: int) -> None:
        if self.on_resume is not None:
            task = asyncio.create_task(self.on_resume(since))
            self._resuming.add(task)  # keep a reference until it finishes
            task.add_done_callback(self._resuming.discard)

    async def follow(self, connection: Connection, topic: str) -> None:
        """Send the topic's events to the connection from now on."""
        if topic in connection.topics:
            return
        connection.topics.add(topic)
        first = not self._followers[topic]
        self._followers[topic].add(connection)
        if first:
            await self.broker.subscribe(topic)

    async def forget(self, connection: Connection) -> None:
        """Stop every topic for a connection that closed."""
        for topic in connection.topics:
            followers = self._followers.get(topic)
            if followers is None:
                continue
            followers.discard(connection)
            if not followers:
                del self._followers[topic]
                await self.broker.unsubscribe(topic)
        connection.topics.clear()

    async def publish(self, topic: str, event: Any, skip: Connection | None = None) -> None:
        """Send an event to every follower of the topic, on every process, except skip.

        skip is the socket the event came from when its client already knows (a sent message
        has its ack): one frame fewer per message, and a typist does not hear their typing.
        """
        origin = f"{PROCESS}:{skip.serial}" if skip is not None else ""
        await self._send(topic, f"{origin}\n{protocol.dump(event)}")

    async def deliver(self, effects: Effects, origin: Connection | None = None) -> None:
        """Send a command's replies to origin (the acting socket) and publish the rest."""
        if origin is not None:
            for event in effects.replies:
                origin.send_event(event)
        for publication in effects.publications:
            await self.publish(publication.topic, publication.event,
                               skip=origin if publication.skip_actor else None)
        if effects.facts and self.recorder is not None:
            try:
                await self.recorder(effects.facts)
            except Exception:
                # The chat goes on when the webhook outbox cannot be written (the store failed
                # after the command's own write): the log names what receivers will miss.
                log.exception("event=webhook_record_failed facts=%s",
                              ",".join(fact.name for fact in effects.facts))

    async def revoke(self, agent_id: str) -> None:
        """Close every socket of the agent, on every process (resync.py closes them on the
        others after a broker outage)."""
        await self._send(topics.agent(agent_id), f"\n{REVOKE}")

    async def _send(self, topic: str, payload: str) -> None:
        if not await self.broker.publish(topic, payload):
            # The broker is down: this process's sockets still hear it; other processes' clients
            # catch up from the store when it is back (resync.py).
            self._deliver(topic, payload)

    def _deliver(self, topic: str, payload: str) -> None:
        # Compact JSON never holds a raw newline, so the first one ends the origin.
        origin, _, text = payload.partition("\n")
        process, _, serial = origin.partition(":")
        skipped = int(serial) if process == PROCESS else 0
        revoked = text == REVOKE and topics.kind_and_key(topic)[0] == "agent"
        for connection in list(self._followers.get(topic, ())):
            if revoked:
                connection.close(protocol.CLOSE_REVOKED, "signed out: sign in again")
            elif connection.serial != skipped:
                connection.send(text)
