"""The outbox: mail written with the event it tells about, sent later by a worker.

A row is claimed with one conditional UPDATE (its lease must have run out), which works the
same on SQLite and PostgreSQL and lets several processes share the queue: exactly one claim
wins. A worker that dies after sending but before marking the row leaves the lease to run
out, and the mail goes again with the same bytes and Message-ID: the only duplicate possible.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import aiosmtplib
from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver.mail.compose import Outgoing
from chatserver.mail.settings import MailSettings, SmtpTarget
from chatserver.store import Store, new_id, now_ms
from chatserver.store.schema import outbox

log = logging.getLogger("chatserver.mail")

PENDING, SENT, DEAD = "pending", "sent", "dead"
# An idle worker looks for due mail this often; enqueueing in this process wakes it at once.
POLL_SECONDS = 1.0
# A claim lasts longer than the slowest SMTP conversation allowed (SMTP_TIMEOUT_SECONDS), so
# a live worker never loses a row it is still sending.
SMTP_TIMEOUT_SECONDS = 60.0
LEASE_MS = 3 * int(SMTP_TIMEOUT_SECONDS * 1000)
# Longest wait between two tries, whatever the attempt count.
MAX_BACKOFF_SECONDS = 3600.0
BATCH = 20


async def enqueue(conn: AsyncConnection, mail: Outgoing, ticket_id: str | None) -> str:
    """Add a mail to the outbox inside the caller's transaction; return the row id."""
    row_id = new_id()
    now = now_ms()
    await conn.execute(
        insert(outbox).values(
            id=row_id, ticket_id=ticket_id, kind=mail.kind, message_id=mail.message_id,
            sender=mail.sender, recipients=list(mail.recipients), raw=mail.raw, status=PENDING,
            attempts=0, next_attempt_at=now, claimed_until=None, last_error=None, created_at=now,
            sent_at=None,
        )
    )
    return row_id


def backoff_ms(settings: MailSettings, attempts: int) -> int:
    """Return how long to wait after the given number of failed attempts (doubling, capped)."""
    seconds = min(settings.retry_seconds * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS)
    return int(seconds * 1000)


@dataclass(frozen=True)
class Claimed:
    id: str
    message_id: str
    sender: str
    recipients: list[str]
    raw: bytes
    attempts: int
    created_at: int


def _due(now: int, limit: int) -> Any:
    return (
        select(outbox.c.id)
        .where(outbox.c.status == PENDING, outbox.c.next_attempt_at <= now)
        .where(or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < now))
        .order_by(outbox.c.next_attempt_at)
        .limit(limit)
    )


async def due(store: Store, limit: int = BATCH) -> list[str]:
    """Return the ids of up to limit mails due now that no worker holds."""
    async with store.read() as conn:
        return list((await conn.execute(_due(now_ms(), limit))).scalars())


async def claim(store: Store, row_id: str) -> Claimed | None:
    """Hold one due mail for LEASE_MS, or None when another worker holds it or it was sent.

    Claimed just before its own send, one at a time: a batch claimed at once would let the
    lease of its last mail run out behind slow sends before it, and another process would
    send it too.
    """
    now = now_ms()
    async with store.write() as conn:
        row = (
            await conn.execute(
                update(outbox)
                .where(outbox.c.id == row_id, outbox.c.status == PENDING)
                .where(or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < now))
                .values(claimed_until=now + LEASE_MS, attempts=outbox.c.attempts + 1)
                .returning(
                    outbox.c.id, outbox.c.message_id, outbox.c.sender, outbox.c.recipients,
                    outbox.c.raw, outbox.c.attempts, outbox.c.created_at,
                )
            )
        ).first()
    return Claimed(**row._mapping) if row is not None else None


async def mark_sent(store: Store, row_id: str) -> None:
    async with store.write() as conn:
        await conn.execute(
            update(outbox).where(outbox.c.id == row_id)
            .values(status=SENT, sent_at=now_ms(), claimed_until=None, last_error=None)
        )


async def mark_failed(store: Store, settings: MailSettings, mail: Claimed, error: str) -> str:
    """Schedule the next try, or make the mail a dead letter; return the new status."""
    dead = mail.attempts >= settings.max_attempts
    async with store.write() as conn:
        await conn.execute(
            update(outbox).where(outbox.c.id == mail.id).values(
                status=DEAD if dead else PENDING, claimed_until=None, last_error=error[:2000],
                next_attempt_at=now_ms() + backoff_ms(settings, mail.attempts),
            )
        )
    return DEAD if dead else PENDING


async def retry_dead(store: Store) -> int:
    """Give every dead letter a fresh set of tries (after the mail server is fixed)."""
    async with store.write() as conn:
        result = await conn.execute(
            update(outbox).where(outbox.c.status == DEAD)
            .values(status=PENDING, attempts=0, next_attempt_at=now_ms(), claimed_until=None)
        )
    return int(result.rowcount)


async def counts(store: Store) -> dict[str, int]:
    """Return how many mails are pending, sent and dead."""
    async with store.read() as conn:
        rows = await conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status))
        found: dict[str, Any] = {status: count for status, count in rows}
    return {status: int(found.get(status, 0)) for status in (PENDING, SENT, DEAD)}


class Transport(Protocol):
    async def send(self, mail: Claimed) -> None:
        """Deliver the mail or raise."""


class SmtpTransport:
    """Hands mail to an SMTP server with aiosmtplib: STARTTLS when offered or required, AUTH."""

    def __init__(self, target: SmtpTarget) -> None:
        self.target = target

    async def send(self, mail: Claimed) -> None:
        target = self.target
        await aiosmtplib.send(
            mail.raw,
            sender=mail.sender,
            recipients=mail.recipients,
            hostname=target.host,
            port=target.port,
            username=target.username,
            password=target.password,
            use_tls=target.security == "tls",
            # None: upgrade when the server offers STARTTLS; True: refuse to go on without it.
            start_tls=True if target.security == "starttls" else None,
            timeout=SMTP_TIMEOUT_SECONDS,
        )


class FileTransport:
    """Writes each mail as <data dir>/outbox/<time>-<id>.eml: the demo shows what it would send."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def send(self, mail: Claimed) -> None:
        await asyncio.to_thread(self._write, mail)

    def _write(self, mail: Claimed) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.directory / f"{mail.created_at}-{mail.id}.eml"
        partial = final.with_suffix(".part")
        partial.write_bytes(mail.raw)
        # Renamed into place, so a reader never sees half a mail and a retry overwrites, not adds.
        os.replace(partial, final)


def transport_for(settings: MailSettings, data_dir: Path) -> Transport:
    target = settings.smtp()
    return SmtpTransport(target) if target else FileTransport(data_dir / "outbox")


class Worker:
    """Sends due outbox mail until cancelled."""

    def __init__(self, store: Store, settings: MailSettings, transport: Transport) -> None:
        self.store = store
        self.settings = settings
        self.transport = transport
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look for mail now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                sent = await self.send_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The store itself failed (a restart of PostgreSQL, say): try again next poll.
                log.exception("event=outbox_failed")
                sent = 0
            if sent:
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            except TimeoutError:
                pass

    async def send_due(self) -> int:
        """Send what is due now; return how many mails were tried."""
        candidates = await due(self.store)
        for row_id in candidates:
            mail = await claim(self.store, row_id)
            if mail is None:
                continue  # another worker took it meanwhile
            try:
                await self.transport.send(mail)
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as problem:
                status = await mark_failed(self.store, self.settings, mail, repr(problem))
                log.warning(
                    "event=mail_failed id=%s message_id=%s attempt=%d status=%s error=%r",
                    mail.id, mail.message_id, mail.attempts, status, str(problem)[:200],
                )
                continue
            await mark_sent(self.store, mail.id)
            log.info("event=mail_sent id=%s message_id=%s attempt=%d", mail.id, mail.message_id,
                     mail.attempts)
        return len(candidates)
