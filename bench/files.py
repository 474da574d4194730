"""Files: a 5 MB upload and download through chatserver beside a bare Starlette app.

Ours goes the whole way: the visitor's token, the conversation check, counting, hashing and
sniffing while spooling to disk, the storage (the data dir), the row, the message through
the append path; the download checks the token and streams from the storage. The baseline
(bench/bare_files.py) only streams the body to a file and back. Memory is the server's peak
RSS during the transfer above its RSS just before (sampled every 2 ms from /proc): a server
that held the file whole would show 5 MB or more.

    python -m bench files [--smoke]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bench.common import (
    Mode,
    Row,
    free_port,
    prepare,
    rss_bytes,
    start_chatserver,
    stop,
    wait_port,
)
from chatserver import auth
from chatserver.chat import conversations
from chatserver.store import Store

SIZE = 5 * 1024 * 1024
MB = 1024 * 1024


class Peak:
    """The highest RSS of a process while a block runs, sampled in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.before = rss_bytes(pid)
        self.peak = self.before
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, rss_bytes(self.pid))
            time.sleep(0.002)

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    @property
    def added_mb(self) -> float:
        return (self.peak - self.before) / MB


def _timed(rounds: int, pid: int, call: Callable[[], None]) -> tuple[float, float]:
    """Return the median MB/s and the largest memory added over the rounds."""
    speeds, added = [], []
    for _ in range(rounds):
        with Peak(pid) as peak:
            started = time.perf_counter()
            call()
            speeds.append(SIZE / MB / (time.perf_counter() - started))
        added.append(peak.added_mb)
    return statistics.median(speeds), max(added)


async def _conversation(data_dir: Path, token: str) -> str:
    store = Store(f"sqlite+aiosqlite:///{data_dir.resolve() / 'chatserver.db'}")
    try:
        identity = auth.Signer(await auth.instance_secret(store)).visitor(token)
        assert identity is not None
        made, _ = await conversations.open(store, identity.site_id, identity.contact_id, "bench", "chat")
        return made.id
    finally:
        await store.close()


def run(mode: Mode) -> list[Row]:
    rounds = mode.pick(9, 1)
    data = os.urandom(SIZE)
    with tempfile.TemporaryDirectory() as tmp:
        ready = prepare(Path(tmp), 1, 1)
        token, key = ready.tokens[0][0], ready.site_keys[0]
        conversation = asyncio.run(_conversation(Path(tmp), token))
        os.environ["CHATSERVER_CONVERSATION_FILES_MAX_BYTES"] = str((rounds + 1) * SIZE)
        process, base = start_chatserver(Path(tmp))
        print(f"files: {rounds} rounds of a 5 MB upload and download, ours and bare", flush=True)
        try:
            headers = {"Authorization": f"Bearer {token}", "Origin": base}
            with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
                sent: list[str] = []

                def upload() -> None:
                    answer = http.post(f"/api/v1/sites/{key}/conversations/{conversation}/files",
                                       params={"name": "five.bin"}, content=data)
                    answer.raise_for_status()
                    sent.append(answer.json()["file"]["id"])

                def download() -> None:
                    with http.stream("GET", f"/api/v1/sites/{key}/files/{sent[-1]}") as answer:
                        got = sum(len(chunk) for chunk in answer.iter_bytes())
                    assert answer.status_code == 200 and got == SIZE

                ours_up = _timed(rounds, process.pid, upload)
                ours_down = _timed(rounds, process.pid, download)
        finally:
            stop(process)
            os.environ.pop("CHATSERVER_CONVERSATION_FILES_MAX_BYTES", None)
    bare_up, bare_down = _bare(rounds, data)
    return [
        Row("files", "upload 5 MB (visitor, data dir)", ours_up[0], bare_up[0], "MB/s", "ratio>=0.3",
            note="baseline: bare Starlette streaming to a file"),
        Row("files", "download 5 MB (visitor)", ours_down[0], bare_down[0], "MB/s", "ratio>=0.3"),
        Row("files", "server memory added during a 5 MB upload", ours_up[1], bare_up[1], "MB",
            "ours<=4", note="streamed: a server holding the file whole adds 5 MB or more"),
        Row("files", "server memory added during a 5 MB download", ours_down[1], bare_down[1], "MB",
            "ours<=4"),
    ]


def _bare(rounds: int, data: bytes) -> tuple[tuple[float, float], tuple[float, float]]:
    import subprocess
    import sys

    from bench.common import ROOT

    port = free_port()
    process = subprocess.Popen([sys.executable, str(ROOT / "bench" / "bare_files.py"), str(port)])
    try:
        wait_port(port, process)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            def upload() -> None:
                http.post("/up", content=data).raise_for_status()

            def download() -> None:
                with http.stream("GET", "/down") as answer:
                    assert sum(len(chunk) for chunk in answer.iter_bytes()) == SIZE

            return _timed(rounds, process.pid, upload), _timed(rounds, process.pid, download)
    finally:
        stop(process)
