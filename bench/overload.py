"""Overload: past saturation the server sheds (answers `unavailable` with a retry hint) instead
of letting latency grow without limit, and keeps delivering near its peak.

The relay's open-loop driver first finds the peak: the most messages per second delivered
over a ramp of offered rates. It then offers 1x, 1.5x and 2x that peak; each figure stands
beside the peak measured in the same run.

    python -m bench overload [--smoke]
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.common import Mode, Row, prepare, run_async, start_chatserver, stop
from bench.relay import PAIRS_PER_SITE, Driver, chatserver_pairs, chatserver_peer_text

# Shed messages never arrive: stragglers are waited for this long, not the relay's 20 s.
DRAIN = 3.0
SHED = ('"code":"unavailable"', '"code":"rate_limited"')


def run(mode: Mode) -> list[Row]:
    pairs = mode.pick(1000, 4)
    ramp = mode.pick([4000, 6000, 8000, 10000], [100, 200])
    seconds = mode.pick(4.0, 0.3)
    sites = -(-pairs // PAIRS_PER_SITE)
    print(f"overload: {pairs} pairs, ramp {ramp} msg/s to find the peak, then 1x/1.5x/2x of it",
          flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        ready = prepare(Path(tmp), sites, PAIRS_PER_SITE)
        process, base = start_chatserver(Path(tmp))
        try:
            async def main() -> tuple[float, dict[float, dict[str, float]]]:
                shed = [0]

                def peer_text(side: str, frame: str) -> str | None:
                    if frame.startswith('{"type":"error"') and any(code in frame for code in SHED):
                        shed[0] += 1
                    return chatserver_peer_text(side, frame)

                driver = Driver(await chatserver_pairs(base, ready, pairs), peer_text)
                try:
                    await driver.run(ramp[0], min(seconds, 0.5), process.pid)  # warm up
                    peak = max([(await driver.run(rate, seconds, process.pid, DRAIN))["delivered_per_s"]
                                for rate in ramp])
                    at: dict[float, dict[str, float]] = {}
                    for share in (1.0, 1.5, 2.0):
                        shed[0] = 0
                        result = await driver.run(peak * share, seconds, process.pid, DRAIN)
                        at[share] = {**result, "shed": shed[0]}
                    return peak, at
                finally:
                    await driver.close()

            peak, at = run_async(main)
        finally:
            stop(process)
    rows = []
    for share, result in at.items():
        offered = f"offered {share:g}x the peak ({peak * share:,.0f} msg/s)"
        rows += [
            Row("overload", f"delivered msg/s, {offered}", result["delivered_per_s"], peak, "msg/s",
                "ratio>=0.9" if share == 2.0 else "",
                note=f"{int(result['shed'])} shed with a retry hint" if result["shed"] else ""),
            Row("overload", f"p99 latency, {offered}", result["p99_ms"], None, "ms"),
        ]
    return rows
