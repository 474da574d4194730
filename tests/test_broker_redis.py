"""The Redis broker against a real redis-server: fan-out, and what happens when Redis dies."""

from __future__ import annotations

import asyncio

import pytest

from chatserver.server import broker
from chatserver.server.broker.redis import RedisBroker
from chatserver.store import now_ms
from conftest import free_port
from services import Redis

WAIT = 10.0  # reconnects retry at least every 2 s; a restarted Redis is up in well under 1 s


class Inbox:
    """Collects what a broker delivers, and its resume calls."""

    def __init__(self) -> None:
        self.got: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self.resumed: asyncio.Queue[int] = asyncio.Queue()

    def deliver(self, topic: str, text: str) -> None:
        self.got.put_nowait((topic, text))

    def resume(self, since: int) -> None:
        self.resumed.put_nowait(since)

    async def next(self) -> tuple[str, str]:
        return await asyncio.wait_for(self.got.get(), WAIT)


def test_backends_are_chosen_by_url_scheme() -> None:
    assert isinstance(broker.from_url("redis://127.0.0.1:1/0"), RedisBroker)
    with pytest.raises(ValueError, match="memory:// or redis://"):
        broker.from_url("kafka://somewhere")


async def test_unreachable_redis_fails_the_start_with_a_clear_error() -> None:
    unreachable = RedisBroker(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(ConnectionError, match="cannot reach Redis"):
        await unreachable.start(Inbox().deliver)


async def test_publish_reaches_subscribers_in_other_brokers(redis: Redis) -> None:
    one, two = RedisBroker(redis.url), RedisBroker(redis.url)
    inbox_one, inbox_two = Inbox(), Inbox()
    await one.start(inbox_one.deliver)
    await two.start(inbox_two.deliver)
    try:
        await two.subscribe("conv:x")
        await one.publish("conv:x", "hello")
        await one.publish("conv:y", "nobody listens")
        assert await inbox_two.next() == ("conv:x", "hello")
        await two.unsubscribe("conv:x")
        await one.publish("conv:x", "gone")
        await asyncio.sleep(0.3)
        assert inbox_two.got.empty() and inbox_one.got.empty()
    finally:
        await one.close()
        await two.close()


async def test_after_redis_restarts_topics_are_resubscribed_and_the_gap_reported(
    redis: Redis,
) -> None:
    listener, sender = RedisBroker(redis.url), RedisBroker(redis.url)
    inbox, sender_inbox = Inbox(), Inbox()
    await listener.start(inbox.deliver, inbox.resume)
    await sender.start(sender_inbox.deliver, sender_inbox.resume)
    try:
        await listener.subscribe("conv:a")
        before_kill = now_ms()
        redis.kill()
        # While Redis is down a publish says it was not taken (the hub then delivers within
        # its process), and a topic followed meanwhile is remembered for the resubscription.
        assert await sender.publish("conv:a", "lost") is False
        assert await sender.publish("conv:a", "not waited on") is False
        await listener.subscribe("conv:b")
        redis.start()
        since = await asyncio.wait_for(inbox.resumed.get(), WAIT)
        assert since <= now_ms() and since >= before_kill - 2000
        await asyncio.wait_for(sender_inbox.resumed.get(), WAIT)  # the sender is back too
        await sender.publish("conv:a", "after")
        await sender.publish("conv:b", "new topic")
        assert await inbox.next() == ("conv:a", "after")
        assert await inbox.next() == ("conv:b", "new topic")
    finally:
        await listener.close()
        await sender.close()
