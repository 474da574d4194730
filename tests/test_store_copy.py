"""`chatserver migrate-store`: an embedded install moves to PostgreSQL and keeps every row."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from chatserver.store import Store
from chatserver.store.schema import metadata
from conftest import Server, agent, visitor
from services import Postgres


async def _rows(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, in primary-key order."""
    store = Store(url)
    try:
        async with store.read() as conn:
            return {
                table.name: [
                    dict(row._mapping)
                    for row in await conn.execute(
                        table.select().order_by(*table.primary_key.columns)
                    )
                ]
                for table in metadata.sorted_tables
            }
    finally:
        await store.close()


def _migrate_store(data_dir: Path, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatserver", "migrate-store", "--data-dir", str(data_dir),
         "--to", url],
        capture_output=True, text=True, timeout=120, check=False,
    )


async def test_migrate_store_copies_every_row_and_chats_go_on(
    data_dir: Path, postgres: Postgres
) -> None:
    embedded = Server(data_dir)
    embedded.start()
    try:
        site = await embedded.add_site(origins=["https://shop.example"])
        await embedded.add_agent("ann@example.com", site)
        ann = await agent(embedded, "ann@example.com")
        guest = await visitor(embedded, site)
        await guest.send(type="start", client_id="c1", text="qwrtz xyzzy 4711?")
        conversation = (await guest.expect("ack"))["conversation"]
        await guest.send(type="escalate", conversation=conversation)  # in case an article matched
        for n in range(2, 6):
            await guest.send(type="message", conversation=conversation, client_id=f"c{n}", text=f"m{n}")
            await guest.expect("ack", ref=f"c{n}")
        await guest.send(type="receipt", conversation=conversation, seq=5, status="delivered")
        await ann.close()
        await guest.close()
    finally:
        embedded.stop()
    before = await _rows(embedded.store_url)
    assert len(before["messages"]) == 5

    url = postgres.new_database()
    done = _migrate_store(embedded.data_dir, url)
    assert done.returncode == 0, done.stderr
    assert "rows of messages" in done.stdout
    assert await _rows(url) == before

    # The same data dir on PostgreSQL: the visitor's old token still works (the signing secret
    # moved too) and the conversation is all there.
    moved = Server(embedded.data_dir, {"DATABASE_URL": url})
    moved.start()
    try:
        back = await visitor(moved, site, token=guest.token)
        await back.send(type="sync", conversation=conversation, after=0)
        synced = await back.expect("synced", conversation=conversation)
        texts = [f["text"] for f in back.seen if f.get("type") == "message"]
        assert synced["last_seq"] == 5 and texts == ["qwrtz xyzzy 4711?", "m2", "m3", "m4", "m5"]
        await back.close()
    finally:
        moved.stop()

    # A second run finds a database in use and refuses in one line, changing nothing.
    again = _migrate_store(embedded.data_dir, url)
    assert again.returncode == 2 and "not empty" in again.stderr
    assert "Traceback" not in again.stderr
