"""How many calls a token may make: a window per token, in this process.

A site's integration that loops by mistake must not take the server from its visitors.
Per process, like the sign-in throttle's memory: behind N processes a token gets N times the
rate, which still bounds it; the store is not written on every call to count more exactly.
"""

from __future__ import annotations

import time

# Enough for a sync job paging through thousands of contacts a minute; far below what
# would starve the chat sockets sharing the process (each call is a few ms of work).
CALLS_PER_MINUTE = 600
WINDOW_SECONDS = 60.0
# Tokens remembered at most; past this the oldest windows are forgotten (they restart full).
KEPT = 10_000


class Window:
    """Counts calls per key in fixed windows; answers how long to wait when one is full."""

    def __init__(self, limit: int = CALLS_PER_MINUTE, seconds: float = WINDOW_SECONDS) -> None:
        self.limit, self.seconds = limit, seconds
        self._counts: dict[str, tuple[float, int]] = {}

    def take(self, key: str, now: float | None = None) -> float | None:
        """Count one call; return None if allowed, else the seconds until the window reopens."""
        now = time.monotonic() if now is None else now
        started, used = self._counts.get(key, (now, 0))
        if now - started >= self.seconds:
            started, used = now, 0
        if used >= self.limit:
            return round(started + self.seconds - now, 1)
        if len(self._counts) >= KEPT and key not in self._counts:
            self._counts.clear()
        self._counts[key] = (started, used + 1)
        return None


CALLS = Window()
