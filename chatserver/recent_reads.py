"""Reads that every visitor's arrival repeats (their site, whether anyone can answer), kept for
a moment per key and shared while in flight.

After a restart thousands of widgets say hello within seconds, each asking the same few
questions: one read answers all who ask within `seconds`, and those who ask while it runs
wait for it instead of starting their own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class RecentReads(Generic[K, V]):
    """Values per key, each read at most once per `seconds` by this process."""

    def __init__(self, seconds: float, limit: int = 10_000) -> None:
        self.seconds, self.limit = seconds, limit
        self._kept: dict[K, tuple[float, asyncio.Future[V]]] = {}

    async def get(self, key: K, read: Callable[[], Awaitable[V]]) -> V:
        """Return the key's value as read within `seconds`, or read it now."""
        now = time.monotonic()
        kept = self._kept.get(key)
        if kept is None or now - kept[0] >= self.seconds:
            if len(self._kept) >= self.limit:
                self._kept.clear()  # a flood of keys is bounded; the next asks read again
            kept = (now, asyncio.ensure_future(read()))
            self._kept[key] = kept
        try:
            # Shielded: a caller that goes away does not cancel the read the others await.
            return await asyncio.shield(kept[1])
        except Exception:
            self.drop(key, kept[1])
            raise

    def drop(self, key: K, read: asyncio.Future[V] | None = None) -> None:
        """Forget the key's value (only if it is still this read's, when one is given)."""
        kept = self._kept.get(key)
        if kept is not None and (read is None or kept[1] is read):
            del self._kept[key]

    def forget(self) -> None:
        """Forget every value: something they were read from changed."""
        self._kept.clear()
