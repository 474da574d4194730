"""server/lean.py leans on private attributes of uvicorn and Starlette: fail loudly, naming
the attribute, when an upgrade takes one away (pyproject.toml pins the range tested here)."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from starlette.websockets import WebSocket
from uvicorn.config import Config
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState

from chatserver.server.lean import PARSED_HANDSHAKE, LeanSansIOProtocol, forget_handshake

# What LeanSansIOProtocol replaces or reads on uvicorn's protocol object from the start...
UVICORN_ATTRIBUTES = ("queue", "writable", "conn", "handshake_complete", "close_sent",
                      "disconnected")
# ...and what uvicorn sets during the handshake, which it clears once answered.
UVICORN_HANDSHAKE = ("self.request = ", "self.response = ", "self.transport = ", "self.scope: ")


async def _app(scope: Any, receive: Any, send: Any) -> None:
    return None


async def test_uvicorn_still_has_what_the_lean_protocol_replaces_and_reads() -> None:
    config = Config(_app, ws=LeanSansIOProtocol, lifespan="off")
    config.load()
    protocol = LeanSansIOProtocol(config=config, server_state=ServerState(),
                                  app_state={}, _loop=asyncio.get_running_loop())
    missing = [name for name in UVICORN_ATTRIBUTES if not hasattr(protocol, name)]
    assert not missing, f"uvicorn's websockets-sansio protocol lost {missing}: see server/lean.py"
    source = inspect.getsource(WebSocketsSansIOProtocol)
    gone = [line for line in UVICORN_HANDSHAKE if line not in source]
    assert not gone, f"uvicorn no longer sets {gone}: see server/lean.py"


def test_starlette_still_keeps_what_forget_handshake_drops() -> None:
    scope = {"type": "websocket", "path": "/ws", "query_string": b"site=x", "server": ("h", 80),
             "headers": [(b"host", b"h"), (b"cookie", b"a=b")], "scheme": "ws"}
    socket = WebSocket(scope, receive=None, send=None)  # type: ignore[arg-type]
    assert socket.headers and socket.cookies and socket.query_params and socket.url
    kept = [name for name in PARSED_HANDSHAKE if name in socket.__dict__]
    assert kept == list(PARSED_HANDSHAKE), f"Starlette no longer caches {set(PARSED_HANDSHAKE) - set(kept)}"
    forget_handshake(socket)
    assert not any(name in socket.__dict__ for name in PARSED_HANDSHAKE)
    assert scope["headers"] == []
