"""RecentReads: one read per key and moment, shared by whoever asks meanwhile (no I/O)."""

from __future__ import annotations

import asyncio

import pytest

from chatserver.recent_reads import RecentReads


class Source:
    def __init__(self) -> None:
        self.reads = 0
        self.gate = asyncio.Event()
        self.fail = False

    async def read(self) -> int:
        self.reads += 1
        await self.gate.wait()
        if self.fail:
            raise OSError("store down")
        return self.reads


async def test_who_asks_while_a_read_runs_shares_it_and_the_answer_is_kept_a_moment() -> None:
    source, kept = Source(), RecentReads[str, int](seconds=0.2)
    waiting = [asyncio.create_task(kept.get("site", source.read)) for _ in range(50)]
    await asyncio.sleep(0)
    source.gate.set()
    assert await asyncio.gather(*waiting) == [1] * 50
    assert await kept.get("site", source.read) == 1 and source.reads == 1
    assert await kept.get("other", source.read) == 2
    await asyncio.sleep(0.25)
    assert await kept.get("site", source.read) == 3
    kept.forget()
    assert await kept.get("site", source.read) == 4


async def test_a_failed_read_is_not_kept_and_a_caller_gone_does_not_cancel_it() -> None:
    source, kept = Source(), RecentReads[str, int](seconds=60)
    source.fail = True
    first = asyncio.create_task(kept.get("site", source.read))
    second = asyncio.create_task(kept.get("site", source.read))
    await asyncio.sleep(0)
    first.cancel()
    source.gate.set()
    with pytest.raises(OSError):
        await second
    source.fail = False
    assert await kept.get("site", source.read) == 2


async def test_a_flood_of_keys_stays_bounded() -> None:
    source, kept = Source(), RecentReads[int, int](seconds=60, limit=10)
    source.gate.set()
    for key in range(100):
        await kept.get(key, source.read)
    assert await kept.get(99, source.read) == 100  # the last ones are still kept
    assert await kept.get(0, source.read) == 101  # the first long gone
