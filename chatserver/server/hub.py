"""Live connections of this process and the topics they follow, fed by the broker.

Fan-out never waits for the slowest client: each connection has a bounded send queue,
and a client that falls that far behind is closed; it reconnects and resumes by sequence
number from the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
from collections import defaultdict, deque
from collections.abc import Callable, Coroutine
from typing import Any

from starlette.websockets import WebSocket

from chatserver import protocol
from chatserver.server.broker import Broker
from chatserver.server.uvicorn_protocol import SEND_NOW, LeanSansIOProtocol

log = logging.getLogger("chatserver.server.hub")

# Frames waiting for one client. A browser tab drains hundreds a second; a client 256 frames
# behind is stalled, and resuming it from the store is cheaper than buffering more.
SEND_QUEUE_LIMIT = 256
# How long a close frame may wait on a client that no longer reads before we give up on it;
# the transport's own ping timeout then drops the socket.
CLOSE_WAIT_SECONDS = 5.0
# Published on an agent's topic, this closes their sockets on every process (code 4403):
# revoking an agent must end their live sockets, not only their HTTP sessions.
REVOKE = "revoke"
# Names this process in what it publishes, so that the socket an event came from is skipped
# here and nowhere else (its serial means nothing to other processes).
PROCESS = secrets.token_hex(4)
_serials = itertools.count(1)


def agent_topic(agent_id: str) -> str:
    return f"agent:{agent_id}"


class Connection:
    """The sending side of one client socket: frames go out at once, or wait in a bounded
    queue drained by a writer task while the client is not keeping up.

    The queue and its task exist only while frames wait, so an idle socket holds neither
    (memory per idle connection is a budget: see bench/idle.py).
    """

    def __init__(self, websocket: WebSocket, limit: int = SEND_QUEUE_LIMIT) -> None:
        self.websocket = websocket
        # Writes a frame without a task when the transport takes it now (sansio.py); absent
        # under another server, where every frame goes through the queue.
        self._sansio: LeanSansIOProtocol | None = (websocket.scope.get("extensions") or {}).get(SEND_NOW)
        self.serial = next(_serials)
        self.topics: set[str] = set()
        self._pending: deque[str] | None = None
        self._limit = limit
        self._writer: asyncio.Task[None] | None = None
        self.closed = False

    def send(self, text: str) -> None:
        """Send one frame; close the connection if the client has fallen too far behind."""
        if self.closed:
            return
        if self._pending is None:
            if self._sansio is not None and self._sansio.send_text_now(text):
                return
            self._pending = deque()
        if len(self._pending) >= self._limit:
            log.info("event=slow_client_closed queue=%d", len(self._pending))
            self.close(protocol.CLOSE_TOO_SLOW, "send queue full; reconnect and sync")
            return
        self._pending.append(text)
        if self._writer is None:
            self._writer = asyncio.create_task(self._write())

    def send_event(self, event: dict[str, Any]) -> None:
        self.send(protocol.dump(event))

    def close(self, code: int, reason: str) -> None:
        """Stop sending and close the socket with code, without waiting for the client."""
        if self.closed:
            return
        self.closed = True
        self._pending = None
        if self._writer is not None:
            self._writer.cancel()
        asyncio.create_task(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.websocket.close(code, reason), CLOSE_WAIT_SECONDS)

    async def drain(self) -> None:
        """Stop the writer (used when the socket ends: what is still queued has nowhere to go)."""
        self.closed = True
        self._pending = None
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer

    async def _write(self) -> None:
        try:
            while self._pending:
                await self.websocket.send_text(self._pending.popleft())
            self._pending = None  # caught up: frames go straight out again
        except asyncio.CancelledError:
            raise
        except Exception:
            # The client went away mid-send; the reader notices and cleans up.
            self.closed = True
        finally:
            self._writer = None


class Hub:
    """Routes broker messages to the local connections that follow each topic."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self._followers: dict[str, set[Connection]] = defaultdict(set)
        # Run when the broker reconnected after a drop, with the time from which broker
        # messages may be lost: tells this process's clients to catch up (see resync.py).
        self.on_resume: Callable[[int], Coroutine[Any, Any, None]] | None = None
        self._resuming: set[asyncio.Task[None]] = set()

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

    async def publish(
        self, topic: str, event: dict[str, Any], skip: Connection | None = None
    ) -> None:
        """Send an event to every follower of the topic, on every process, except skip.

        skip is the socket the event came from when its client already knows (a sent message
        has its ack): one frame fewer per message, and a typist does not hear their typing.
        """
        origin = f"{PROCESS}:{skip.serial}" if skip is not None else ""
        await self.broker.publish(topic, f"{origin}\n{protocol.dump(event)}")

    async def revoke(self, agent_id: str) -> None:
        """Close every socket of the agent, on every process."""
        await self.broker.publish(agent_topic(agent_id), f"\n{REVOKE}")

    def _deliver(self, topic: str, payload: str) -> None:
        # Compact JSON never holds a raw newline, so the first one ends the origin.
        origin, _, text = payload.partition("\n")
        process, _, serial = origin.partition(":")
        skipped = int(serial) if process == PROCESS else 0
        revoked = text == REVOKE and topic.startswith("agent:")
        for connection in list(self._followers.get(topic, ())):
            if revoked:
                connection.close(protocol.CLOSE_REVOKED, "signed out: sign in again")
            elif connection.serial != skipped:
                connection.send(text)
