"""Relay: visitor/agent pairs of real clients through the real server, open loop.

Messages of 100 bytes are sent at a fixed rate whatever the replies (open loop), each on
the next pair, alternating visitor -> agent and agent -> visitor. Latency runs from the
moment a message was due to the moment its peer received it, so a server that falls behind
shows it. The same client then drives a bare `websockets` relay that stores nothing
(bare_relay.py) in the same run; server CPU per delivered message comes from /proc.

    python -m bench relay [--smoke]
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from websockets.asyncio.client import ClientConnection, connect

from bench.common import (
    PASSWORD,
    Mode,
    Prepared,
    Row,
    cpu_seconds,
    gather_limited,
    median,
    percentile,
    prepare,
    run_async,
    start_bare_relay,
    start_chatserver,
    stop,
)

try:
    from orjson import loads
except ImportError:  # the same client for both servers either way
    loads = json.loads  # type: ignore[assignment]

# A site's agent takes at most 50 chats (agents.create), so pairs are spread over sites.
PAIRS_PER_SITE = 50
# How long a round waits for stragglers after the last send before counting them lost.
DRAIN_SECONDS = 20.0


@dataclass
class Pair:
    """Two client sockets that hear each other, and how to frame and read a message."""

    visitor: ClientConnection
    agent: ClientConnection
    frame: Callable[[str, str], str]  # (sender side, text) -> the frame to send


@dataclass
class Round:
    sent_at: dict[int, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    last_received: float = 0.0
    done: asyncio.Event = field(default_factory=asyncio.Event)
    expected: int = 0


class Driver:
    """Sends at a fixed rate over all pairs and times each delivery."""

    def __init__(self, pairs: list[Pair], peer_text: Callable[[str, str], str | None]) -> None:
        self.pairs = pairs
        self.peer_text = peer_text  # (receiver side, frame) -> text of a peer's message, or None
        self.round = Round()
        self.numbered = 0
        self.readers = [
            asyncio.create_task(self._read(ws, side))
            for pair in pairs for ws, side in ((pair.visitor, "visitor"), (pair.agent, "agent"))
        ]

    async def _read(self, ws: ClientConnection, side: str) -> None:
        async for frame in ws:
            text = self.peer_text(side, frame if isinstance(frame, str) else frame.decode())
            if text is None:
                continue
            now = time.perf_counter()
            current = self.round
            sent = current.sent_at.pop(int(text[:12]), None)
            if sent is None:
                continue
            current.latencies.append(now - sent)
            current.last_received = now
            if len(current.latencies) == current.expected:
                current.done.set()

    async def run(
        self, rate: float, seconds: float, pid: int, drain: float = DRAIN_SECONDS
    ) -> dict[str, float]:
        """Offer rate messages/s for seconds; return delivered/s, p50/p99 ms, CPU µs/message."""
        count = max(1, int(rate * seconds))
        current = self.round = Round(expected=count)
        cpu_before = cpu_seconds(pid)
        start = time.perf_counter()
        for k in range(count):
            due = start + k / rate
            lag = due - time.perf_counter()
            if lag > 0.0005:
                await asyncio.sleep(lag)
            # Numbered across rounds: a number seen before would be a resend, stored once.
            n = self.numbered = self.numbered + 1
            pair = self.pairs[n % len(self.pairs)]
            side = "visitor" if (n // len(self.pairs)) % 2 == 0 else "agent"
            ws = pair.visitor if side == "visitor" else pair.agent
            current.sent_at[n] = due
            await ws.send(pair.frame(side, f"{n:>12}".ljust(100, "x")))
        try:
            await asyncio.wait_for(current.done.wait(), drain)
        except TimeoutError:
            pass
        cpu = cpu_seconds(pid) - cpu_before
        delivered = len(current.latencies)
        elapsed = max(current.last_received - start, 1e-9)
        lat = current.latencies or [float("nan")]
        return {
            "delivered_per_s": delivered / elapsed,
            "lost": count - delivered,
            "p50_ms": median(lat) * 1000,
            "p99_ms": percentile(lat, 0.99) * 1000,
            "cpu_us": cpu / max(delivered, 1) * 1e6,
        }

    async def close(self) -> None:
        for task in self.readers:
            task.cancel()
        sockets = [ws for pair in self.pairs for ws in (pair.visitor, pair.agent)]
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


async def _until(ws: ClientConnection, kind: str, strict: bool = True) -> dict[str, object]:
    while True:
        frame: dict[str, object] = json.loads(await ws.recv())
        if frame.get("type") == kind:
            return frame
        if frame.get("type") == "error" and strict:
            raise RuntimeError(f"server refused: {frame}")


async def chatserver_pairs(base: str, ready: Prepared, pairs: int) -> list[Pair]:
    """Log each site's agent in, then connect and pair visitor and agent sockets."""
    ws_base = base.replace("http", "ws", 1)
    async with httpx.AsyncClient() as http:
        cookies = []
        for email in ready.agent_emails:
            login = await http.post(f"{base}/api/v1/login", json={"email": email, "password": PASSWORD})
            login.raise_for_status()
            cookies.append(login.cookies["chatserver_session"])

    async def one(site: int, index: int) -> Pair:
        key, token = ready.site_keys[site], ready.tokens[site][index]
        agent = await connect(f"{ws_base}/ws/agent", max_queue=None,
                              additional_headers={"Cookie": f"chatserver_session={cookies[site]}"})
        await agent.send(json.dumps({"type": "hello"}))
        await _until(agent, "welcome")
        visitor = await connect(f"{ws_base}/ws/visitor?site={key}", origin=base,  # type: ignore[arg-type]
                                max_queue=None)
        await visitor.send(json.dumps({"type": "hello", "token": token}))
        await _until(visitor, "welcome")
        # Words no help article matches: the chat goes to the queue, and to this site's agent.
        await visitor.send(json.dumps({"type": "start", "client_id": "s", "text": "qqzx wvvk"}))
        conversation = str((await _until(visitor, "ack"))["conversation"])
        await agent.send(json.dumps({"type": "accept", "conversation": conversation}))
        await agent.send(json.dumps({"type": "sync", "conversation": conversation, "after": 0}))
        # The accept fails (harmlessly) when routing already gave the chat to this agent.
        await _until(agent, "synced", strict=False)

        def frame(side: str, text: str) -> str:
            return json.dumps({"type": "message", "conversation": conversation,
                               "client_id": text[:12].strip() + side[0], "text": text})

        return Pair(visitor, agent, frame)

    made: list[Pair] = []
    for site in range(len(ready.site_keys)):
        count = min(PAIRS_PER_SITE, pairs - site * PAIRS_PER_SITE)
        made += await gather_limited([one(site, i) for i in range(count)], 10)
    return made


def chatserver_peer_text(side: str, frame: str) -> str | None:
    # Each side also receives acks and its own messages back; only the peer's count.
    if '"type":"message"' not in frame:
        return None
    event = loads(frame)
    return None if event["author"]["kind"] == side else str(event["text"])


async def bare_pairs(url: str, pairs: int) -> list[Pair]:
    async def one(index: int) -> Pair:
        a = await connect(f"{url}/{index}", compression=None, max_queue=None)
        b = await connect(f"{url}/{index}", compression=None, max_queue=None)

        def frame(side: str, text: str) -> str:
            return json.dumps({"type": "message", "client_id": text[:12].strip() + side[0],
                               "text": text})

        return Pair(a, b, frame)

    return await gather_limited([one(i) for i in range(pairs)], 20)


def bare_peer_text(side: str, frame: str) -> str | None:
    if frame.startswith('{"type":"ack"'):  # the floor relay acks, as chatserver does
        return None
    return str(loads(frame)["text"])


async def _drive(pairs: list[Pair], peer: Callable[[str, str], str | None], pid: int,
                 rates: list[int], seconds: float, rounds: int) -> dict[int, dict[str, float]]:
    driver = Driver(pairs, peer)
    try:
        await driver.run(rates[0], min(seconds, 0.5), pid)  # warm up: caches, JIT-free but lazy imports
        results: dict[int, dict[str, float]] = {}
        for rate in rates:
            runs = [await driver.run(rate, seconds, pid) for _ in range(rounds)]
            results[rate] = {key: median([r[key] for r in runs]) for key in runs[0]}
        return results
    finally:
        await driver.close()


def run(mode: Mode) -> list[Row]:
    """Measure both servers at each rate; return the rows."""
    return measure(mode.pick(1000, 4), mode.pick([1000, 10000], [200]), mode.pick(3.0, 0.3),
                   mode.pick(3, 1))


def measure(pairs: int, rates: list[int], seconds: float, rounds: int) -> list[Row]:
    """Run both servers with pairs clients at each rate, rounds x seconds each."""
    sites = -(-pairs // PAIRS_PER_SITE)
    print(f"relay: {pairs} pairs on {sites} sites, 100-byte messages, open loop at "
          f"{', '.join(map(str, rates))} msg/s, {rounds} x {seconds:g} s rounds", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        ready = prepare(Path(tmp), sites, PAIRS_PER_SITE)
        process, base = start_chatserver(Path(tmp))
        try:
            async def ours_main() -> dict[int, dict[str, float]]:
                made = await chatserver_pairs(base, ready, pairs)
                print(f"relay: {len(made)} chatserver pairs connected", flush=True)
                return await _drive(made, chatserver_peer_text, process.pid, rates, seconds, rounds)

            ours = run_async(ours_main)
        finally:
            stop(process)
    bare, floor = (_relay(script, pairs, rates, seconds, rounds)
                   for script in ("bare_relay.py", "floor_relay.py"))
    rows = []
    for rate in rates:
        o, b = ours[rate], bare[rate]
        at = f"at {rate:,} msg/s"
        lost = f"{int(o['lost'])} of {int(rate * seconds)} not delivered in time" if o["lost"] else ""
        rows += [
            Row("relay", f"delivered msg/s {at}", o["delivered_per_s"], b["delivered_per_s"],
                "msg/s", note=lost),
            Row("relay", f"p50 latency {at}", o["p50_ms"], b["p50_ms"], "ms"),
            Row("relay", f"p99 latency {at}", o["p99_ms"], b["p99_ms"], "ms",
                "ours<=5" if rate == 1000 else ""),
            Row("relay", f"server CPU per message {at}", o["cpu_us"], b["cpu_us"], "µs",
                "ratio<=1.6"),
            Row("relay", f"floor: CPU per message, stored before acked {at}",
                floor[rate]["cpu_us"], b["cpu_us"], "µs",
                note="floor_relay.py: group commit, ack and copy, nothing else"),
        ]
    return rows


def _relay(script: str, pairs: int, rates: list[int], seconds: float, rounds: int
           ) -> dict[int, dict[str, float]]:
    """Measure one of the stand-in relays of bench/ with the same client."""
    process, url = start_bare_relay(script)
    try:
        async def main() -> dict[int, dict[str, float]]:
            return await _drive(await bare_pairs(url, pairs), bare_peer_text, process.pid, rates,
                                seconds, rounds)

        result: dict[int, dict[str, float]] = run_async(main)
        return result
    finally:
        stop(process)
