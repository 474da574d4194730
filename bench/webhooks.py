"""Webhook deliveries per second with signing, through the outbox, beside a bare httpx loop.

Ours: events recorded in the outbox (SQLite, as a server on one machine), then the delivery
worker claims each row, signs it, posts it through the address guard and marks it sent,
16 at a time. The baseline posts the same bodies to the same receiver, 16 at a time, with
one httpx client and nothing else: no store, no signing, no guard. The receiver is uvicorn
in a child process answering 204 (its own cost is in both figures).

    python -m bench webhooks [--smoke]
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import Mode, Row, free_port, median, run_async, stop, wait_port
from chatserver import sites
from chatserver.chat.effects import Fact
from chatserver.store import Store
from chatserver.webhooks import delivery, guard, outbox, signing, subscriptions
from chatserver.webhooks.settings import WebhookSettings

RECEIVER = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})
"""


def _receiver(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    (workdir / "receiver_app.py").write_text(RECEIVER)
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "receiver_app:app", "--port", str(port), "--log-level",
         "warning", "--no-access-log"], cwd=workdir,
    )
    wait_port(port, process)
    return process


async def _ours(url: str, count: int, workdir: Path, run: int) -> float:
    store = Store(f"sqlite+aiosqlite:///{workdir / f'bench-{run}.db'}")
    await store.migrate()
    site = await sites.create(store, "Bench", [])
    await subscriptions.create(store, site.id, url, ["message.created"], signing.new_secret())
    settings = WebhookSettings(allow=guard.parse_networks(["127.0.0.0/8"]))
    recorder = outbox.Recorder(store, lambda: None)
    facts = [Fact("message.created", site.id, {"message": {"text": "x" * 200, "seq": n}})
             for n in range(count)]
    for start in range(0, count, 100):
        await recorder(facts[start:start + 100])
    worker = delivery.Worker(store, settings)
    began = time.perf_counter()
    while await worker.send_due():
        pass
    elapsed = time.perf_counter() - began
    left = await outbox.backlog(store)
    await store.close()
    if left["pending"] or left["dead"]:
        raise RuntimeError(f"deliveries left over: {left}")
    return count / elapsed


async def _bare(url: str, count: int) -> float:
    body = b'{"id":"x","type":"message.created","data":{"message":{"text":"' + b"x" * 200 + b'"}}}'
    slots = asyncio.Semaphore(delivery.CONCURRENCY)
    async with httpx.AsyncClient() as client:
        async def one() -> None:
            async with slots:
                (await client.post(url, content=body)).raise_for_status()

        began = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(count)))
        return count / (time.perf_counter() - began)


def run(mode: Mode) -> list[Row]:
    count, rounds = mode.pick((2000, 3), (40, 1))
    print(f"webhooks: {count} deliveries x {rounds} rounds to a uvicorn receiver on loopback", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        receiver = _receiver(port, Path(tmp))
        url = f"http://127.0.0.1:{port}/hook"
        try:
            ours = median([run_async(lambda r=r: _ours(url, count, Path(tmp), r)) for r in range(rounds)])
            bare = median([run_async(lambda: _bare(url, count)) for _ in range(rounds)])
        finally:
            stop(receiver)
    return [Row("webhooks", "deliveries per s, signed through the outbox vs a bare httpx loop",
                ours, bare, "deliveries/s",
                note="ours claims, signs, posts and marks each row in SQLite; the bare loop only posts")]
