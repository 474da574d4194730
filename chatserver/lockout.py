"""Failed sign-ins and the lockout that follows them, kept in the store for every process.

Attempts are counted per email address as typed (lower-cased), whether or not an agent has
it, so a locked answer says nothing about which accounts exist.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from chatserver.store import Store, now_ms
from chatserver.store.schema import login_attempts

# Ten wrong passwords within fifteen minutes lock the address for fifteen minutes: a person
# who mistypes a few times never meets it, a guesser gets at most ~40 tries an hour.
MAX_FAILURES = 10
WINDOW_MS = 15 * 60 * 1000
LOCK_MS = 15 * 60 * 1000


@dataclass(frozen=True)
class Lock:
    """An address that may not sign in until `until` (ms since the epoch)."""

    until: int

    def minutes_left(self, now: int) -> int:
        return max(1, math.ceil((self.until - now) / 60_000))


def _key(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


async def locked(store: Store, email: str) -> Lock | None:
    """Return the lock on this address, or None when it may try to sign in."""
    async with store.read() as conn:
        until = (
            await conn.execute(
                select(login_attempts.c.locked_until).where(login_attempts.c.key_hash == _key(email))
            )
        ).scalar()
    return Lock(until) if until is not None and until > now_ms() else None


async def failed(store: Store, email: str) -> Lock | None:
    """Count one wrong password for this address; return the lock it triggered, if any."""
    key, now = _key(email), now_ms()
    # Two tries: on PostgreSQL two processes may both find no row and both insert; the
    # loser of that unique-key race counts its failure on the winner's row.
    for _ in range(2):
        try:
            async with store.write() as conn:
                row = (
                    await conn.execute(select(login_attempts).where(login_attempts.c.key_hash == key))
                ).first()
                if row is None:
                    await conn.execute(
                        insert(login_attempts).values(
                            key_hash=key, failures=1, first_failed_at=now, locked_until=0
                        )
                    )
                    return None
                # A window that ended starts counting afresh, so old mistakes do not add up.
                fresh = row.first_failed_at < now - WINDOW_MS
                failures = 1 if fresh else row.failures + 1
                until = now + LOCK_MS if failures >= MAX_FAILURES else 0
                await conn.execute(
                    update(login_attempts)
                    .where(login_attempts.c.key_hash == key)
                    .values(
                        failures=0 if until else failures,
                        first_failed_at=now if fresh or until else row.first_failed_at,
                        locked_until=until,
                    )
                )
                return Lock(until) if until else None
        except IntegrityError:
            continue
    return None


async def succeeded(store: Store, email: str) -> None:
    """Forget the failures of an address that signed in."""
    async with store.write() as conn:
        await conn.execute(delete(login_attempts).where(login_attempts.c.key_hash == _key(email)))
