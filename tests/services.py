"""Real PostgreSQL and Redis servers for tests: Debian's binaries, free loopback ports, temp dirs.

Each runs in the foreground as a child of the test process and is stopped at the end. When a
binary is missing the tests that need it are skipped, except in CI (CI=true), where a missing
service is a failure: a green run must never mean "the scale-out tests did not run".
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# Generous for a 2-core machine shared by several test runs: initdb alone takes ~2 s there.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def missing(what: str) -> None:
    """Skip the test, or fail it in CI where every service must be there."""
    message = f"{what} is not installed (scripts/test installs it as root)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _find(name: str, *patterns: str) -> str | None:
    """Return the path of a binary on PATH or in one of Debian's versioned directories."""
    found = shutil.which(name)
    if found:
        return found
    for pattern in patterns:
        candidates = sorted(glob.glob(pattern), reverse=True)  # the newest major version first
        if candidates:
            return candidates[0]
    return None


def _wait_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited early:\n{log.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"not listening on {port} after {START_TIMEOUT}s:\n{log.read_text()}")


def _stop(process: subprocess.Popen[bytes] | None, sig: int) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT)


class Redis:
    """A `redis-server` on a free loopback port that can be killed and started again."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        # Fixed for the life of this object, so a restarted server is at the same URL.
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                # An explicit port (0 would mean no TCP at all), loopback only, no persistence:
                # pub/sub keeps nothing, and a restarted server must come back empty.
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--dir", str(self.workdir),
                 "--daemonize", "no"],
                stdout=log, stderr=subprocess.STDOUT,
            )
        _wait_port(self.port, self.process, self.log)

    def kill(self) -> None:
        """Kill the server without warning, as a crash would."""
        _stop(self.process, signal.SIGKILL)

    def stop(self) -> None:
        _stop(self.process, signal.SIGTERM)


class Postgres:
    """A PostgreSQL cluster in a temp dir on a free loopback port; hands out fresh databases."""

    def __init__(self, bindir: Path, workdir: Path) -> None:
        self.bindir = bindir
        self.workdir = workdir
        self.datadir = workdir / "data"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / "postgres.log"
        self._databases = 0
        # initdb and postgres refuse to run as root: run them as the `postgres` user then.
        self._user = "postgres" if os.geteuid() == 0 else None
        if self._user:
            owner = pwd.getpwnam(self._user)
            os.chown(workdir, owner.pw_uid, owner.pw_gid)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        subprocess.run(
            [str(self.bindir / args[0]), *args[1:]], user=self._user, cwd=self.workdir,
            check=True, capture_output=True, timeout=START_TIMEOUT,
        )

    def start(self) -> None:
        self._run("initdb", "-D", str(self.datadir), "-U", "postgres", "-A", "trust",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        self.launch()

    def launch(self) -> None:
        """Run the server on the cluster made by start() (again, after stop())."""
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [str(self.bindir / "postgres"), "-D", str(self.datadir), "-p", str(self.port),
                 "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.workdir}",
                 # Test data is thrown away: skip every fsync, it costs seconds per test.
                 "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                 # Several chatserver processes, each with a pool, plus the tests' own stores.
                 "-c", "max_connections=200"],
                stdout=log, stderr=subprocess.STDOUT, user=self._user, cwd=self.workdir,
            )
        _wait_port(self.port, self.process, self.log)
        deadline = time.monotonic() + START_TIMEOUT
        # The port opens before the cluster accepts queries (startup recovery).
        while subprocess.run(
            [str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
            check=False,
        ).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres not ready:\n{self.log.read_text()}")
            time.sleep(0.1)

    def new_database(self, template: str | None = None) -> str:
        """Create a database and return its SQLAlchemy URL: empty, or a copy of the database
        at the template URL (which nothing may be connected to)."""
        self._databases += 1
        name = f"test_{os.getpid()}_{self._databases}"
        copy = f' TEMPLATE "{template.rsplit("/", 1)[1]}"' if template else ""
        self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-q",
                  "-v", "ON_ERROR_STOP=1", "-c", f'CREATE DATABASE "{name}"{copy}')
        return self.url(name)

    def stop(self) -> None:
        # SIGINT is PostgreSQL's fast shutdown: roll back open transactions, then exit.
        _stop(self.process, signal.SIGINT)


def postgres_bindir() -> Path | None:
    initdb = _find("initdb", "/usr/lib/postgresql/*/bin/initdb")
    return Path(initdb).resolve().parent if initdb else None


def _workdir(prefix: str) -> Path:
    # Not under pytest's tmp dir: that is private to root, and postgres must reach its files.
    return Path(tempfile.mkdtemp(prefix=prefix))


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """One PostgreSQL cluster for the whole run; tests take a fresh database each."""
    with postgres_cluster("chatserver-pg-") as cluster:
        yield cluster


@contextlib.contextmanager
def postgres_cluster(prefix: str) -> Iterator[Postgres]:
    """Run a PostgreSQL cluster of its own in a temp dir until the block ends."""
    bindir = postgres_bindir()
    if bindir is None:
        missing("PostgreSQL (initdb, postgres)")
        raise AssertionError("unreachable")
    workdir = _workdir(prefix)
    cluster = Postgres(bindir, workdir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def redis() -> Iterator[Redis]:
    """A Redis server of the test's own, so a test may kill and restart it."""
    binary = _find("redis-server")
    if binary is None:
        missing("redis-server")
        raise AssertionError("unreachable")
    workdir = _workdir("chatserver-redis-")
    server = Redis(binary, workdir)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
