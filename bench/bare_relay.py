"""A bare `websockets` relay, the baseline: two clients on /<pair> hear each other. No storage."""

from __future__ import annotations

import asyncio
import sys

from websockets.asyncio.server import ServerConnection, serve

rooms: dict[str, list[ServerConnection]] = {}


async def relay(ws: ServerConnection) -> None:
    room = rooms.setdefault(ws.request.path if ws.request else "/", [])
    room.append(ws)
    try:
        async for frame in ws:
            for peer in room:
                if peer is not ws:
                    await peer.send(frame)
    finally:
        room.remove(ws)


async def main(port: int) -> None:
    async with serve(relay, "127.0.0.1", port, compression=None):
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
