"""Fault drills: what a customer and an agent see when the store fails under them."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import Client, Server, agent, assigned_chat, visitor
from services import Postgres, postgres_cluster


@pytest.fixture
def own_postgres() -> Iterator[Postgres]:
    """A PostgreSQL cluster of this test's own, so the test may stop and restart it."""
    with postgres_cluster("chatserver-pg-fault-") as cluster:
        yield cluster


async def test_a_store_that_goes_away_answers_unavailable_and_keeps_every_socket(
    tmp_path: Path, own_postgres: Postgres, clients: list[Client]
) -> None:
    server = Server(tmp_path / "data", {"DATABASE_URL": own_postgres.new_database()})
    server.start()
    try:
        site = await server.add_site()
        await server.add_agent("ann@example.com", site)
        ann = await agent(server, "ann@example.com")
        customer = await visitor(server, site)
        clients += [ann, customer]
        chat = await assigned_chat(ann, customer)

        own_postgres.stop()
        await customer.send(type="message", conversation=chat, client_id="m2", text="hello?")
        refused = await customer.expect("error", timeout=15, ref="m2")
        assert refused["code"] == "unavailable" and refused["retry_after"] > 0
        async with httpx.AsyncClient() as http:
            health = await http.get(server.http + "/healthz", timeout=10)
        assert health.status_code == 503 and "store" in health.json()["reason"]
        await customer.send(type="ping")
        await customer.expect("pong")  # the socket stayed open

        own_postgres.launch()
        # The client resends what was refused, as the error told it to; stored exactly once.
        for _ in range(20):
            await customer.send(type="message", conversation=chat, client_id="m2", text="hello?")
            answer = await customer.expect_any(timeout=10)
            while answer["type"] not in ("ack", "error"):
                answer = await customer.expect_any(timeout=10)
            if answer["type"] == "ack":
                break
            assert answer["type"] == "error" and answer["code"] == "unavailable", answer
            await asyncio.sleep(0.5)
        assert answer["type"] == "ack" and answer["seq"] == 2
        await ann.send(type="sync", conversation=chat, after=0)
        texts = []
        while len(texts) < 2:
            frame = await ann.expect("message", conversation=chat)
            texts.append(frame["text"])
        assert texts == ["zxqv my blender hums", "hello?"]
        async with httpx.AsyncClient() as http:
            assert (await http.get(server.http + "/healthz", timeout=10)).status_code == 200
    finally:
        server.stop()


def test_starting_on_a_full_data_dir_says_so_in_one_line(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)], check=True)
    try:
        (disk / "filler").write_bytes(b"\0" * 250_000)
        started = subprocess.run(
            [sys.executable, "-m", "chatserver", "serve", "--port", "0", "--data-dir", str(disk / "data")],
            capture_output=True, text=True, timeout=60,
        )
    finally:
        subprocess.run(["umount", str(disk)], check=True)
    assert started.returncode == 1
    lines = started.stderr.strip().splitlines()
    assert len(lines) == 1 and "full" in lines[0] and str(disk / "data") in lines[0], started.stderr
