"""Idle sockets: server memory per idle visitor connection, beside a bare `websockets` server.

Visitors connect as browsers do (the client offers permessage-deflate), say hello and wait
for the welcome, then stay silent. The bare baseline (bare_relay.py, compression off) gets
the same connections and the same hello. Memory per connection is the rise of the server's
resident memory divided by the connections, after a warm-up batch has paid for first-use
allocations.

    python -m bench idle [--smoke]
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect

from bench.common import (
    Mode,
    Row,
    gather_limited,
    prepare,
    rss_bytes,
    run_async,
    start_bare_relay,
    start_chatserver,
    stop,
)

WARM_UP = 100
SETTLE_SECONDS = 2.0


async def _visitor(url: str, origin: str, token: str) -> ClientConnection:
    ws = await connect(url, origin=origin)  # type: ignore[arg-type]
    await ws.send(json.dumps({"type": "hello", "token": token}))
    while json.loads(await ws.recv()).get("type") != "welcome":
        pass
    return ws


async def _bare(url: str, _origin: str, token: str) -> ClientConnection:
    ws = await connect(url)  # offers permessage-deflate, which the bare server declines
    await ws.send(json.dumps({"type": "hello", "token": token}))
    return ws


async def _per_connection(
    pid: int, opener: Callable[[str], Awaitable[ClientConnection]], tokens: list[str]
) -> float:
    warm = await gather_limited([opener(t) for t in tokens[:WARM_UP]], 50)
    await asyncio.sleep(SETTLE_SECONDS)
    before = rss_bytes(pid)
    rest = await gather_limited([opener(t) for t in tokens[WARM_UP:]], 50)
    await asyncio.sleep(SETTLE_SECONDS)
    after = rss_bytes(pid)
    await asyncio.gather(*(ws.close() for ws in warm + rest), return_exceptions=True)
    return (after - before) / len(rest)


def run(mode: Mode) -> list[Row]:
    count = mode.pick(5000, 150)
    print(f"idle: {count} visitor connections (+{WARM_UP} warm-up), client offers deflate",
          flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        ready = prepare(Path(tmp), 1, count + WARM_UP)
        process, base = start_chatserver(Path(tmp))
        url = f"{base.replace('http', 'ws', 1)}/ws/visitor?site={ready.site_keys[0]}"
        try:
            ours = run_async(lambda: _per_connection(
                process.pid, lambda t: _visitor(url, base, t), ready.tokens[0]))
        finally:
            stop(process)
    process, bare_url = start_bare_relay()
    try:
        tokens = [f"t{n}" for n in range(count + WARM_UP)]
        bare = run_async(lambda: _per_connection(
            process.pid, lambda t: _bare(f"{bare_url}/{t}", "", t), tokens))
    finally:
        stop(process)
    return [Row("idle", f"server memory per idle connection ({count:,})", ours / 1024,
                bare / 1024, "KiB", "ratio<=1.5")]
