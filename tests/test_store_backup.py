"""`chatserver backup FILE`: a copy taken while the server runs restores, and a server starts on it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TEST_DATABASE, Server, visitor

pytestmark = pytest.mark.skipif(TEST_DATABASE != "sqlite", reason="backs up the SQLite store")


def _backup(
    data_dir: Path, target: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatserver", "backup", str(target), "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=120, check=False, env=env,
    )


async def test_a_backup_of_a_running_server_restores_every_message(tmp_path: Path) -> None:
    live = Server(tmp_path / "live")
    live.start()
    try:
        site = await live.add_site()
        guest = await visitor(live, site)
        await guest.send(type="start", client_id="c1", text="qwrtz xyzzy 4711?")
        conversation = (await guest.expect("ack"))["conversation"]
        for n in range(2, 5):
            await guest.send(type="message", conversation=conversation, client_id=f"c{n}", text=f"m{n}")
            await guest.expect("ack", ref=f"c{n}")
        # Taken while the server runs and its last writes may sit in the -wal file only.
        done = _backup(live.data_dir, tmp_path / "nightly.db")
        await guest.close()
    finally:
        live.stop()
    assert done.returncode == 0, done.stderr
    assert "integrity check: ok" in done.stdout
    assert not list(tmp_path.glob(".nightly.db.partial"))

    restored = tmp_path / "restored"
    restored.mkdir()
    shutil.copy(tmp_path / "nightly.db", restored / "chatserver.db")
    server = Server(restored)
    server.start()
    try:
        back = await visitor(server, site, token=guest.token)
        await back.send(type="sync", conversation=conversation, after=0)
        synced = await back.expect("synced", conversation=conversation)
        texts = [f["text"] for f in back.seen if f.get("type") == "message"]
        assert synced["last_seq"] == 4 and texts == ["qwrtz xyzzy 4711?", "m2", "m3", "m4"]
        await back.close()
    finally:
        server.stop()


def test_a_backup_never_overwrites_and_points_postgres_users_to_pg_dump(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    missing = _backup(data_dir, tmp_path / "x.db")
    assert missing.returncode == 2 and "does not exist" in missing.stderr

    (tmp_path / "taken.db").write_bytes(b"an earlier backup")
    shutil.copy(tmp_path / "taken.db", data_dir / "chatserver.db")
    taken = _backup(data_dir, tmp_path / "taken.db")
    assert taken.returncode == 2 and "exists already" in taken.stderr
    assert (tmp_path / "taken.db").read_bytes() == b"an earlier backup"

    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": "postgresql://u@127.0.0.1/chat"}
    postgres = _backup(data_dir, tmp_path / "pg.db", env)
    assert postgres.returncode == 2 and "pg_dump -Fc" in postgres.stderr
    assert "Traceback" not in missing.stderr + taken.stderr + postgres.stderr
