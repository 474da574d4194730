"""The S3 files backend against a real S3-compatible server: moto's, on loopback.

The server is moto's standalone HTTP server (`moto[server]`), started on a free port in a
temporary directory and stopped afterwards; chatserver talks to it as to any S3 endpoint.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from test_files import HTML, png

from chatserver.files.settings import S3Settings
from chatserver.files.storage import CHUNK_BYTES, DirStorage, S3Storage
from conftest import Client, Server, agent, assigned_chat, free_port, login, visitor

BUCKET = "chat-files"
KEYS = {"CHATSERVER_S3_ACCESS_KEY": "testing", "CHATSERVER_S3_SECRET_KEY": "testing"}


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[S3Settings]:
    """moto's S3 server on a free loopback port, with an empty bucket."""
    port = free_port()
    folder = tmp_path / "moto"
    folder.mkdir()
    with open(folder / "moto.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            cwd=folder, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(endpoint + "/moto-api/", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((folder / "moto.log").read_text()) from None
                time.sleep(0.1)
        yield S3Settings(endpoint, BUCKET, "testing", "testing")
    finally:
        process.terminate()
        process.wait(10)


async def _bucket(settings: S3Settings) -> S3Storage:
    storage = S3Storage(settings)
    await storage.create_bucket()
    return storage


async def test_s3_storage_streams_files_in_and_out(s3: S3Settings, tmp_path: Path) -> None:
    storage = await _bucket(s3)
    try:
        data = os.urandom(3 * CHUNK_BYTES + 123)
        spooled = tmp_path / "spool"
        spooled.write_bytes(data)
        await storage.put("fileAAAA1111", spooled, len(data), hashlib.sha256(data).hexdigest())
        assert not spooled.exists()  # handed over, the spool is gone
        assert await storage.exists("fileAAAA1111") == len(data)
        chunks = [chunk async for chunk in storage.read("fileAAAA1111")]
        assert b"".join(chunks) == data and max(len(c) for c in chunks) <= CHUNK_BYTES

        with pytest.raises(KeyError):
            [chunk async for chunk in storage.read("fileBBBB2222")]
        assert await storage.exists("fileBBBB2222") is None
        await storage.delete("fileAAAA1111")
        assert await storage.exists("fileAAAA1111") is None
    finally:
        await storage.close()


async def test_a_refusal_by_the_server_is_a_clear_storage_error(s3: S3Settings, tmp_path: Path) -> None:
    storage = S3Storage(S3Settings(s3.endpoint, "no-such-bucket", "testing", "testing"))
    spooled = tmp_path / "spool"
    spooled.write_bytes(b"hello")
    from chatserver.files.storage import StorageError

    try:
        with pytest.raises(StorageError, match="NoSuchBucket"):
            await storage.put("fileCCCC3333", spooled, 5, hashlib.sha256(b"hello").hexdigest())
        assert spooled.exists()  # refused: the spool is left for the caller to remove
    finally:
        await storage.close()


def _env(s3: S3Settings) -> dict[str, str]:
    return {"CHATSERVER_FILES": "s3", "CHATSERVER_S3_ENDPOINT": s3.endpoint,
            "CHATSERVER_S3_BUCKET": s3.bucket, **KEYS}


async def test_a_server_with_s3_files_takes_and_serves_them(
    s3: S3Settings, tmp_path: Path, clients: list[Client]
) -> None:
    await (await _bucket(s3)).close()
    server = Server(tmp_path / "data", _env(s3))
    server.start()
    try:
        site = await server.add_site()
        await server.add_agent("ann@example.com", site)
        ann = await agent(server, "ann@example.com")
        guest = await visitor(server, site)
        clients += [ann, guest]
        conversation = await assigned_chat(ann, guest)
        image, page = png(64, 64), HTML * 100
        async with httpx.AsyncClient() as http:
            sent = [await http.post(
                f"{server.http}/api/v1/sites/{site.public_key}/conversations/{conversation}/files",
                params={"name": name, "client_id": name.replace(".", "-")}, content=data,
                headers={"Authorization": f"Bearer {guest.token}", "Origin": server.http},
            ) for name, data in (("a.png", image), ("b.html", page))]
        assert [s.status_code for s in sent] == [201, 201]
        assert not (server.data_dir / "files").exists() or not any(
            p.is_file() for p in (server.data_dir / "files").rglob("*"))  # nothing on local disk
        cookie = await login(server, "ann@example.com")
        async with httpx.AsyncClient(cookies={"chatserver_session": cookie}) as http:
            got = [await http.get(f"{server.http}/api/v1/files/{s.json()['file']['id']}") for s in sent]
        assert got[0].content == image and got[0].headers["content-type"] == "image/png"
        assert got[1].content == page and got[1].headers["content-type"] == "application/octet-stream"
        assert got[1].headers["content-disposition"].startswith("attachment;")
        assert got[1].headers["content-security-policy"] == "sandbox; default-src 'none'"
    finally:
        server.stop()


async def test_migrate_store_moves_the_data_dirs_files_into_s3(
    s3: S3Settings, tmp_path: Path, clients: list[Client]
) -> None:
    await (await _bucket(s3)).close()
    server = Server(tmp_path / "data")  # files in the data dir, as on one machine
    server.start()
    try:
        site = await server.add_site()
        await server.add_agent("ann@example.com", site)
        ann = await agent(server, "ann@example.com")
        guest = await visitor(server, site)
        clients += [ann, guest]
        conversation = await assigned_chat(ann, guest)
        async with httpx.AsyncClient() as http:
            sent = await http.post(
                f"{server.http}/api/v1/sites/{site.public_key}/conversations/{conversation}/files",
                params={"name": "a.png"}, content=png(), headers={
                    "Authorization": f"Bearer {guest.token}", "Origin": server.http})
        file_id = sent.json()["file"]["id"]
    finally:
        server.stop()

    def migrate() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "chatserver", "migrate-store", "--files",
             "--data-dir", str(server.data_dir)],
            env={**os.environ, **_env(s3)}, capture_output=True, text=True, timeout=120)

    first = migrate()
    assert first.returncode == 0, first.stderr
    assert "copied 1 files into S3 (0 were there already)" in first.stdout
    again = migrate()  # an interrupted copy is run again: nothing twice
    assert "copied 0 files into S3 (1 were there already)" in again.stdout
    # Without S3 settings it says what is missing.
    wrong = subprocess.run(
        [sys.executable, "-m", "chatserver", "migrate-store", "--files",
         "--data-dir", str(server.data_dir)], capture_output=True, text=True, timeout=120)
    assert wrong.returncode == 2 and "CHATSERVER_FILES=s3" in wrong.stderr

    moved = Server(server.data_dir, _env(s3))
    DirStorage(server.data_dir / "files").path(file_id).unlink()  # only S3 has it now
    moved.start()
    try:
        cookie = await login(moved, "ann@example.com")
        async with httpx.AsyncClient(cookies={"chatserver_session": cookie}) as http:
            got = await http.get(f"{moved.http}/api/v1/files/{file_id}")
        assert got.status_code == 200 and got.content == png()
    finally:
        moved.stop()
