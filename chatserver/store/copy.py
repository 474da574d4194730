"""`chatserver migrate-store`: copy an embedded SQLite store into PostgreSQL, every row.

Both stores are first brought to the newest migration, so they have the same tables. The
copy runs in one PostgreSQL transaction: it lands whole or not at all, and a failed run can
simply be repeated. Afterwards every table's row count is compared.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Integer, Table, func, insert, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver.store import Store
from chatserver.store.schema import metadata

# Rows read and inserted per statement: big enough that a large history copies at thousands
# of rows a second, small enough to keep memory flat (a message row is at most ~20 KB).
BATCH_ROWS = 1000
# Alembic's own bookkeeping: each side already has it from migrate().
SKIPPED = frozenset({"alembic_version"})


class CopyError(Exception):
    """The copy cannot start or did not match; nothing was changed in the target."""


async def copy(source: Store, target: Store, progress: Callable[[str], None] = print) -> dict[str, int]:
    """Copy every row of source into the empty target; return the rows copied per table."""
    if not source.is_sqlite or target.is_sqlite:
        raise CopyError("migrate-store copies a SQLite store into PostgreSQL")
    await source.migrate()
    await target.migrate()
    async with source.read() as conn:
        unknown = set(await conn.run_sync(_table_names)) - SKIPPED - set(metadata.tables)
    if unknown:
        # A table only migrations know of would be left behind: refuse rather than lose it.
        raise CopyError(f"tables missing from schema.py, not copied: {', '.join(sorted(unknown))}")
    tables = metadata.sorted_tables  # parents before children, for the foreign keys
    copied: dict[str, int] = {}
    async with target.write() as dst:
        filled = {t.name: n for t in tables if (n := await _count(dst, t))}
        if filled:
            listed = ", ".join(f"{name} ({n} rows)" for name, n in filled.items())
            raise CopyError(
                f"the target database is not empty: {listed}. Copy into a new, empty database "
                "(and do not start chatserver on it before the copy)"
            )
        async with source.read() as src:
            for table in tables:
                copied[table.name] = await _copy_table(src, dst, table)
                progress(f"copied {copied[table.name]:>8} rows of {table.name}")
            for table in tables:
                # Read back inside the transaction: a mismatch rolls the whole copy back.
                expected, landed = await _count(src, table), await _count(dst, table)
                if not expected == landed == copied[table.name]:
                    raise CopyError(f"{table.name}: {expected} rows in SQLite but {landed} "
                                    "in PostgreSQL; nothing was copied")
                await _advance_sequence(dst, table)
    return copied


async def _copy_table(src: AsyncConnection, dst: AsyncConnection, table: Table) -> int:
    # Ordered by primary key so the batches page through the table exactly once.
    query = select(table).order_by(*table.primary_key.columns)
    rows = 0
    result = await src.stream(query)
    async for batch in result.partitions(BATCH_ROWS):
        await dst.execute(insert(table), [dict(row._mapping) for row in batch])
        rows += len(batch)
    return rows


async def _count(conn: AsyncConnection, table: Table) -> int:
    return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def _advance_sequence(dst: AsyncConnection, table: Table) -> None:
    """Move an integer key's sequence past the copied rows, so new rows get fresh numbers."""
    keys = list(table.primary_key.columns)
    if len(keys) != 1 or not isinstance(keys[0].type, Integer) or keys[0].autoincrement is False:
        return  # today every key is a random string id; this keeps a future serial key right
    column = keys[0].name
    await dst.execute(text(
        f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column}'), "
        f"COALESCE((SELECT MAX({column}) FROM {table.name}), 0) + 1, false) "
        f"WHERE pg_get_serial_sequence('{table.name}', '{column}') IS NOT NULL"
    ))


def _table_names(conn: Connection) -> list[str]:
    return inspect(conn).get_table_names()


async def run(data_dir: Path, target_url: str) -> int:
    """Copy the data dir's SQLite store into target_url and print what was copied."""
    database = data_dir / "chatserver.db"
    if not database.is_file():
        raise CopyError(f"no store to copy: {database} does not exist")
    source = Store(f"sqlite+aiosqlite:///{database.resolve()}")
    target = Store(target_url)
    try:
        copied = await copy(source, target)
    finally:
        await source.close()
        await target.close()
    print(f"copied {sum(copied.values())} rows in {len(copied)} tables from {database}; "
          "start chatserver with DATABASE_URL set to the new database")
    return 0
