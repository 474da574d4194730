"""The sending side of one client socket, with a bounded queue for a client that lags."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any

from starlette.websockets import WebSocket

from chatserver import protocol
from chatserver.server.hub import serials
from chatserver.server.lean import SEND_NOW, LeanSansIOProtocol

log = logging.getLogger("chatserver.server.connection")

# Frames waiting for one client. A browser tab drains hundreds a second; a client 256 frames
# behind is stalled, and resuming it from the store is cheaper than buffering more.
SEND_QUEUE_LIMIT = 256
# How long a close frame may wait on a client that no longer reads; then the TCP connection
# is cut. A tab in the background still reads its socket, so only a stuck client meets this.
CLOSE_WAIT_SECONDS = 5.0


class Connection:
    """The sending side of one client socket: frames go out at once, or wait in a bounded
    queue drained by a writer task while the client is not keeping up.

    The queue and its task exist only while frames wait, so an idle socket holds neither
    (memory per idle connection is a budget: see bench/idle.py).
    """

    def __init__(self, websocket: WebSocket, limit: int = SEND_QUEUE_LIMIT) -> None:
        self.websocket = websocket
        # Writes a frame without a task when the transport takes it now (server/lean.py); absent
        # under another server, where every frame goes through the queue.
        self._sansio: LeanSansIOProtocol | None = (websocket.scope.get("extensions") or {}).get(SEND_NOW)
        self.serial = next(serials)
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

    def send_event(self, event: Any) -> None:
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
        try:
            await asyncio.wait_for(self.websocket.close(code, reason), CLOSE_WAIT_SECONDS)
        except TimeoutError:
            # The close frame cannot leave while the client reads nothing: the kernel would
            # hold megabytes for it indefinitely. Cut the connection; it resumes by seq.
            if self._sansio is not None:
                self._sansio.abort()
            log.info("event=slow_client_aborted code=%d", code)
        except Exception:
            pass  # already gone

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
