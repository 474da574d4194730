"""Where the buckets of rules.py are kept: this process's memory, or Redis for every process.

One interface, `take(buckets, now_ms)`: spend one use of every bucket, or of none when any
is empty, and say how long to wait. With Redis (the broker's `REDIS_URL`) a small Lua script
does it in one round trip, so limits hold across processes; when Redis does not answer within
the broker's deadline, this process counts alone for a few seconds (a limit per process is
still a limit) rather than hold up the client, and then tries Redis again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from chatserver.limits.rules import Budget, take

log = logging.getLogger("chatserver.limits")

Buckets = list[tuple[str, Budget]]

# Buckets kept in memory before the full ones (nothing to remember) are swept out.
SWEEP_AT = 50_000
# How long a process counts alone after Redis failed to answer, before asking it again.
REDIS_DOWN_SECONDS = 5.0
KEY_PREFIX = "chatserver:limit:"


class Counter(Protocol):
    async def take(self, buckets: Buckets, now_ms: float) -> float:
        """Spend one use of each bucket, all or none; return 0, or the ms to wait."""

    async def close(self) -> None: ...


class MemoryCounter:
    """Buckets in this process: the limits of a server that runs as one process."""

    def __init__(self) -> None:
        self._full_at: dict[str, float] = {}
        self._sweep_at = SWEEP_AT

    async def take(self, buckets: Buckets, now_ms: float) -> float:
        return self.take_now(buckets, now_ms)

    def take_now(self, buckets: Buckets, now_ms: float) -> float:
        spent: list[tuple[str, float]] = []
        for key, budget in buckets:
            full_at, wait = take(self._full_at.get(key), now_ms, budget)
            if full_at is None:
                return wait
            spent.append((key, full_at))
        if len(self._full_at) > self._sweep_at:
            self._full_at = {k: v for k, v in self._full_at.items() if v > now_ms}
            # Many buckets in use (an attack from many addresses): sweep again only once they
            # have doubled, so sweeping stays a small share of the work.
            self._sweep_at = max(SWEEP_AT, 2 * len(self._full_at))
        self._full_at.update(spent)
        return 0.0

    async def close(self) -> None:
        self._full_at.clear()


# GCRA over several buckets at once: check them all, then spend them all. Keys expire when
# their bucket is full again, so Redis keeps only the buckets in use.
_SCRIPT = """
local now = tonumber(ARGV[1])
local full = {}
for i = 1, #KEYS do
  local interval, burst = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local at = tonumber(redis.call('GET', KEYS[i]) or '0')
  if at < now then at = now end
  local wait = at - now - burst
  if wait > 0 then return tostring(wait) end
  full[i] = at + interval
end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], string.format('%.3f', full[i]), 'PX', math.ceil(full[i] - now) + 1000)
end
return '0'
"""


class RedisCounter:
    """Buckets in Redis, shared by every process that uses the same REDIS_URL."""

    def __init__(self, url: str) -> None:
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        from chatserver.server.broker.redis import CONNECT_TIMEOUT_SECONDS

        self._redis = aioredis.Redis.from_url(
            url, decode_responses=True, retry=Retry(NoBackoff(), 1),
            socket_connect_timeout=CONNECT_TIMEOUT_SECONDS, socket_keepalive=True,
        )
        self._script = self._redis.register_script(_SCRIPT)
        self._local = MemoryCounter()
        self._down_until = 0.0

    async def take(self, buckets: Buckets, now_ms: float) -> float:
        from redis.exceptions import RedisError

        from chatserver.server.broker.redis import COMMAND_TIMEOUT_SECONDS

        if now_ms < self._down_until:
            return self._local.take_now(buckets, now_ms)
        args: list[float] = [now_ms]
        for _, budget in buckets:
            args += [budget.interval_ms, budget.burst_ms]
        try:
            async with asyncio.timeout(COMMAND_TIMEOUT_SECONDS):
                wait = await self._script(keys=[KEY_PREFIX + key for key, _ in buckets], args=args)
        except (RedisError, OSError, TimeoutError) as problem:
            log.warning("event=limits_counted_locally seconds=%s error=%s",
                        REDIS_DOWN_SECONDS, problem or "timeout")
            self._down_until = now_ms + REDIS_DOWN_SECONDS * 1000
            return self._local.take_now(buckets, now_ms)
        return float(wait)

    async def close(self) -> None:
        await self._redis.aclose()


def from_url(url: str) -> Counter:
    """Return the counter for the broker's URL: memory:// counts here, redis:// in Redis."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisCounter(url)
    return MemoryCounter()
