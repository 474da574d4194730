"""The store: migrations produce exactly the schema the code queries."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from chatserver.store import MIGRATIONS, Store
from chatserver.store.schema import metadata


async def test_migrations_match_schema_and_run_twice(tmp_path: Path) -> None:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    await store.migrate()
    await store.migrate()

    def differences(conn: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(conn), metadata))

    async with store.read() as conn:
        assert await conn.run_sync(differences) == []
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
    await store.close()


def test_migrations_are_one_line_of_history() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    scripts = ScriptDirectory.from_config(config)
    assert len(scripts.get_heads()) == 1, "merge the heads: the next migration needs one parent"
    # Only the join of the round-one feature branches may have several parents.
    joins = [s.revision for s in scripts.walk_revisions() if isinstance(s.down_revision, tuple)]
    assert joins == ["0007"]
