"""The Redis broker: pub/sub between processes through one Redis server (`REDIS_URL`).

Redis pub/sub is at most once: a subscriber that is disconnected misses what was published
meanwhile. So this broker manages its subscription connection itself (redis-py's own retry
would resubscribe silently and hide the gap): when the connection drops it reconnects with a
backoff, resubscribes every topic, and only then calls resume(since), so the hub can tell its
clients to catch up from the store, which holds every message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from chatserver.server.broker import Deliver, Resume
from chatserver.store import now_ms

log = logging.getLogger("chatserver.server.broker")

# Every process subscribes to this channel too, so the subscription connection exists (and
# is watched) even while no client follows anything.
CONTROL_CHANNEL = "chatserver:broker"
# How long one read waits for a message before the loop checks the connection's health.
READ_SECONDS = 1.0
# A PING on an idle subscription this often finds a connection that died silently.
HEALTH_CHECK_SECONDS = 5
# Reconnect attempts start fast (a restarted Redis is back in well under a second) and back
# off to this, so a Redis that is down for long costs one attempt every 2 s per process.
RECONNECT_MIN_SECONDS = 0.05
RECONNECT_MAX_SECONDS = 2.0
# Fail a publish quickly while Redis is away rather than hold up the client's socket: the
# message is already stored, and the resume after reconnecting delivers it.
CONNECT_TIMEOUT_SECONDS = 2.0
# Every Redis call has a deadline: a stalled Redis (paused, swapping, a full network buffer)
# must not stall the sockets whose messages wait on a publish. A publish round trip on
# loopback takes well under a millisecond; a quarter second is a Redis that is not there.
COMMAND_TIMEOUT_SECONDS = 0.25


class RedisBroker:
    def __init__(self, url: str) -> None:
        self.url = url
        self._topics: set[str] = set()
        self._deliver: Deliver | None = None
        self._resume: Resume | None = None
        # One immediate retry: the first command after a Redis restart meets a pooled
        # connection that is dead, and the retry opens a fresh one.
        self._publisher = self._client(Retry(NoBackoff(), 1))
        # No retries: this broker reconnects the subscription itself, to know about the gap.
        self._subscriber = self._client(Retry(NoBackoff(), 0))
        self._pubsub: PubSub | None = None
        # Held while the subscription is replaced or changed, so a topic followed during a
        # reconnect is neither lost nor sent to the dead connection.
        self._lock = asyncio.Lock()
        self._reader: asyncio.Task[None] | None = None
        # False from a failed call until the subscription is back: publishes then return
        # False at once (the hub delivers within this process) instead of waiting on Redis.
        self._up = True

    def _client(self, retry: Retry) -> aioredis.Redis:
        return aioredis.Redis.from_url(
            self.url, decode_responses=True, retry=retry,
            socket_connect_timeout=CONNECT_TIMEOUT_SECONDS, socket_keepalive=True,
            health_check_interval=HEALTH_CHECK_SECONDS,
        )

    async def start(self, deliver: Deliver, resume: Resume | None = None) -> None:
        """Connect and subscribe; raise if Redis cannot be reached at all on start."""
        self._deliver = deliver
        self._resume = resume
        try:
            await self._publisher.ping()
            await self._connect()
        except (RedisError, OSError) as problem:
            await self.close()
            raise ConnectionError(f"cannot reach Redis at REDIS_URL: {problem}") from problem
        self._reader = asyncio.create_task(self._read())

    async def subscribe(self, topic: str) -> None:
        async with self._lock:
            self._topics.add(topic)
            await self._command("subscribe", topic)

    async def unsubscribe(self, topic: str) -> None:
        async with self._lock:
            self._topics.discard(topic)
            await self._command("unsubscribe", topic)

    async def publish(self, topic: str, text: str) -> bool:
        if not self._up:
            return False
        try:
            async with asyncio.timeout(COMMAND_TIMEOUT_SECONDS):
                await self._publisher.publish(topic, text)
        except (RedisError, OSError, TimeoutError) as problem:
            # The message is in the store: this process's sockets get it from the hub, the
            # others' clients are told to sync when the subscription is back (resume).
            log.warning("event=broker_down topic=%s error=%s", topic, problem or "timeout")
            self._up = False
            return False
        return True

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        await self._drop()
        await self._publisher.aclose()
        await self._subscriber.aclose()
        self._topics.clear()

    async def _command(self, name: str, topic: str) -> None:
        if self._pubsub is None:
            return  # disconnected: the reconnect subscribes to whatever _topics holds then
        try:
            async with asyncio.timeout(COMMAND_TIMEOUT_SECONDS):
                await getattr(self._pubsub, name)(topic)
        except (RedisError, OSError, TimeoutError):
            self._up = False  # the reader sees it and resubscribes whatever _topics holds

    async def _connect(self) -> None:
        async with self._lock:
            pubsub = self._subscriber.pubsub()
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
                    await pubsub.subscribe(CONTROL_CHANNEL, *self._topics)
            except BaseException:
                await _close(pubsub)
                raise
            self._pubsub = pubsub

    async def _drop(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await _close(pubsub)

    async def _read(self) -> None:
        """Deliver messages; on a broken connection reconnect, resubscribe, then resume."""
        while True:
            try:
                await self._read_until_broken()
            # Not only Redis errors: a reader that died of anything would leave this process
            # deaf for good, so every failure ends in a fresh subscription and a resume.
            except Exception as problem:
                # Anything published from about now on may be lost until we resubscribe;
                # one read period earlier covers a message in flight when the link broke.
                since = now_ms() - int(READ_SECONDS * 1000)
                log.warning("event=broker_disconnected error=%s", problem)
                self._up = False
                await self._drop()
                await self._reconnect()
                self._up = True
                log.info("event=broker_resumed topics=%d", len(self._topics))
                if self._resume is not None:
                    self._resume(since)

    async def _read_until_broken(self) -> None:
        while True:
            if not self._up:
                raise ConnectionError("a Redis call failed: subscribe again")
            pubsub = self._pubsub
            assert pubsub is not None
            # The read's own timeout ends a quiet wait; this one a Redis that stopped answering.
            async with asyncio.timeout(READ_SECONDS + COMMAND_TIMEOUT_SECONDS * 8):
                message: dict[str, Any] | None = await pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=READ_SECONDS
                )
            if message is None or message.get("type") != "message":
                continue
            topic, text = message["channel"], message["data"]
            if self._deliver is not None and topic in self._topics:
                self._deliver(topic, text)

    async def _reconnect(self) -> None:
        delay = RECONNECT_MIN_SECONDS
        while True:
            await asyncio.sleep(delay)
            try:
                await self._connect()
                return
            except (RedisError, OSError, TimeoutError) as problem:
                log.debug("event=broker_reconnect_failed error=%s", problem)
                delay = min(delay * 2, RECONNECT_MAX_SECONDS)


async def _close(pubsub: PubSub) -> None:
    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
