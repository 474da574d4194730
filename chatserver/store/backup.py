"""`chatserver backup FILE`: a consistent copy of the SQLite store, taken while the server runs.

Copying chatserver.db with `cp` while the server writes can catch a half-written page, and
misses what still sits in the -wal file. `VACUUM INTO` reads one snapshot (in WAL mode a
reader never blocks the server's writes) and writes a compact database with its log folded
in. The copy is written beside the target under a temporary name, checked with
`PRAGMA integrity_check`, and only then renamed: a backup interrupted half-way never leaves
a file that looks like a good one. PostgreSQL has its own tool for this (pg_dump).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from chatserver.config import Settings


class BackupError(ValueError):
    """A backup that cannot be made, with what to do instead."""


def backup(settings: Settings, target: Path) -> dict[str, int]:
    """Write a checked copy of the data dir's SQLite store to target; return rows per table."""
    if settings.database_url and not settings.database_url.startswith("sqlite"):
        raise BackupError("the store is PostgreSQL: back it up with "
                          "`pg_dump -Fc -f chatserver.dump DBNAME` (docs/deploying.md, Operations)")
    source = settings.data_dir / "chatserver.db"
    if settings.database_url:
        source = Path(settings.database_url.split("///", 1)[1])
    if not source.is_file():
        raise BackupError(f"no store to back up: {source} does not exist")
    if target.exists():
        raise BackupError(f"{target} exists already: choose a new name (a backup never overwrites)")
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent} is not a directory")
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        # Read-only: the backup must never be the thing that changes or locks the live store.
        conn = sqlite3.connect(f"file:{source.resolve()}?mode=ro", uri=True, timeout=30)
        try:
            conn.execute("VACUUM INTO ?", (str(partial),))
        finally:
            conn.close()
        counts = check(partial)
        os.replace(partial, target)
    except sqlite3.Error as failed:  # a full disk, a store locked for longer than the timeout
        raise BackupError(f"the backup of {source} failed: {failed}") from failed
    finally:
        partial.unlink(missing_ok=True)
    return counts


def check(database: Path) -> dict[str, int]:
    """Return the rows per table of a SQLite file; raise BackupError when it is damaged."""
    conn = sqlite3.connect(f"file:{database.resolve()}?mode=ro", uri=True)
    try:
        verdict = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        if verdict != ["ok"]:
            raise BackupError(f"{database} failed its integrity check: {'; '.join(verdict[:5])}")
        tables = [row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        return {name: int(conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]) for name in tables}
    finally:
        conn.close()
