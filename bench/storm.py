"""Reconnect storm: thousands of open widgets, the server restarted, time until all are back.

Each client behaves as the widget does when its socket drops: it waits 0.5 s, 1 s, 2 s ...
(at most 30 s) with jitter between 50% and 100% of that, then reconnects with the token it
holds and says hello. The baseline is the same clients behaving as the widget did before:
fetching a new token over HTTP before every reconnect.

    python -m bench storm [--smoke]
"""

from __future__ import annotations

import asyncio
import json
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from bench.common import (
    Mode,
    Prepared,
    Row,
    median,
    prepare,
    run_async,
    start_chatserver,
    stop,
)

# How long a storm may take before the bench gives up on the stragglers.
GIVE_UP_SECONDS = 180.0
ARRIVALS_PER_S = 500


@dataclass
class Widget:
    token: str
    fetch_token: bool  # the old widget: a new token over HTTP before every reconnect
    back_at: float = 0.0  # when the last welcome arrived
    tries: int = 0


async def _new_token(base: str, key: str) -> str:
    """POST for a visitor token on a connection of its own, as each browser tab would. (A
    shared httpx pool with thousands of waiting requests costs the client more than the
    server, which would make the baseline measure the client.)"""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write((f"POST /api/v1/sites/{key}/visitors HTTP/1.1\r\nHost: {host}:{port}\r\n"
                      f"Origin: {base}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                      "Connection: close\r\n\r\n{}").encode())
        answer = await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise OSError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
    return str(json.loads(body)["token"])


async def _live(widget: Widget, base: str, key: str, stop_event: asyncio.Event,
                first: asyncio.Event, arrives_in: float) -> None:
    """Stay connected until stop_event, reconnecting like the widget."""
    ws_url = f"{base.replace('http', 'ws', 1)}/ws/visitor?site={key}"
    initial = True
    await asyncio.sleep(arrives_in)
    while not stop_event.is_set():
        try:
            if widget.fetch_token and not initial:
                widget.token = await _new_token(base, key)
            async with connect(ws_url, origin=base, ping_interval=None,  # type: ignore[arg-type]
                               compression=None, open_timeout=30) as ws:
                await ws.send(json.dumps({"type": "hello", "token": widget.token}))
                async for frame in ws:
                    if '"welcome"' in frame:
                        widget.back_at = time.perf_counter()
                        widget.tries = 0
                        initial = False
                        first.set()
        except (OSError, WebSocketException, TimeoutError, ValueError):
            pass
        if stop_event.is_set():
            return
        delay = min(30.0, 0.5 * 2 ** widget.tries) * (0.5 + random.random() / 2)
        widget.tries += 1
        await asyncio.sleep(delay)


async def _storm(ready: Prepared, fetch_token: bool) -> dict[str, float]:
    """Connect every widget, restart the server, and time their return."""
    process, base = start_chatserver(ready.data_dir)
    key = ready.site_keys[0]
    widgets = [Widget(token, fetch_token) for token in ready.tokens[0]]
    stop_event = asyncio.Event()
    firsts = [asyncio.Event() for _ in widgets]
    # Visitors arrive over a few seconds before the storm, not all in one instant.
    tasks = [asyncio.create_task(_live(w, base, key, stop_event, f, n / ARRIVALS_PER_S))
             for n, (w, f) in enumerate(zip(widgets, firsts, strict=True))]
    try:
        await asyncio.wait_for(asyncio.gather(*(f.wait() for f in firsts)), GIVE_UP_SECONDS)
        print(f"storm: {len(widgets)} widgets connected; restarting the server", flush=True)
        restart = time.perf_counter()
        await asyncio.to_thread(stop, process)
        port = int(base.rsplit(":", 1)[1])
        process, _ = await asyncio.to_thread(start_chatserver, ready.data_dir, port)
        healthy = time.perf_counter() - restart
        while time.perf_counter() - restart < GIVE_UP_SECONDS:
            back = sorted(w.back_at - restart for w in widgets if w.back_at > restart)
            if len(back) == len(widgets):
                break
            await asyncio.sleep(0.05)
        back = sorted(w.back_at - restart for w in widgets if w.back_at > restart)
    finally:
        stop_event.set()
        stop(process)
        await asyncio.gather(*tasks, return_exceptions=True)
    missing = len(widgets) - len(back)
    return {
        "healthy_s": healthy,
        "half_s": back[len(widgets) // 2 - 1] if len(back) >= len(widgets) // 2 else float("nan"),
        "all_s": back[-1] if not missing else float("nan"),
        "missing": missing,
    }


def run(mode: Mode) -> list[Row]:
    count = mode.pick(5000, 50)
    print(f"storm: {count} widgets connected to one process, then the server restarted", flush=True)
    results: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as tmp:
        ready = prepare(Path(tmp), 1, count)
        for fetch_token in (False, True):
            results[fetch_token].append(run_async(lambda f=fetch_token: _storm(ready, f)))
    ours, old = ({key: median([r[key] for r in results[f]]) for key in results[f][0]}
                 for f in (False, True))
    note = (f"{int(ours['missing'])} widgets not back in {GIVE_UP_SECONDS:.0f} s"
            if ours["missing"] else "")
    return [
        Row("storm", f"/healthz answers after a restart ({count} widgets open)", ours["healthy_s"],
            old["healthy_s"], "s"),
        Row("storm", f"half of {count} widgets back after a restart", ours["half_s"], old["half_s"], "s"),
        Row("storm", f"all {count} widgets back after a restart", ours["all_s"], old["all_s"], "s",
            "ours<=15", note=note or "baseline: a new token over HTTP before each reconnect"),
    ]
