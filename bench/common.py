"""What every part of the bench shares: result rows, servers in child processes, /proc readings."""

from __future__ import annotations

import asyncio
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `python bench/x.py` as well as `python -m bench`

from chatserver import agents, auth, bootstrap, customers, sites  # noqa: E402
from chatserver.limits import rules  # noqa: E402
from chatserver.store import Store  # noqa: E402
from chatserver.store.schema import sites as sites_table  # noqa: E402


def lifted_limits(scopes: tuple[rules.Scope, ...] = rules.SCOPES) -> dict[str, dict[str, list[int]]]:
    """A site's limits with the budgets of scopes lifted: the limiters run (and cost what
    they cost) but refuse nothing there."""
    return {door: {scope: [rules.MAX_COUNT, 1] for scope in scopes
                   if scope != "recipient" or door == "mail"} for door in rules.DOORS}


async def set_limits(store: Store, site_id: str, limits: dict[str, dict[str, list[int]]]) -> None:
    async with store.write() as conn:
        row = (await conn.execute(sites_table.select().where(sites_table.c.id == site_id))).one()
        await conn.execute(sites_table.update().where(sites_table.c.id == site_id)
                           .values(settings={**row.settings, "limits": limits}))


# A benchmark's clients are no persons: its sites allow them everything.
BENCH_LIMITS = lifted_limits()

PASSWORD = "bench-password-123"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Row:
    """One figure of the table: ours beside its baseline, and the budget it must hold."""

    part: str
    figure: str
    ours: float | None
    baseline: float | None = None
    unit: str = ""
    # "ratio<=1.6" (ours/baseline), "ours<=5" (absolute), ">=" for a floor, or "" (reported only)
    budget: str = ""
    note: str = ""
    ratio: float | None = field(init=False, default=None)
    ok: bool | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.ours is not None and self.baseline:
            self.ratio = self.ours / self.baseline
        if self.budget and self.ours is not None:
            what, at_least, limit = self._budget()
            value = self.ratio if what == "ratio" else self.ours
            self.ok = None if value is None else (value >= limit if at_least else value <= limit)

    def _budget(self) -> tuple[str, bool, float]:
        at_least = ">=" in self.budget
        what, limit = self.budget.split(">=" if at_least else "<=")
        return what, at_least, float(limit)

    def budget_text(self) -> str:
        if not self.budget:
            return ""
        what, at_least, limit = self._budget()
        sign = ">=" if at_least else "<="
        return f"{sign} {limit:g}x" if what == "ratio" else f"{sign} {limit:g} {self.unit}".rstrip()


@dataclass(frozen=True)
class Mode:
    """How big each part runs: the full bench, or the CI smoke (seconds, figures meaningless)."""

    smoke: bool = False

    def pick(self, full: Any, smoke: Any) -> Any:
        return smoke if self.smoke else full


def raise_fd_limit() -> int:
    """Lift the soft limit on open files to the hard one (children inherit it); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def cpu_seconds(pid: int) -> float:
    """Return the user + system CPU time the process has used (all its threads, live or not)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, utime 14 and stime 15 (1-based, man 5 proc).
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    """Return the resident memory of the process."""
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_BYTES


def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 120.0) -> float:
    """Poll url until it answers; return the seconds waited. Raise if the process exits."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering {url}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return time.perf_counter() - start
        except httpx.TransportError:
            pass
        time.sleep(0.01)
    raise RuntimeError(f"no answer from {url} in {timeout:.0f} s")


def wait_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on port {port}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@dataclass
class Prepared:
    """A data dir made ready before the server starts: sites, agents and visitor tokens."""

    data_dir: Path
    site_keys: list[str] = field(default_factory=list)
    agent_emails: list[str] = field(default_factory=list)  # one per site, serving only it
    tokens: list[list[str]] = field(default_factory=list)  # visitor tokens, per site


def prepare(
    data_dir: Path, site_count: int, visitors_per_site: int, origins: Sequence[str] = ()
) -> Prepared:
    """Set up the store directly (faster than the CLI or HTTP for thousands of visitors)."""
    return asyncio.run(_prepare(data_dir, site_count, visitors_per_site, list(origins)))


async def _prepare(
    data_dir: Path, site_count: int, visitors_per_site: int, origins: list[str]
) -> Prepared:
    data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(f"sqlite+aiosqlite:///{data_dir.resolve() / 'chatserver.db'}")
    try:
        await bootstrap.prepare(store)
        signer = auth.Signer(await auth.instance_secret(store))
        made = Prepared(data_dir)
        for n in range(site_count):
            site = await sites.create(store, f"Bench {n}", origins)
            await set_limits(store, site.id, BENCH_LIMITS)
            email = f"bench{n}@example.com"
            await agents.create(store, email, f"Agent {n}", PASSWORD, role="agent",
                                max_chats=50, site_ids=[site.id])
            made.site_keys.append(site.public_key)
            made.agent_emails.append(email)
            made.tokens.append([
                signer.visitor_token(auth.VisitorIdentity(site.id, await customers.create(store, site.id)))
                for _ in range(visitors_per_site)
            ])
        return made
    finally:
        await store.close()


# Every bench server gets this environment, and the one place to add to it. The bench's
# thousands of clients all come from 127.0.0.1, so limits per sending address must be off or
# far above a crowd's: here the inbound mail listener's, and any later per-address limit.
SERVER_ENV = {
    "CHATSERVER_LOG_LEVEL": "warning",
    "CHATSERVER_MAIL_CONNECTIONS_PER_IP": "10000",
    "CHATSERVER_MAIL_MESSAGES_PER_IP_MINUTE": "100000",
    "CHATSERVER_SOCKETS_PER_NETWORK": "100000",
    # Only the parts that ask for help articles load the sentence model (peak turns it on).
    "CHATSERVER_SEARCH_MEANING": "off",
}


def start_chatserver(
    data_dir: Path, port: int | None = None, env: dict[str, str] | None = None,
    args: Sequence[str] = (),
) -> tuple[subprocess.Popen[bytes], str]:
    """Run `chatserver serve` on a loopback port (a free one unless given), with SERVER_ENV and
    env on top of this environment and more `serve` flags; return the process and its base URL."""
    port = port or free_port()
    environ = {**os.environ, **SERVER_ENV, "PYTHONPATH": str(ROOT), **(env or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "chatserver", "serve", "--port", str(port), "--data-dir",
         str(data_dir), *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environ,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/healthz", process)
    except BaseException:
        stop(process)
        raise
    return process, base


def start_bare_relay(script: str = "bare_relay.py") -> tuple[subprocess.Popen[bytes], str]:
    """Run a relay script of bench/ (the bare `websockets` one); return it and its ws:// URL."""
    port = free_port()
    process = subprocess.Popen([sys.executable, str(ROOT / "bench" / script), str(port)],
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        wait_port(port, process)
    except BaseException:
        stop(process)
        raise
    return process, f"ws://127.0.0.1:{port}"


def run_async(main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run a coroutine on uvloop when it is installed (the server uses it too)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main())
    return uvloop.run(main())


async def gather_limited(coroutines: Sequence[Coroutine[Any, Any, Any]], limit: int) -> list[Any]:
    """Run coroutines at most limit at a time; return their results in order."""
    gate = asyncio.Semaphore(limit)

    async def one(coroutine: Coroutine[Any, Any, Any]) -> Any:
        async with gate:
            return await coroutine

    return await asyncio.gather(*(one(c) for c in coroutines))
