"""Fixtures that run the real server (uvicorn in a subprocess) and real clients."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from argon2 import PasswordHasher
from websockets.asyncio.client import ClientConnection, connect

from chatserver import agents, auth, config, sites
from chatserver.store import Store

if TYPE_CHECKING:  # imported as a plugin below: an import here would skip its assert rewriting
    from services import Postgres, Redis

# Real PostgreSQL and Redis for the fixtures that need them (tests/services.py); real SMTP
# servers and a mail-enabled chatserver (tests/mail_fixtures.py).
pytest_plugins = ["services", "mail_fixtures", "browser"]
# CHATSERVER_TEST_DATABASE=postgresql runs every test's server (and the `store_url` fixture)
# on a PostgreSQL database of its own instead of SQLite; scripts/test makes a second pass so.
TEST_DATABASE = os.environ.get("CHATSERVER_TEST_DATABASE", "sqlite")

# Every wait in these tests ends by itself: a frame that does not come fails the test.
FRAME_TIMEOUT = 5.0
# A first start on a busy 2-core machine (imports, migrations, the help index) can take 20 s.
START_TIMEOUT = 60.0
PASSWORD = "correct horse battery"

# The agents that tests add get a cheap argon2 hash. A server reads the cost from the hash, so
# it signs them in at that cost: the default costs ~0.1-0.3 s of CPU per sign-in and per
# add_agent, over a minute across the suite on 2 cores. What the server hashes itself (the
# admin, agents added in the console, unknown emails against the dummy hash) keeps the default.
auth._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """A `chatserver serve` process on a free loopback port, with its own data dir."""

    def __init__(
        self, data_dir: Path, env: dict[str, str] | None = None, args: list[str] | None = None
    ) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.args = args or []  # more `serve` flags, e.g. ["--smtp-port", "2525"]
        # Search by meaning costs a server a second of loading its model and ~120 MB: test
        # servers search by words unless a test asks for meaning (tests/test_suggestions.py).
        self.env = {"CHATSERVER_SEARCH_MEANING": "off", **os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "server.log"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # The port was free when picked, but another process (an xdist worker, a client's
        # outgoing connection) may take it before uvicorn binds: a first start then picks
        # another. A restart keeps its port, as clients reconnect to the same address.
        for _ in range(3 if self.process is None else 1):
            logged = self.log.stat().st_size if self.log.exists() else 0
            self._spawn()
            if self._wait_healthy():
                return
            if "address already in use" not in self.log.read_bytes()[logged:].decode(errors="replace"):
                break
            self.port = free_port()
        raise RuntimeError(f"server exited early:\n{self.log.read_text()}")

    def _spawn(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "chatserver", "serve", "--host", "127.0.0.1",
                 "--port", str(self.port), "--data-dir", str(self.data_dir), *self.args],
                stdout=log, stderr=subprocess.STDOUT, env=self.env,
            )

    def _wait_healthy(self) -> bool:
        """Wait for /healthz; False when the process exited first."""
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                if httpx.get(self.http + "/healthz", timeout=1).status_code == 200:
                    return True
            except httpx.TransportError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not answer /healthz:\n{self.log.read_text()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    @property
    def store_url(self) -> str:
        """The store the server uses: DATABASE_URL from its environment, else its SQLite file."""
        return config.load(str(self.data_dir), environ=self.env).store_url

    async def add_site(self, name: str = "Shop", origins: list[str] | None = None) -> sites.Site:
        store = Store(self.store_url)
        try:
            return await sites.create(store, name, origins or [])
        finally:
            await store.close()

    def address(self, email: str) -> str:
        """The address an agent added as email signs in with (see Tenant)."""
        return email

    async def add_agent(
        self, email: str, site: sites.Site | None = None, max_chats: int = 5, role: str = "agent",
        name: str | None = None,
    ) -> agents.Agent:
        store = Store(self.store_url)
        try:
            return await agents.create(
                store, self.address(email), name or email.split("@")[0], PASSWORD,
                role=role, max_chats=max_chats, site_ids=[site.id] if site else None,  # type: ignore[arg-type]
            )
        finally:
            await store.close()


class Tenant(Server):
    """One test's share of the worker's shared server (a test marked shared_server).

    Tests on one process stay apart by site: each adds its own sites, and its agents serve
    only those. An agent of every site, or an admin, would see other tests' chats and could be
    given them, so add_agent refuses both: such a test needs a server of its own. Agent emails
    are unique in a store, so each test's agents get a domain of their own (ann@example.com is
    stored as ann@t7.example.com, with the name "ann"); login() and agent() translate alike.
    """

    _numbers = itertools.count(1)

    def __init__(self, shared: Server) -> None:
        vars(self).update(vars(shared))  # the same process, port, data dir and environment
        self.tag = f"t{next(self._numbers)}"

    def address(self, email: str) -> str:
        user, _, domain = email.rpartition("@")
        return f"{user}@{self.tag}.{domain}"

    async def add_agent(
        self, email: str, site: sites.Site | None = None, max_chats: int = 5, role: str = "agent",
        name: str | None = None,
    ) -> agents.Agent:
        if site is None or role == "admin":
            raise ValueError("an agent of every site on a shared server: drop the shared_server mark")
        return await super().add_agent(email, site, max_chats, role, name)

    def start(self) -> None:
        raise RuntimeError("a shared server is not the test's to start: drop the shared_server mark")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        raise RuntimeError("a shared server is not the test's to stop: drop the shared_server mark")


def _database() -> str:
    if TEST_DATABASE not in ("sqlite", "postgresql"):
        raise ValueError(f"CHATSERVER_TEST_DATABASE={TEST_DATABASE!r}: use sqlite or postgresql")
    return TEST_DATABASE


@dataclass(frozen=True)
class Template:
    """What a first start leaves: a data dir and, on PostgreSQL, a database."""

    data_dir: Path
    database_url: str | None

    def copy_data_dir(self, target: Path) -> Path:
        shutil.copytree(self.data_dir, target, ignore=shutil.ignore_patterns("server.log"))
        return target

    def copy_database(self, request: pytest.FixtureRequest) -> dict[str, str]:
        """Return the environment that points a server at a copy of the template's store.

        Empty on SQLite, whose store is a file in the data dir."""
        if self.database_url is None:
            return {}
        return {"DATABASE_URL": request.getfixturevalue("postgres").new_database(self.database_url)}


@pytest.fixture(scope="session")
def server_template(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Template:
    """One first start per session (per xdist worker), which test servers copy.

    A first start migrates the store, imports the help centre and builds its search index:
    seconds that every server would spend again. A copy behaves as a second start (the
    admin's one-time password is not printed again); tests of the first start itself start
    a Server on an empty data dir and store.
    """
    data_dir = tmp_path_factory.mktemp("template") / "data"
    url = request.getfixturevalue("postgres").new_database() if _database() == "postgresql" else None
    first = Server(data_dir, {"DATABASE_URL": url} if url else {})
    first.start()
    first.stop()
    return Template(data_dir, url)


@pytest.fixture
def data_dir(tmp_path: Path, server_template: Template) -> Path:
    """A data dir as a first start leaves it (the SQLite store, the help centre's index)."""
    return server_template.copy_data_dir(tmp_path / "data")


@pytest.fixture
def database_env(server_template: Template, request: pytest.FixtureRequest) -> dict[str, str]:
    """The environment that points a test's server at the database under test: on PostgreSQL
    a copy of the template's database, which matches the index in data_dir."""
    return server_template.copy_database(request)


@pytest.fixture
def store_url(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh, empty store for tests that use the store without a server."""
    if _database() == "postgresql":
        return str(request.getfixturevalue("postgres").new_database())
    return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"


@pytest.fixture(scope="session")
def shared_server(
    tmp_path_factory: pytest.TempPathFactory, server_template: Template, request: pytest.FixtureRequest
) -> Iterator[Server]:
    """One server process per session (per xdist worker) for the tests marked shared_server."""
    data_dir = server_template.copy_data_dir(tmp_path_factory.mktemp("shared") / "data")
    running = Server(data_dir, server_template.copy_database(request))
    running.start()
    yield running
    running.stop()


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    """The test's own server, started from a copy of the template.

    A test marked shared_server gets its share of the worker's shared process instead (see
    Tenant): no start of its own, but nothing to restart, kill, reconfigure or count globally.
    """
    if request.node.get_closest_marker("shared_server"):
        yield Tenant(request.getfixturevalue("shared_server"))
        return
    running = Server(request.getfixturevalue("data_dir"), request.getfixturevalue("database_env"))
    running.start()
    yield running
    running.stop()


@dataclass
class Cluster:
    """Two `chatserver serve` processes sharing real PostgreSQL and Redis, as when scaled out."""

    a: Server
    b: Server
    database_url: str
    redis: Redis


@pytest.fixture
def cluster(tmp_path: Path, postgres: Postgres, redis: Redis) -> Iterator[Cluster]:
    """Processes A and B on one fresh PostgreSQL database and one Redis, started at once."""
    database_url = postgres.new_database()
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis.url}
    a, b = Server(tmp_path / "a", env), Server(tmp_path / "b", env)
    try:
        # At once, like a systemd template unit or a rolling deploy: both migrate and bootstrap
        # the empty database, and the advisory locks must make that happen once.
        with ThreadPoolExecutor(2) as pool:
            for started in [pool.submit(a.start), pool.submit(b.start)]:
                started.result()
        yield Cluster(a, b, database_url, redis)
    finally:
        a.stop()
        b.stop()


class Client:
    """A real WebSocket client that keeps frames it was not waiting for."""

    def __init__(self, ws: ClientConnection, token: str | None = None) -> None:
        self.ws = ws
        self.token = token
        self.me: str | None = None
        self.seen: list[dict[str, Any]] = []
        self._unread: list[dict[str, Any]] = []

    async def send(self, **frame: Any) -> None:
        await self.ws.send(json.dumps(frame))

    async def expect(self, kind: str, timeout: float = FRAME_TIMEOUT, **match: Any) -> dict[str, Any]:
        """Return the next frame of this type whose keys equal match; fail after timeout."""
        for index, frame in enumerate(self._unread):
            if _matches(frame, kind, match):
                return self._unread.pop(index)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(f"no {kind} {match} within {timeout}s; got {self._unread}")
            try:
                frame = json.loads(await asyncio.wait_for(self.ws.recv(), left))
            except TimeoutError:
                continue
            self.seen.append(frame)
            if _matches(frame, kind, match):
                return frame
            self._unread.append(frame)

    async def expect_any(self, timeout: float = FRAME_TIMEOUT) -> dict[str, Any]:
        """Return the next frame of any type."""
        if self._unread:
            return self._unread.pop(0)
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self.seen.append(frame)
        return frame

    async def quiet(self, kind: str, seconds: float = 0.3, **match: Any) -> None:
        """Assert that no frame of this type arrives for a short while."""
        try:
            frame = await self.expect(kind, timeout=seconds, **match)
        except AssertionError:
            return
        raise AssertionError(f"unexpected {kind}: {frame}")

    async def close(self) -> None:
        await self.ws.close()


class Chat:
    """Equal to a conversation event's body with this id and status (and agent fields)."""

    def __init__(self, conversation_id: str, status: str, agent: dict[str, str] | None = None):
        self.id, self.status, self.agent = conversation_id, status, agent

    def __eq__(self, body: object) -> bool:
        return (
            isinstance(body, dict)
            and body.get("id") == self.id
            and body.get("status") == self.status
            and all((body.get("agent") or {}).get(k) == v for k, v in (self.agent or {}).items())
        )


def _matches(frame: dict[str, Any], kind: str, match: dict[str, Any]) -> bool:
    return frame.get("type") == kind and all(frame.get(k) == v for k, v in match.items())


async def visitor_token(server: Server, site: sites.Site, origin: str | None = None) -> str:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{server.http}/api/v1/sites/{site.public_key}/visitors",
            json={}, headers={"Origin": origin or server.http},
        )
    response.raise_for_status()
    return str(response.json()["token"])


async def visitor(
    server: Server, site: sites.Site, token: str | None = None, origin: str | None = None
) -> Client:
    """Connect a visitor, say hello and return the client after its welcome."""
    token = token or await visitor_token(server, site, origin)
    ws = await connect(
        f"{server.ws}/ws/visitor?site={site.public_key}", origin=origin or server.http  # type: ignore[arg-type]
    )
    client = Client(ws, token)
    await client.send(type="hello", token=token)
    await client.expect("welcome")
    return client


async def login(server: Server, email: str) -> str:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{server.http}/api/v1/login", json={"email": server.address(email), "password": PASSWORD}
        )
    response.raise_for_status()
    return str(response.cookies["chatserver_session"])


async def agent(server: Server, email: str) -> Client:
    """Sign an agent in, connect, say hello and return the client after its welcome."""
    cookie = await login(server, email)
    ws = await connect(
        f"{server.ws}/ws/agent", additional_headers={"Cookie": f"chatserver_session={cookie}"}
    )
    client = Client(ws)
    await client.send(type="hello")
    client.me = (await client.expect("welcome"))["you"]["id"]
    return client


async def assigned_chat(ann: Client, guest: Client, text: str = "zxqv my blender hums") -> str:
    """Start a chat no article answers; return its id once routing has given it to ann."""
    await guest.send(type="start", client_id="s1", text=text)
    conversation = str((await guest.expect("ack"))["conversation"])
    await ann.expect("conversation", conversation=Chat(conversation, "assigned"))
    return conversation


@pytest.fixture
async def clients() -> AsyncIterator[list[Client]]:
    """Collects clients to close at the end of a test."""
    opened: list[Client] = []
    yield opened
    for client in opened:
        await client.close()
