"""Limits: server CPU per relayed message with the limiters on beside off, in the same run.

The relay of relay.py (real visitor/agent pairs, open loop), against two runs of the same
server on stores set up alike: CHATSERVER_LIMITS=off, and on (the default) with budgets so large
that nothing is refused, so the figure is what counting costs. Runs alternate off, on, off,
on, so a machine that slows down during the run weighs on both alike.

    python -m bench limits [--smoke]
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from bench.common import (
    BENCH_LIMITS,
    Mode,
    Prepared,
    Row,
    median,
    prepare,
    run_async,
    start_chatserver,
    stop,
)
from bench.relay import PAIRS_PER_SITE, _drive, chatserver_pairs, chatserver_peer_text
from chatserver.limits.blocks import BlockList
from chatserver.limits.counter import MemoryCounter
from chatserver.limits.gate import Gate
from chatserver.sites import Site
from chatserver.store import Store

# Server CPU per message may grow by this much with the limiters on (issue 15).
BUDGET = "ratio<=1.1"


def run(mode: Mode) -> list[Row]:
    pairs, rate = mode.pick(500, 4), mode.pick(2000, 200)
    seconds, rounds, turns = mode.pick(3.0, 0.3), mode.pick(2, 1), mode.pick(2, 1)
    sites = -(-pairs // PAIRS_PER_SITE)
    print(f"limits: {pairs} pairs on {sites} sites at {rate:,} msg/s, limiters off and on, "
          f"{turns} turns of {rounds} x {seconds:g} s each", flush=True)
    cpu: dict[str, list[float]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory() as tmp:
        for turn in range(turns):
            for setting in ("off", "on"):
                # A store of its own each time: the relay's client ids start again from 1.
                data_dir = Path(tmp) / f"{setting}{turn}"
                result = _measure(data_dir, prepare(data_dir, sites, PAIRS_PER_SITE), setting,
                                  pairs, rate, seconds, rounds)
                lost = f", {int(result['lost'])} not delivered in time" if result["lost"] else ""
                print(f"limits: turn {turn + 1}, limiters {setting}: {result['cpu_us']:.0f} µs "
                      f"server CPU per message{lost}", flush=True)
                cpu[setting].append(result["cpu_us"])
    return [Row("limits", f"server CPU per message, limiters on (beside off) at {rate:,} msg/s",
                median(cpu["on"]), median(cpu["off"]), "µs", BUDGET),
            Row("limits", "one frame's check: block and three buckets, in memory", _check_us(mode),
                None, "µs", note="in process, no sockets: what the relay's difference is made of")]


def _check_us(mode: Mode) -> float:
    """Time the gate's check of one visitor frame on a site with its own budgets."""
    site = Site("s", "k", "Bench", (), {"limits": BENCH_LIMITS})
    visitors = [f"v{n}" for n in range(500)]
    checks = int(mode.pick(200_000, 1000))

    async def main() -> float:
        store = Store("sqlite+aiosqlite://")  # never read: nobody is blocked
        gate = Gate(MemoryCounter(), BlockList(store), True)
        try:
            started = time.perf_counter()
            for n in range(checks):
                gate.blocked(site, visitors[n % 500], None)
                await gate.check(site, "message", network="127.0.0.1", visitor=visitors[n % 500])
            return (time.perf_counter() - started) / checks * 1e6
        finally:
            await store.close()

    result: float = asyncio.run(main())
    return result


def _measure(data_dir: Path, ready: Prepared, setting: str, pairs: int, rate: int, seconds: float,
             rounds: int) -> dict[str, float]:
    """Relay at rate through a server with CHATSERVER_LIMITS=setting; return the figures."""
    process, base = start_chatserver(data_dir, env={"CHATSERVER_LIMITS": setting})
    try:
        async def main() -> dict[int, dict[str, float]]:
            made = await chatserver_pairs(base, ready, pairs)
            return await _drive(made, chatserver_peer_text, process.pid, [rate], seconds, rounds)

        figures: dict[str, float] = run_async(main)[rate]
        return figures
    finally:
        stop(process)
