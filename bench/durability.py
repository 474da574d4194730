"""Durability cost: messages committed per second with write batching on and off.

Many writers (one per conversation, as sockets are) append messages through the same
MessageWriter the server uses; every append returns only after its transaction committed.
"Off" is a batch of one: a committed transaction per message, as before batching.

    python -m bench durability [--smoke]
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from bench.common import Mode, Row, median, run_async
from chatserver import customers, sites
from chatserver.chat import conversations
from chatserver.chat.messages import MAX_BATCH, MessageWriter
from chatserver.store import Store


async def _committed_per_s(writers: int, each: int, max_batch: int, rounds: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite+aiosqlite:///{Path(tmp) / 'chatserver.db'}")
        await store.migrate()
        site = await sites.create(store, "Bench", [])
        chats = []
        for _ in range(writers):
            contact = await customers.create(store, site.id)
            chat, _ = await conversations.open(store, site.id, contact, "s")
            chats.append((chat.id, contact))
        writer = MessageWriter(store, max_batch)
        results = []
        for r in range(rounds):
            async def one(chat: str, contact: str, r: int = r) -> None:
                for n in range(each):
                    await writer.append(chat, "visitor", contact, f"{r}-{n}", "x" * 100)

            start = time.perf_counter()
            await asyncio.gather(*(one(chat, contact) for chat, contact in chats))
            results.append(writers * each / (time.perf_counter() - start))
        writer.close()
        await store.close()
    return median(results)


def run(mode: Mode) -> list[Row]:
    writers, each, rounds = mode.pick((500, 20, 3), (20, 5, 1))
    print(f"durability: {writers} writers x {each} messages, SQLite WAL, synchronous=NORMAL",
          flush=True)
    on = run_async(lambda: _committed_per_s(writers, each, MAX_BATCH, rounds))
    off = run_async(lambda: _committed_per_s(writers, each, 1, rounds))
    return [Row("durability", f"messages committed per s, batching on vs off ({writers} writers)",
                on, off, "msg/s",
                note="every message is committed before its ack either way; see README")]
