"""Lean sockets: uvicorn's websockets-sansio protocol and Starlette's WebSocket, holding less
for each idle socket. The one module that touches private attributes of uvicorn or
Starlette: pyproject.toml pins both to the range tests/test_lean.py checks, and that test
fails loudly when an attribute relied on here disappears.

Memory per idle connection is a budget (bench/idle.py). The stock protocol keeps an
asyncio.Queue (four deques, about 3 KiB) for one reader, an asyncio.Event (one more deque)
that is almost always set, and the handshake's request and response with their headers
for the whole life of the socket. Here a deque made on demand and at most one future
replace the queue, the event makes a future only while writing is paused, and the
handshake is let go once answered: 5.9 KiB less per socket, measured. send_text_now lets
the hub write a frame without a task. Everything else is uvicorn's own code; the whole
test suite runs on it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from starlette.websockets import WebSocket
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState


class _Inbox:
    """The ASGI receive queue for its one reader: a deque made on first use, one waiter."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: deque[Any] | None = None
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    async def get(self) -> Any:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        item = self._items.popleft()
        if not self._items:
            self._items = None  # an idle socket holds no deque
        return item


class _Writable:
    """asyncio.Event's set/clear/wait, with a future only while a writer waits on it."""

    __slots__ = ("_set", "_waiter")

    def __init__(self) -> None:
        self._set = True
        self._waiter: asyncio.Future[None] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        if self._waiter is not None:
            if not self._waiter.done():
                self._waiter.set_result(None)
            self._waiter = None

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        while not self._set:
            if self._waiter is None:
                self._waiter = asyncio.get_running_loop().create_future()
            # Shielded: one writer giving up (cancelled) must not cancel the others' wait.
            await asyncio.shield(self._waiter)
        return True


# The scope extension under which the app finds send_text_now.
SEND_NOW = "chatserver.send_now"


class LeanSansIOProtocol(WebSocketsSansIOProtocol):
    """Pass as uvicorn's ws= setting; behaves as ws="websockets-sansio", plus send_text_now."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = _Inbox()  # type: ignore[assignment]
        self.writable = _Writable()  # type: ignore[assignment]

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        if self.response.status_code == 101:
            self.scope["extensions"][SEND_NOW] = self  # type: ignore[assignment]

    def send_text_now(self, text: str) -> bool:
        """Write a text frame now if the transport takes it; False means await send instead.

        A chat message goes out to its peer from inside the sender's handler; an ASGI send
        there needs a task per frame, which cost more than the write itself.
        """
        if (
            not self.handshake_complete
            or self.close_sent
            or self.disconnected
            or not self.writable.is_set()
            or self.transport.is_closing()
        ):
            return False
        try:
            self.conn.send_text(text.encode())
        except InvalidState:  # the client is closing: send() says so the usual way
            return False
        self.transport.write(b"".join(self.conn.data_to_send()))
        return True

    def abort(self) -> None:
        """Cut the TCP connection now: a client that reads nothing will never take a close."""
        self.transport.abort()

    async def send(self, message: Any) -> None:
        await super().send(message)
        if self.handshake_complete and self.response is not None:
            # Answered: nothing reads the handshake again.
            self.request = None  # type: ignore[assignment]
            self.response = None  # type: ignore[assignment]


# What Starlette's WebSocket parses from the handshake on first use and keeps.
PARSED_HANDSHAKE = ("_headers", "_cookies", "_query_params", "_url")


def forget_handshake(websocket: WebSocket) -> None:
    """Drop the request headers (and what Starlette parsed of them) for the socket's life.

    Everything needed from them was read before the session began; kept, they cost each
    idle socket over a kilobyte.
    """
    websocket.scope["headers"] = []
    for parsed in PARSED_HANDSHAKE:
        websocket.__dict__.pop(parsed, None)
