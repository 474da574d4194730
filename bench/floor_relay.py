"""The floor under the relay budget: the least a server can do that stores before it acks.

Two clients on /<pair> hear each other, as in bare_relay.py, on chatserver's own stack
(uvicorn, its trimmed sansio protocol, uvloop, SQLite in WAL mode). Each message is parsed,
committed in a group commit, acknowledged to its sender and copied to its peer, with
frames written as chatserver writes them. Nothing else: no validation, no sign-in, no
sequence or holder checks, no resend lookup. What this costs beside the bare relay is the
price of "stored before acked" itself, which no amount of tuning chatserver removes.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
import sys
import tempfile
from typing import Any

import uvicorn

from chatserver.server.lean import SEND_NOW, LeanSansIOProtocol

Waiting = tuple[str, dict[str, Any], LeanSansIOProtocol, list[LeanSansIOProtocol]]

rooms: dict[str, list[LeanSansIOProtocol]] = {}
waiting: list[Waiting] = []
committer: list[asyncio.Task[None]] = []
numbers = itertools.count(1)
db = sqlite3.connect(f"{tempfile.mkdtemp()}/floor.db", isolation_level=None)
for pragma in ("journal_mode=WAL", "synchronous=NORMAL"):
    db.execute(f"PRAGMA {pragma}")
db.execute("CREATE TABLE messages (id INTEGER PRIMARY KEY, pair TEXT, client_id TEXT, body TEXT)")


def dump(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"))


async def commit() -> None:
    await asyncio.sleep(0)  # let the frames that arrived together join the batch
    while waiting:
        batch = waiting[:256]
        del waiting[:256]
        ids = [next(numbers) for _ in batch]
        db.execute("BEGIN IMMEDIATE")
        db.executemany(
            "INSERT INTO messages (id, pair, client_id, body) VALUES (?, ?, ?, ?)",
            [(seq, pair, request["client_id"], request["text"])
             for seq, (pair, request, _, _) in zip(ids, batch, strict=True)],
        )
        db.execute("COMMIT")
        for (_, request, sender, room), seq in zip(batch, ids, strict=True):
            sender.send_text_now(dump({"type": "ack", "ref": request["client_id"], "seq": seq}))
            copy = dump({"type": "message", "client_id": request["client_id"],
                         "text": request["text"], "seq": seq})
            for peer in room:
                if peer is not sender:
                    peer.send_text_now(copy)
    committer.clear()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    me: LeanSansIOProtocol = scope["extensions"][SEND_NOW]
    room = rooms.setdefault(scope["path"], [])
    room.append(me)
    try:
        while (event := await receive())["type"] == "websocket.receive":
            waiting.append((scope["path"], json.loads(event["text"]), me, room))
            if not committer:
                committer.append(asyncio.create_task(commit()))
    finally:
        room.remove(me)


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), ws=LeanSansIOProtocol,
                ws_per_message_deflate=False, log_level="warning", lifespan="off")
