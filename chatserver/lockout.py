"""Failed sign-ins and the throttles that follow them, kept in the store for every process.

Two counters, both blind to whether an agent has the address, so the answers say nothing
about which accounts exist:

- per (address, network) pair: a few free tries, then a wait that doubles with each wrong
  password. The guesser waits; the same address from any other network signs in at once,
  so nobody can keep an admin out of their own account by guessing from elsewhere (the
  flaw of a lock per address).
- per network, across addresses: password spraying (one guess at many accounts) slows down
  the same way after more free tries.

A throttled attempt is refused before its password is checked, so the right password cannot
be told apart from a wrong one while guessing is throttled, and it does not count.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver import agents
from chatserver.store import Store, now_ms
from chatserver.store.schema import login_attempts


@dataclass(frozen=True)
class Policy:
    """When a series of failures locks, and for how long."""

    free: int  # the free-th failure is the first to lock
    base_ms: int  # the first lock; each further failure doubles it
    max_ms: int
    window_ms: int  # a series that began longer ago starts afresh


# A person who mistypes a few times never waits; a guesser at one account gets ~30 tries a
# day from one network (4 free, then 30 s, 1 min, 2 min, ... at most an hour between tries).
PAIR = Policy(free=5, base_ms=30_000, max_ms=3_600_000, window_ms=24 * 3_600_000)
# An office behind one address signs in many people, and some mistype: 30 failures in an
# hour before the network waits; a sprayer then gets a few more tries an hour, not thousands.
NETWORK = Policy(free=30, base_ms=60_000, max_ms=3_600_000, window_ms=3_600_000)


def lock_ms(policy: Policy, failures: int) -> int:
    """Return how long the failures-th failure of a series locks (0: not at all)."""
    if failures < policy.free:
        return 0
    doublings = min(failures - policy.free, 32)  # past the ceiling already; no huge ints
    return min(policy.max_ms, policy.base_ms << doublings)


def network(host: str | None) -> str:
    """Return what counts as one sender: the IPv4 address, or the IPv6 /64 it is part of.

    An IPv6 host usually holds a whole /64, so counting its addresses apart would be no limit.
    """
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return host or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    return str(address)


@dataclass(frozen=True)
class Lock:
    """Sign-ins refused until `until` (ms since the epoch)."""

    until: int

    def seconds_left(self, now: int) -> int:
        return max(1, math.ceil((self.until - now) / 1000))

    def minutes_left(self, now: int) -> int:
        return max(1, math.ceil((self.until - now) / 60_000))


def _keys(email: str, host: str | None) -> dict[str, Policy]:
    sender = network(host)
    pair = f"pair|{email.strip().lower()}|{sender}"
    return {
        hashlib.sha256(pair.encode()).hexdigest(): PAIR,
        hashlib.sha256(f"network|{sender}".encode()).hexdigest(): NETWORK,
    }


async def locked(store: Store, email: str, host: str | None) -> Lock | None:
    """Return the lock on this address from this sender, or None when it may try."""
    async with store.read() as conn:
        until = (
            await conn.execute(
                select(login_attempts.c.locked_until).where(
                    login_attempts.c.key_hash.in_(_keys(email, host))
                )
            )
        ).scalars().all()
    latest = max(until, default=0)
    return Lock(latest) if latest > now_ms() else None


async def _count(conn: AsyncConnection, key: str, policy: Policy, now: int) -> int:
    """Count one failure on a key; return until when it locks (0: it does not)."""
    row = (await conn.execute(select(login_attempts).where(login_attempts.c.key_hash == key))).first()
    if row is None:
        until = now + lock_ms(policy, 1) if lock_ms(policy, 1) else 0
        await conn.execute(
            insert(login_attempts).values(key_hash=key, failures=1, first_failed_at=now, locked_until=until)
        )
        return until
    fresh = row.first_failed_at < now - policy.window_ms
    failures = 1 if fresh else row.failures + 1
    until = now + lock_ms(policy, failures) if lock_ms(policy, failures) else 0
    await conn.execute(
        update(login_attempts)
        .where(login_attempts.c.key_hash == key)
        .values(failures=failures, first_failed_at=now if fresh else row.first_failed_at,
                locked_until=until)
    )
    return until


async def failed(store: Store, email: str, host: str | None) -> Lock | None:
    """Count one wrong password; return the lock it triggered, if any."""
    now = now_ms()
    # Two tries: on PostgreSQL two processes may both find no row and both insert; the
    # loser of that unique-key race counts its failure on the winner's row.
    for _ in range(2):
        try:
            async with store.write() as conn:
                # Series long over hold nothing; without this, each address ever tried stays.
                await conn.execute(
                    delete(login_attempts).where(
                        login_attempts.c.first_failed_at < now - PAIR.window_ms,
                        login_attempts.c.locked_until < now,
                    )
                )
                until = max([await _count(conn, key, policy, now)
                             for key, policy in _keys(email, host).items()])
                return Lock(until) if until else None
        except IntegrityError:
            continue
    return None


async def succeeded(store: Store, email: str, host: str | None) -> None:
    """Forget the failures of this address from this sender (the network's count stays:
    signing in to one's own account must not reset a sprayer's count)."""
    pair = next(key for key, policy in _keys(email, host).items() if policy is PAIR)
    async with store.write() as conn:
        await conn.execute(delete(login_attempts).where(login_attempts.c.key_hash == pair))


async def sign_in(store: Store, email: str, password: str, host: str | None) -> agents.Agent | Lock | None:
    """Check a sign-in under the throttles: the agent, the lock that refuses it, or None."""
    lock = await locked(store, email, host)
    if lock:
        return lock
    agent = await agents.authenticate(store, email, password) if email and password else None
    if agent is None:
        return await failed(store, email, host)
    await succeeded(store, email, host)
    return agent
