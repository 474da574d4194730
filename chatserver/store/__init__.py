"""The store: one async SQLAlchemy engine, transactions, ids and clock."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Executable, Row, create_engine, event, make_url, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

MIGRATIONS = Path(__file__).parent / "migrations"
# A writer waits this long for another process's write to finish before giving up;
# SQLite holds its write lock only for the few milliseconds of one commit.
BUSY_TIMEOUT_MS = 5000
# Store.rows on SQLite waits at most this long for a lock (a reader in WAL mode next to never
# waits): it runs on the event loop's thread.
QUICK_READ_TIMEOUT_S = 0.25


def new_id() -> str:
    """Return a random, unguessable id (96 bits) for anything that travels to clients."""
    return secrets.token_urlsafe(12)


def now_ms() -> int:
    """Return the current time in integer milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


class Store:
    """The database: SQLite (embedded) or PostgreSQL, through one engine."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        # Store.rows on SQLite: the plain driver on the event loop's thread (None in memory,
        # where another connection would be another database).
        self._quick: Engine | None = None
        if self.is_sqlite:
            self.engine: AsyncEngine = create_async_engine(url, connect_args={"timeout": 30})
            _configure_sqlite(self.engine)
            if make_url(url).database not in (None, "", ":memory:"):
                self._quick = create_engine(
                    make_url(url).set(drivername="sqlite"), isolation_level="AUTOCOMMIT",
                    connect_args={"timeout": QUICK_READ_TIMEOUT_S, "check_same_thread": False},
                )
        else:
            # pre_ping: a pooled connection that died with a PostgreSQL restart is replaced
            # instead of failing the next request.
            self.engine = create_async_engine(
                url, pool_size=10, max_overflow=10, pool_pre_ping=True
            )
        # SQLite has one writer at a time; queueing writers here in-process is cheaper and
        # fairer than letting them spin on the file lock.
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """Open a read transaction."""
        async with self.engine.connect() as conn, conn.begin():
            yield conn

    async def rows(self, statement: Executable) -> list[Row[Any]]:
        """Run one query that an index answers at once, and return its rows.

        On SQLite it runs on the event loop's thread through the plain driver, in autocommit
        (a lone statement reads one consistent snapshot): about 25 µs where a read through
        aiosqlite's thread costs about 700, and every visitor's arrival makes three. Scans,
        and reads of several statements that must agree, use read().
        """
        if self._quick is not None:
            with self._quick.connect() as conn:
                return list(conn.execute(statement).all())
        async with self.engine.connect() as conn:
            return list((await conn.execute(statement)).all())

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """Open a write transaction that commits on success and rolls back on error."""
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock, self.engine.connect() as conn:
            # BEGIN IMMEDIATE takes the write lock up front, so a transaction never starts as a
            # reader and then deadlocks trying to become a writer (SQLITE_BUSY without waiting).
            conn = await conn.execution_options(sqlite_begin="IMMEDIATE")
            async with conn.begin():
                yield conn

    async def migrate(self) -> None:
        """Bring the schema to the newest migration."""
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(sqlite_begin="IMMEDIATE")
            async with conn.begin():
                if not self.is_sqlite:
                    # Several processes starting at once migrate once: the others wait here,
                    # then find the schema current. DDL is transactional on PostgreSQL, so the
                    # lock is held until the whole upgrade commits.
                    await _advisory_lock(conn, "migrate")
                await conn.run_sync(_upgrade)

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[None]:
        """Run the block while no other process sharing this database runs a block of that name.

        On PostgreSQL a transaction-scoped advisory lock, released when the block ends or the
        process dies; SQLite serves one machine, whose first start runs alone.
        """
        if self.is_sqlite:
            yield
            return
        async with self.engine.connect() as conn, conn.begin():
            await _advisory_lock(conn, name)
            yield

    async def close(self) -> None:
        await self.engine.dispose()
        if self._quick is not None:
            self._quick.dispose()


async def _advisory_lock(conn: AsyncConnection, name: str) -> None:
    # Advisory lock keys are 64-bit integers; derive one from the name, stable across processes.
    key = int.from_bytes(hashlib.sha256(f"chatserver:{name}".encode()).digest()[:8], "big", signed=True)
    await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _upgrade(conn: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    # One line of history (tests/test_store.py keeps it so): the next migration has one parent.
    command.upgrade(config, "head")


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (below); the driver's own transaction handling
        # starts transactions late and cannot take the write lock up front.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a crash of the process (the OS has the pages);
        # only a power cut can lose the last commits. FULL would fsync on every message.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")
